#!/usr/bin/env node
'use strict';
// Checks that prebuilds/ holds a linux-x64 and a linux-arm64 binary built from the current native
// sources (each carries the marker "sluice-native-source:<hash>", readable without loading it).
// `npm pack` runs this, so a tarball never ships a missing or stale prebuild.
const fs = require('node:fs');
const path = require('node:path');
const { nativeSourceHash } = require('./native-source-hash.js');

const root = path.join(__dirname, '..');
const ARCHES = ['x64', 'arm64'];
const MARKER = 'sluice-native-source:';

function prebuildFile(arch) {
  const dir = path.join(root, 'prebuilds', `linux-${arch}`);
  if (!fs.existsSync(dir)) return undefined;
  const name = fs.readdirSync(dir).find((file) => file.endsWith('.node'));
  return name && path.join(dir, name);
}

/** The source hash a binary was built from, read from its marker, or undefined. */
function builtSourceHash(file) {
  const bytes = fs.readFileSync(file);
  const at = bytes.indexOf(MARKER);
  if (at < 0) return undefined;
  return bytes.subarray(at + MARKER.length, at + MARKER.length + 16).toString('latin1');
}

/** For each architecture: the prebuild's path (or undefined) and whether it matches the sources. */
function prebuildStatus() {
  const expected = nativeSourceHash();
  return ARCHES.map((arch) => {
    const file = prebuildFile(arch);
    const hash = file && builtSourceHash(file);
    return { arch, file, hash, fresh: hash === expected };
  });
}

module.exports = { prebuildStatus, builtSourceHash, prebuildFile };

if (require.main === module) {
  const problems = prebuildStatus()
    .filter((status) => !status.fresh)
    .map((status) =>
      status.file ? `${status.file} was built from other sources (${status.hash})` : `no prebuild for linux-${status.arch}`,
    );
  if (problems.length) {
    console.error(`check-prebuilds: ${problems.join('; ')}. Run \`npm run prebuilds\` first.`);
    process.exit(1);
  }
  console.error('check-prebuilds: linux-x64 and linux-arm64 prebuilds match the native sources');
}
