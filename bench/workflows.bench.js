'use strict';
// Wasm workflows (docs/workflows.md): instance start, deploy to first instruction, host-call
// overhead, write → workflow latency at 100 k points/s, and what 100 idle workflows cost.
//   node bench/workflows.bench.js [--only idle|start|call|latency|hop] [--rate 100000] [--warmup 1000] [--modes 0/0,0/50,2000/50]
//   (--modes: the latency runs' worker settings, each spinUs/napUs)
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { open, startWorkflows } = require('../dist/lib/index.js');
const { Guest } = require('../dist/lib/wasm/guest.js');
const { prepareModule } = require('../dist/lib/wasm/prepare.js');
const { readModuleInfo } = require('../dist/lib/wasm/module-info.js');
const { MemoryPool } = require('../dist/lib/wasm/memory-pool.js');
const { GuestPool } = require('../dist/lib/wasm/guest-pool.js');
const { eachEvent, echoGuest, guest, EVENT_TIMESTAMP, EVENT_VALUE, FREE_ALL } = require('../scripts/wat-guest.js');
const { printHeader } = require('./machine.js');
const { argument, printRows, run } = require('./util.js');

const RATE = argument('rate', 100_000);
// The latency run first loads the workflow at its rate, unmeasured, for this long: what follows is
// the steady state, after V8 has compiled the hot code (the guest's and sluice's) and finished the
// background compilation the deploys left behind. --warmup 0 measures from the first point.
const WARMUP_MS = argument('warmup', 1000);
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
  const limits = info.imports.find((i) => i.kind === 'memory').memory;
  const runs = 5000;
  const raw = [];
  const pooled = [];
  const unpooled = [];
  const ahead = [];
  const refills = [];
  const guestRefills = [];
  const imports = { env: {}, wasi_snapshot_preview1: {} };
  for (const entry of info.imports) if (entry.kind === 'function') imports[entry.module][entry.name] = () => 0;
  const memories = new MemoryPool();
  const guests = new GuestPool(new MemoryPool());
  const recipe = { module, info, report: prepared.report, memoryPages: 1024 };
  const options = { env: [], maxRegionBytes: 1 << 24 };
  const batch = 50;
  // Each kind in batches of its own, so that one kind's page faults do not land in another's times.
  const timed = (into, make, between) => {
    for (let i = 0; i < runs; i += batch) {
      const alive = [];
      for (let j = 0; j < batch; j++) {
        between?.();
        const t = process.hrtime.bigint();
        alive.push(make());
        into.push(Number(process.hrtime.bigint() - t) / 1e3);
      }
      alive.length = 0;
      collect();
    }
  };
  // The worker's idle work before the next start, timed apart.
  const idle = (into, refill) => () => {
    const t = process.hrtime.bigint();
    while (refill());
    into.push(Number(process.hrtime.bigint() - t) / 1e3);
  };
  // What V8 does for a module that defines its memory: make it, then instantiate.
  timed(raw, () => {
    imports.env.memory = new WebAssembly.Memory({ initial: limits.min, maximum: limits.max });
    return new WebAssembly.Instance(module, imports);
  });
  timed(unpooled, () => new Guest(module, info, prepared.report, quiet, options, 1024));
  const pooledOptions = { ...options, memories };
  timed(pooled, () => new Guest(module, info, prepared.report, quiet, pooledOptions, 1024), idle(refills, () => memories.refill()));
  // What a worker does (lib/workflows/worker.ts): the guest made ahead, bound to its workflow.
  timed(ahead, () => guests.take('echo', recipe)?.bind(quiet, options) ?? new Guest(module, info, prepared.report, quiet, options, 1024), idle(guestRefills, () => guests.refill()));
  // The first of each had nothing to do: nothing was taken yet.
  refills.shift();
  guestRefills.shift();
  for (const list of [raw, pooled, unpooled, ahead, refills, guestRefills]) list.sort((a, b) => a - b);
  const p = (list) => `p50 ${percentile(list, 0.5).toFixed(1)} µs, p99 ${percentile(list, 0.99).toFixed(1)} µs`;
  const counts = `${runs} runs in batches of ${batch}, collected (untimed) between batches`;
  rows.push([
    'instance start from a compiled module (sluice worker: the guest instantiated ahead while idle, bound at start)',
    p(ahead),
    `target p50 ≤ 50 µs, p99 ≤ 100 µs; ${counts}. Idle work per instance (memory made, data pages written, instantiated): ${p(guestRefills)}; ${guests.stats.taken} of ${guests.stats.taken + guests.stats.made} took a guest made ahead`,
  ]);
  rows.push([
    'instance start, memory made ahead (imports shaped to the module + instantiate)',
    p(pooled),
    `${counts}. Idle work per instance (memory made, data pages written): ${p(refills)}; ${memories.stats.taken} of ${memories.stats.taken + memories.stats.made} took a spare`,
  ]);
  rows.push([
    'instance start, nothing made ahead',
    p(unpooled),
    `bare V8, memory made then new WebAssembly.Instance: ${p(raw)}`,
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

async function deployAndLatency(root, rows, spinUs, napUs, first) {
  const mode = `spinUs ${spinUs}, napUs ${napUs}`;
  const db = await open({ dir: path.join(root, `deploy-${spinUs}-${napUs}`), durability: 'batch' });
  const runtime = await startWorkflows(db, { spinUs, napUs });
  const module = await echo();
  // Cold: the first deploy of a module runs binaryen (asyncify) in a worker; warm: cached. (Rows
  // from the first of the latency runs only.)
  const deployRows = first ? rows : [];
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
    deployRows.push([`deploy → first host call (u_query_live), ${label}`, `${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(1)} ms`, 'runtime.deploy() until the guest registered its live query']);
  }
  await runtime.remove('second');

  await runtime.remove('first');

  // The guest measures: on each event, its clock minus the point's timestamp (the writer's clock
  // at write()), counted in 10 µs buckets in its memory; a point of value 999998 (the end of the
  // warm-up) empties the histogram, and a last point of value 999999 makes it write the histogram
  // out as lat{} points (time = bucket, value = count).
  const BUCKETS = 5000;
  const histogram = await guest(
    eachEvent({
      query: 'LAST:ticks:[]',
      strings: ['series=lat'],
      locals: '(local $lat i64) (local $b i32)',
      onEvent: `
        (if (i64.eq ${EVENT_VALUE} (i64.const 999999))
          (then
            (local.set $b (i32.const 0))
            (loop $dump
              (if (i32.load (i32.add (i32.const 8192) (i32.shl (local.get $b) (i32.const 2))))
                (then (drop (call $write (call $itoa (i64.extend_i32_u (local.get $b)))
                  (call $itoa (i64.extend_i32_u (i32.load (i32.add (i32.const 8192) (i32.shl (local.get $b) (i32.const 2))))))
                  (call $str (i32.const 2))))))
              (local.set $b (i32.add (local.get $b) (i32.const 1)))
              (br_if $dump (i32.lt_u (local.get $b) (i32.const ${BUCKETS})))))
          (else (if (i64.eq ${EVENT_VALUE} (i64.const 999998))
          (then
            (local.set $b (i32.const 0))
            (loop $clear
              (i32.store (i32.add (i32.const 8192) (i32.shl (local.get $b) (i32.const 2))) (i32.const 0))
              (local.set $b (i32.add (local.get $b) (i32.const 1)))
              (br_if $clear (i32.lt_u (local.get $b) (i32.const ${BUCKETS})))))
          (else
            (local.set $lat (i64.sub (call $now_us) ${EVENT_TIMESTAMP}))
            (local.set $b (i32.wrap_i64 (i64.div_s (local.get $lat) (i64.const 10))))
            (if (i32.lt_s (local.get $b) (i32.const 0)) (then (local.set $b (i32.const 0))))
            (if (i32.ge_s (local.get $b) (i32.const ${BUCKETS})) (then (local.set $b (i32.const ${BUCKETS - 1}))))
            (i32.store (i32.add (i32.const 8192) (i32.shl (local.get $b) (i32.const 2)))
              (i32.add (i32.load (i32.add (i32.const 8192) (i32.shl (local.get $b) (i32.const 2)))) (i32.const 1)))))))
        ${FREE_ALL}`,
    }),
  );
  await runtime.deploy({ name: 'latency', module: histogram });
  while (!runtime.status('latency').handles[0]?.handle) await new Promise((resolve) => setImmediate(resolve));
  // Timestamps on the wall clock as the guest's WASI clock reads it, unique per point.
  const clockUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
  // The same query on the main thread, for the part of the latency before the hop to the worker.
  const perTick = (RATE * TICK_MS) / 1000;
  const ticks = (SECONDS * 1000) / TICK_MS;
  // Samples in typed arrays allocated up front: growing JS arrays of numbers would be the load
  // generator's own garbage, surviving scavenges on the thread being measured.
  const onMain = new Float64Array(ticks * perTick);
  let onMainCount = 0;
  let measuring = false;
  const mainLive = db.live('LAST:ticks:[]', (event) => {
    if (measuring && event.value !== 999999 && onMainCount < onMain.length) onMain[onMainCount++] = clockUs() - event.timestamp;
  });
  const burstUs = new Float64Array(ticks);
  let last = 0;
  // Paced bursts of one db.write per point; burst times are kept when `into` is given.
  const load = async (tickCount, into) => {
    const wallStart = process.hrtime.bigint();
    for (let tick = 0; tick < tickCount; tick++) {
      const burstStart = performance.now();
      for (let i = 0; i < perTick; i++) {
        last = Math.max(last + 1, clockUs());
        db.write('ticks', { symbol: 'ACME' }, last, 100 + (i % 7));
      }
      if (into) into[tick] = (performance.now() - burstStart) * 1000;
      // Pace to the rate: yield at least once per tick, sleep (not spin) when ahead, so the
      // worker's core is not taken by the load generator.
      const due = wallStart + BigInt((tick + 1) * TICK_MS * 1e6);
      await new Promise((resolve) => setImmediate(resolve));
      const ahead = Number(due - process.hrtime.bigint()) / 1e6;
      if (ahead > 0.5) await new Promise((resolve) => setTimeout(resolve, ahead));
    }
  };
  if (WARMUP_MS > 0) {
    await load(Math.round(WARMUP_MS / TICK_MS), undefined);
    db.write('ticks', { symbol: 'ACME' }, ++last, 999998);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  measuring = true;
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  await load(ticks, burstUs);
  const cpu = process.cpuUsage(cpuBefore);
  const cpuShare = (cpu.user + cpu.system) / 1000 / (performance.now() - wallBefore);
  await new Promise((resolve) => setTimeout(resolve, 200));
  db.write('ticks', { symbol: 'ACME' }, last + 1, 999999);
  let counts = [];
  for (let waited = 0; waited < 10_000; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    counts = [...db.scan({ series: 'lat', tags: {}, start: 0n, end: BigInt(BUCKETS) })];
    if (counts.reduce((n, [, c]) => n + c, 0) >= ticks * perTick) break;
  }
  const total = counts.reduce((n, [, c]) => n + c, 0);
  const at = (q) => {
    let seen = 0;
    for (const [bucket, count] of counts) if ((seen += count) >= q * total) return (Number(bucket) + 1) * 10;
    return NaN;
  };
  const status = runtime.status('latency');
  burstUs.sort();
  rows.push([
    `write() → the workflow's guest has the event, at ${RATE.toLocaleString('en')} points/s${WARMUP_MS > 0 ? ', steady state' : ', from the first point'}, ${mode}`,
    `p50 ≤ ${at(0.5)} µs, p99 ≤ ${at(0.99)} µs`,
    `max ≤ ${at(1)} µs; ${total.toLocaleString('en')} events of ${(ticks * perTick).toLocaleString('en')} writes over ${SECONDS} s after ${WARMUP_MS} ms of the same load unmeasured (${status.handles[0].dropped} dropped), measured in the guest (WASI clock − point time, 10 µs buckets); ` +
      `one db.write per point, in bursts of ${perTick} per ${TICK_MS} ms tick on the main thread (a burst takes p50 ${percentile(burstUs, 0.5).toFixed(0)} µs, p99 ${percentile(burstUs, 0.99).toFixed(0)} µs); ` +
      `the live query runs on the main thread and hands each event to the worker's ring inside the write; the whole process used ${(cpuShare * 100).toFixed(0)} % of a core during the measured load; target p99 ≤ 1 ms`,
  ]);
  mainLive.close();
  const mainSamples = onMain.subarray(0, onMainCount).sort();
  rows.push([
    `  of which: write() → the same live query's callback on the main thread (${mode} run)`,
    `p50 ${percentile(mainSamples, 0.5)} µs, p99 ${percentile(mainSamples, 0.99)} µs`,
    `max ${mainSamples[mainSamples.length - 1]} µs; the same points, in the same run`,
  ]);
  await runtime.close();
  await db.close();
}

/** A bare EventRing hop: main thread → a worker sleeping in Atomics.waitAsync, 1 record per ms. */
async function ringHop(rows) {
  const { Worker } = require('node:worker_threads');
  const { EventRing } = require('../dist/lib/workflows/event-ring.js');
  const ring = new EventRing(1 << 20);
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const { EventRing } = require(workerData.ringModule);
     const ring = new EventRing(workerData.buffer);
     const now = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
     const seen = [];
     parentPort.on('message', () => parentPort.postMessage(seen));
     (async () => {
       for (;;) {
         const signal = ring.signalValue;
         ring.drain((instance, handle, sequence, bytes, start) => seen.push(now() - new DataView(bytes.buffer, bytes.byteOffset + start).getFloat64(0, true)));
         await ring.waitForSignal(signal, 60000);
       }
     })();`,
    { eval: true, workerData: { buffer: ring.buffer, ringModule: require.resolve('../dist/lib/workflows/event-ring.js') } },
  );
  await new Promise((resolve) => setTimeout(resolve, 200));
  const payload = new Uint8Array(8);
  const runs = 3000;
  for (let i = 0; i < runs; i++) {
    new DataView(payload.buffer).setFloat64(0, Math.round((performance.timeOrigin + performance.now()) * 1000), true);
    ring.push(1, 1, i, payload);
    ring.signal();
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  const hops = await new Promise((resolve) => {
    worker.once('message', resolve);
    worker.postMessage('done');
  });
  await worker.terminate();
  hops.sort((a, b) => a - b);
  rows.push([
    'bare ring hop: main thread → a worker asleep in Atomics.waitAsync',
    `p50 ${percentile(hops, 0.5)} µs, p99 ${percentile(hops, 0.99)} µs`,
    `max ${hops[hops.length - 1]} µs; ${hops.length} records, one per ms; no guest, no live query`,
  ]);
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
    // By default: a worker that sleeps as soon as it runs out of events (0/0, the default before
    // naps), the default (0/50: naps for 5 ms after events), and a spin of 2000 µs, longer than the
    // gap between this load's bursts, so that the worker stays awake through the run.
    const modes = (process.argv.includes('--modes') ? process.argv[process.argv.indexOf('--modes') + 1] : '0/0,0/50,2000/50').split(',').map((m) => m.split('/').map(Number));
    if (!only || only === 'latency') for (const [i, [spinUs, napUs]] of modes.entries()) await deployAndLatency(root, rows, spinUs, napUs, i === 0);
    if (!only || only === 'hop') await ringHop(rows);
    printRows(rows);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

run(main);
