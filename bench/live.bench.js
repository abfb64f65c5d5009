'use strict';
// Live queries (docs/query.md#live-queries): what they cost the write path, and how long a point
// takes from write() to the onEvent callback at 100 k points/s.
//   node bench/live.bench.js
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { open } = require('../dist/lib/index.js');
const { printHeader } = require('./machine.js');
const { printRows, run } = require('./util.js');
const { execFileSync } = require('node:child_process');

const RATE = 100_000; // points per second
const SECONDS = 3;
const TICK_MS = 1;

function percentile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function writeCost(dir, liveCount) {
  const db = await open({ dir, durability: 'none' });
  const handles = [];
  for (let i = 0; i < liveCount; i++) handles.push(db.live(`AVG:temp:[sensor=${i % 4} OR zone=z${i}]:[1m]`, () => {}));
  const n = 200_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) db.write('temp', { sensor: String(i & 3), zone: 'z1' }, 1_700_000_000_000_000 + i * 1000, i & 255);
  const perWrite = Number(process.hrtime.bigint() - t0) / n;
  await new Promise((resolve) => setTimeout(resolve, 50));
  for (const handle of handles) handle.close();
  await db.close();
  return perWrite;
}

async function latency(dir) {
  const db = await open({ dir, durability: 'batch' });
  const sentAt = new Map();
  const latencies = [];
  const handle = db.live('AVG:ticks:[symbol=ACME]:[10s]', (event) => {
    const started = sentAt.get(event.timestamp);
    if (started !== undefined) latencies.push(Number(process.hrtime.bigint() - started) / 1e3);
  });
  const perTick = (RATE * TICK_MS) / 1000;
  let t = 1_700_000_000_000_000;
  const ticks = (SECONDS * 1000) / TICK_MS;
  const wallStart = process.hrtime.bigint();
  for (let tick = 0; tick < ticks; tick++) {
    for (let i = 0; i < perTick; i++) {
      t += 10;
      sentAt.set(t, process.hrtime.bigint());
      db.write('ticks', { symbol: 'ACME' }, t, 100 + (i % 7));
    }
    // Pace to the target rate, yielding at least once per tick as a server between network reads would.
    const due = wallStart + BigInt((tick + 1) * TICK_MS * 1e6);
    do await new Promise((resolve) => setImmediate(resolve));
    while (process.hrtime.bigint() < due);
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  const { dropped } = handle.stats();
  await db.close();
  return { latencies: latencies.sort((a, b) => a - b), dropped, sent: ticks * perTick };
}

async function main() {
  printHeader('live queries');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-live-'));
  try {
    const base = await writeCost(path.join(root, 'w0'), 0);
    const rows = [];
    for (const count of [0, 1, 10, 100]) {
      const perWrite = count === 0 ? base : await writeCost(path.join(root, `w${count}`), count);
      rows.push([`db.write() with ${count} live queries on the series`, `${(perWrite / 1000).toFixed(2)} µs`, `${(perWrite / base).toFixed(2)}× no live query; 200,000 single-point writes`]);
    }
    for (const mode of ['none', 'live', 'workflow']) {
      const flags = ['--min-semi-space-size=256', '--max-semi-space-size=256'];
      const out = execFileSync(process.execPath, [...flags, path.join(__dirname, 'write-allocation.js'), mode], { encoding: 'utf8' });
      const { bytesPerWrite } = JSON.parse(out.trim().split('\n').pop());
      const what = { none: 'no live query', live: 'one db.live() query', workflow: "one workflow's live handle" }[mode];
      rows.push([`JS heap allocated per one-point db.write(), ${what} on the series`, `${bytesPerWrite.toFixed(0)} bytes`, '20,000 writes with no collection in between (bench/write-allocation.js, new space 256 MiB)']);
    }
    const { latencies, dropped, sent } = await latency(path.join(root, 'lat'));
    rows.push([
      `write() → onEvent latency at ${RATE.toLocaleString('en')} points/s (AVG over a sliding 10 s, durability batch)`,
      `p50 ${percentile(latencies, 0.5).toFixed(0)} µs, p99 ${percentile(latencies, 0.99).toFixed(0)} µs`,
      `max ${latencies[latencies.length - 1].toFixed(0)} µs; ${latencies.length.toLocaleString('en')} events of ${sent.toLocaleString('en')} writes over ${SECONDS} s (${dropped} dropped), writes paced per ${TICK_MS} ms tick; target p99 ≤ 1 ms`,
    ]);
    printRows(rows);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

run(main);
