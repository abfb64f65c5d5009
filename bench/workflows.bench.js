'use strict';
// Wasm workflows (docs/workflows.md): instance start, deploy to first instruction, host-call
// overhead, write → workflow latency at 100 k points/s, and what 100 idle workflows cost.
//   node bench/workflows.bench.js
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { open, startWorkflows } = require('../dist/lib/index.js');
const { Guest } = require('../dist/lib/wasm/guest.js');
const { prepareModule } = require('../dist/lib/wasm/prepare.js');
const { readModuleInfo } = require('../dist/lib/wasm/module-info.js');
const { echoGuest, guest } = require('../scripts/wat-guest.js');
const { printHeader } = require('./machine.js');
const { argument, printRows, run } = require('./util.js');

const RATE = argument('rate', 100_000);
// Untimed collections between batches of instances: each instance reserves its memory's address
// space, and V8 collects when too much is reserved; that is not the start of one instance.
require('node:v8').setFlagsFromString('--expose-gc');
const collect = require('node:vm').runInNewContext('gc');
const SECONDS = 3;
const TICK_MS = 1;

function percentile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const quiet = {
  queryLive: () => 1,
  queryHistory: () => 0,
  takeEvent: () => null,
  freeHandle: () => true,
  writeEvent: () => null,
  writebackWs: () => null,
  http: () => Promise.reject(new Error('no')),
  stateGet: () => null,
  stateSet: () => null,
  stateDelete: () => null,
  log: () => {},
};

const echo = () => echoGuest('LAST:ticks:[]');

async function instanceStart(rows) {
  const prepared = await prepareModule(await echo(), { memoryPages: 1024 });
  const module = new WebAssembly.Module(prepared.bytes);
  const info = readModuleInfo(prepared.bytes);
  const runs = 5000;
  const raw = [];
  const ours = [];
  const imports = { env: {}, wasi_snapshot_preview1: {} };
  for (const entry of info.imports) if (entry.kind === 'function') imports[entry.module][entry.name] = () => 0;
  const batch = 50;
  for (let i = 0; i < runs; i += batch) {
    const alive = [];
    for (let j = 0; j < batch; j++) {
      let t = process.hrtime.bigint();
      alive.push(new WebAssembly.Instance(module, imports));
      raw.push(Number(process.hrtime.bigint() - t) / 1e3);
      t = process.hrtime.bigint();
      alive.push(new Guest(module, info, prepared.report, quiet, { env: [], maxRegionBytes: 1 << 24 }, 1024));
      ours.push(Number(process.hrtime.bigint() - t) / 1e3);
    }
    alive.length = 0;
    collect();
  }
  raw.sort((a, b) => a - b);
  ours.sort((a, b) => a - b);
  rows.push([
    'instance start from a compiled module (sluice Guest: imports shaped to the module + instantiate)',
    `p50 ${percentile(ours, 0.5).toFixed(1)} µs, p99 ${percentile(ours, 0.99).toFixed(1)} µs`,
    `bare V8 new WebAssembly.Instance of the same module: p50 ${percentile(raw, 0.5).toFixed(1)} µs, p99 ${percentile(raw, 0.99).toFixed(1)} µs; ${runs} runs in batches of ${batch}, collected (untimed) between batches; target p50 ≤ 50 µs, p99 ≤ 100 µs`,
  ]);
}

async function hostCall(rows) {
  const calls = 2_000_000;
  const loop = (withCall) =>
    guest({
      strings: ['key'],
      locals: '(local $i i32) (local $k i32)',
      body: `
        (local.set $k (call $str (i32.const 1)))
        (loop $again
          ${withCall ? '(drop (call $state_get (local.get $k)))' : '(drop (i32.load (local.get $k)))'}
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $again (i32.lt_u (local.get $i) (i32.const ${calls}))))`,
      without: ['u_poll_handle', 'u_writeback_http'],
    });
  const timeOf = async (withCall) => {
    const prepared = await prepareModule(await loop(withCall), { memoryPages: 1024 });
    const module = new WebAssembly.Module(prepared.bytes);
    const make = () => new Guest(module, readModuleInfo(prepared.bytes), prepared.report, quiet, { env: [], maxRegionBytes: 1 << 24 }, 1024);
    make().start(); // warm up
    const times = [];
    for (let r = 0; r < 5; r++) {
      const g = make();
      const t = process.hrtime.bigint();
      g.start();
      times.push(Number(process.hrtime.bigint() - t));
    }
    return Math.min(...times);
  };
  const withCall = await timeOf(true);
  const without = await timeOf(false);
  rows.push([
    'host-call overhead (u_state_get of an absent key: Region read, UTF-8 decode, lookup)',
    `${((withCall - without) / calls).toFixed(0)} ns per call`,
    `${calls.toLocaleString('en')} calls in a guest loop, minus the same loop without the call; best of 5`,
  ]);
}

