#!/usr/bin/env node
'use strict';
// Prints a short hash of everything that decides what the addon does (native/ and binding.gyp).
// It is compiled into the addon, so a build or prebuild made from older sources can be detected.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');

function nativeSourceHash() {
  const hash = crypto.createHash('sha256');
  const files = fs
    .readdirSync(path.join(root, 'native'))
    .filter((name) => /\.(cc|h)$/.test(name))
    .sort()
    .map((name) => path.join('native', name));
  files.push('binding.gyp');
  for (const file of files) {
    hash.update(file);
    hash.update('\0');
    // Normalise line endings so a checkout on another OS gives the same hash.
    hash.update(fs.readFileSync(path.join(root, file), 'utf8').replace(/\r\n/g, '\n'));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

module.exports = { nativeSourceHash };

if (require.main === module) process.stdout.write(nativeSourceHash());
