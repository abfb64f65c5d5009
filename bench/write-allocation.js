'use strict';
// JS heap allocated per one-point db.write(), with no live query, one db.live() query, or one
// workflow's live handle on the series. Run by bench/live.bench.js in a child process whose new
// space is large enough that no collection runs while it counts (the heap's growth is then what
// the writes allocated):
//   node --min-semi-space-size=256 --max-semi-space-size=256 bench/write-allocation.js none|live|workflow
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const v8 = require('node:v8');
const { open, startWorkflows } = require('../dist/lib/index.js');
const { echoGuest } = require('../scripts/wat-guest.js');

const WRITES = 20_000;

async function main() {
  const mode = process.argv[2];
  if (!['none', 'live', 'workflow'].includes(mode)) throw new Error('usage: write-allocation.js none|live|workflow');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-alloc-'));
  const db = await open({ dir, durability: 'none' });
  let runtime;
  try {
    if (mode === 'live') db.live('LAST:temp:[]', () => {});
    if (mode === 'workflow') {
      runtime = await startWorkflows(db);
      await runtime.deploy({ name: 'echo', module: await echoGuest('LAST:temp:[]') });
      while (!runtime.status('echo').handles[0]?.handle) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const tags = { sensor: '1' };
    const t0 = 1_700_000_000_000_000;
    // Warm: the code optimised, the worker caught up.
    for (let i = 0; i < WRITES; i++) db.write('temp', tags, t0 + i, i);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = v8.getHeapStatistics().used_heap_size;
    for (let i = 0; i < WRITES; i++) db.write('temp', tags, t0 + WRITES + i, i);
    const after = v8.getHeapStatistics().used_heap_size;
    console.log(JSON.stringify({ mode, bytesPerWrite: (after - before) / WRITES }));
  } finally {
    await runtime?.close();
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
