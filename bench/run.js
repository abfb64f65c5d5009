'use strict';
// Runs every bench/*.bench.js in its own process, one after another (npm run bench).
// Pass names to run a subset: npm run bench -- boundary
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const wanted = process.argv.slice(2);
const suites = fs
  .readdirSync(__dirname)
  .filter((file) => file.endsWith('.bench.js'))
  .filter((file) => wanted.length === 0 || wanted.some((name) => file.startsWith(name)))
  .sort();
if (suites.length === 0) {
  console.error(`bench: no suite matches ${wanted.join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const suite of suites) {
  const result = spawnSync(process.execPath, [path.join('bench', suite)], { stdio: 'inherit', cwd: path.join(__dirname, '..') });
  if (result.status !== 0) failed++;
  console.log('');
}
process.exit(failed ? 1 : 0);
