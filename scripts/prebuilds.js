#!/usr/bin/env node
'use strict';
// Builds the prebuilds shipped in the npm package: prebuilds/linux-x64 and prebuilds/linux-arm64
// (cross-compiled with Debian's g++-aarch64-linux-gnu), with prebuildify --napi --strip.
//
// Each build runs in a scratch copy of the native sources, so the developer's build/Release (the
// host build node-gyp-build loads first) is never replaced by a foreign-architecture binary.
//
//   node scripts/prebuilds.js            both architectures
//   node scripts/prebuilds.js x64|arm64  one of them
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');

const targets = {
  x64: { env: {} },
  arm64: {
    env: {
      CC: 'aarch64-linux-gnu-gcc',
      CXX: 'aarch64-linux-gnu-g++',
      LINK: 'aarch64-linux-gnu-g++',
      // --strip would otherwise run the host's strip, which cannot read an aarch64 binary.
      PREBUILD_STRIP_BIN: 'aarch64-linux-gnu-strip',
    },
    requires: 'aarch64-linux-gnu-g++',
    install: 'apt-get install -y g++-aarch64-linux-gnu',
  },
};

function commandExists(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function stageSources() {
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-prebuild-'));
  for (const entry of ['binding.gyp', 'package.json', 'native', 'scripts/native-source-hash.js']) {
    fs.cpSync(path.join(root, entry), path.join(stage, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(stage, 'node_modules'), 'dir');
  return stage;
}

function buildPrebuild(arch) {
  const target = targets[arch];
  if (!target) throw new Error(`unknown architecture "${arch}"; accepted: ${Object.keys(targets).join(', ')}`);
  if (target.requires && !commandExists(target.requires)) {
    throw new Error(`the ${arch} prebuild needs ${target.requires}; install it with: ${target.install}`);
  }
  const stage = stageSources();
  try {
    const prebuildify = path.join(root, 'node_modules', 'prebuildify', 'bin.js');
    execFileSync(
      process.execPath,
      [prebuildify, '--napi', '--strip', '--tag-libc', '--arch', arch, '--cwd', stage, '--out', root],
      { stdio: 'inherit', env: { ...process.env, ...target.env } },
    );
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

const requested = process.argv.slice(2);
for (const arch of requested.length ? requested : Object.keys(targets)) {
  try {
    buildPrebuild(arch);
  } catch (error) {
    console.error(`prebuilds: ${error.message}`);
    process.exit(1);
  }
}