async function deployAndLatency(root, rows) {
  const db = await open({ dir: path.join(root, 'deploy'), durability: 'batch' });
  let firstWriteback;
  const received = [];
  const runtime = await startWorkflows(db, {
    writeback: (producer, data) => {
      received.push(data);
      firstWriteback?.();
      return true;
    },
  });
  const module = await echo();
  // Cold: the first deploy of a module runs binaryen (asyncify) in a worker; warm: cached.
  for (const [label, name] of [
    ['cold (asyncify at deploy, new worker)', 'first'],
    ['warm (prepared module cached)', 'second'],
  ]) {
    const t = process.hrtime.bigint();
    await runtime.deploy({ name, module });
    for (;;) {
      const status = runtime.status(name);
      if (status.handles[0]?.handle) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    rows.push([`deploy → first host call (u_query_live), ${label}`, `${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(1)} ms`, 'runtime.deploy() until the guest registered its live query']);
  }
  await runtime.remove('second');

  received.length = 0;
  const sentAt = new Map();
  const perTick = (RATE * TICK_MS) / 1000;
  let t = 1_700_000_000_000_000;
  const ticks = (SECONDS * 1000) / TICK_MS;
  const latencies = [];
  const decoder = new TextDecoder();
  let drained = 0;
  const drain = () => {
    for (; drained < received.length; drained++) {
      const timestamp = JSON.parse(decoder.decode(received[drained])).timestamp;
      const started = sentAt.get(timestamp);
      if (started !== undefined) latencies.push(Number(process.hrtime.bigint() - started) / 1e3);
    }
  };
  firstWriteback = drain;
  const wallStart = process.hrtime.bigint();
  for (let tick = 0; tick < ticks; tick++) {
    for (let i = 0; i < perTick; i++) {
      t += 10;
      sentAt.set(t, process.hrtime.bigint());
      db.write('ticks', { symbol: 'ACME' }, t, 100 + (i % 7), { producer: 7 });
    }
    const due = wallStart + BigInt((tick + 1) * TICK_MS * 1e6);
    do await new Promise((resolve) => setImmediate(resolve));
    while (process.hrtime.bigint() < due);
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  firstWriteback = undefined;
  drain();
  latencies.sort((a, b) => a - b);
  const status = runtime.status('first');
  rows.push([
    `write() → workflow → u_writeback_ws at ${RATE.toLocaleString('en')} points/s`,
    `p50 ${percentile(latencies, 0.5).toFixed(0)} µs, p99 ${percentile(latencies, 0.99).toFixed(0)} µs`,
    `max ${latencies[latencies.length - 1].toFixed(0)} µs; ${latencies.length.toLocaleString('en')} round trips of ${(ticks * perTick).toLocaleString('en')} writes (${status.handles[0].dropped} dropped); main thread → ring → guest in a worker → writeback message → main thread; target p99 ≤ 1 ms`,
  ]);
  await runtime.close();
  await db.close();
}

async function idle(root, rows) {
  const db = await open({ dir: path.join(root, 'idle') });
  const runtime = await startWorkflows(db);
  const module = await echo();
  await runtime.deploy({ name: 'warmup', module });
  await new Promise((resolve) => setTimeout(resolve, 500));
  collect();
  const rssBefore = process.memoryUsage().rss;
  for (let i = 0; i < 100; i++) await runtime.deploy({ name: `idle${i}`, module });
  while (!runtime.list().every((w) => w.handles[0]?.handle)) await new Promise((resolve) => setTimeout(resolve, 20));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  collect();
  const rssAfter = process.memoryUsage().rss;
  const cpu0 = process.cpuUsage();
  const wall = 5000;
  await new Promise((resolve) => setTimeout(resolve, wall));
  const cpu = process.cpuUsage(cpu0);
  rows.push([
    '100 idle workflows (each waiting in u_poll_handle), one worker',
    `${(((cpu.user + cpu.system) / 1000 / wall) * 100).toFixed(2)} % of a core, +${((rssAfter - rssBefore) / 2 ** 20).toFixed(1)} MiB RSS`,
    `CPU of the whole process over ${wall / 1000} s idle (guests wake every 1 s poll wait); RSS growth for 100 more deployed workflows; target CPU ≈ 0, ≤ 100 MiB`,
  ]);
  await runtime.close();
  await db.close();
}

async function main() {
  printHeader('Wasm workflows');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-workflows-'));
  const rows = [];
  try {
    const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
    if (!only || only === 'idle') await idle(root, rows);
    if (!only || only === 'start') await instanceStart(rows);
    if (!only || only === 'call') await hostCall(rows);
    if (!only || only === 'latency') await deployAndLatency(root, rows);
    printRows(rows);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

run(main);
