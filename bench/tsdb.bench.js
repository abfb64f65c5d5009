'use strict';
// The storage engine on the data set (bench/dataset.js): in-process ingest with writeBatch,
// single-point db.write per durability mode, bytes per point on disk, AVG over 1 M points of one series (warm and in a fresh process), and
// a scan that decodes every block of that series.
//   node bench/tsdb.bench.js [--series 1000] [--points 10000]
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { open } = require('../dist/lib/index.js');
const { generateSeries, SERIES, POINTS } = require('./dataset.js');
const { printHeader } = require('./machine.js');

function argument(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

const seriesCount = argument('series', SERIES);
const pointsPerSeries = argument('points', POINTS);
const BIG_POINTS = 1_000_000;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function ingest(dir, durability, data) {
  const db = await open({ dir, durability });
  const started = process.hrtime.bigint();
  for (const { name, tags, timestamps, values } of data) db.writeBatch(name, tags, timestamps, values);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { db, seconds };
}

async function main() {
  printHeader('storage engine');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-'));
  const rows = [];
  try {
    const data = Array.from({ length: seriesCount }, (_, i) => generateSeries(i, { points: pointsPerSeries }));
    const total = seriesCount * pointsPerSeries;

    for (const durability of ['none', 'batch']) {
      const { db, seconds } = await ingest(path.join(root, durability), durability, data);
      rows.push([`ingest, writeBatch, durability ${durability}`, `${(total / seconds / 1e6).toFixed(2)} M points/s`, `${total.toLocaleString('en')} points in ${seconds.toFixed(2)} s`]);
      if (durability === 'batch') {
        await db.flush();
        await db.compact();
        const stats = db.stats();
        rows.push(['bytes per point on disk (segments, after flush + compact)', (stats.segmentBytes / stats.segmentPoints).toFixed(3), `${stats.segments} segment, ${(stats.segmentBytes / 2 ** 20).toFixed(2)} MiB, whole files (index, bloom) included`]);
      }
      await db.close();
    }
    // One point per call, as a producer feeding live events writes: the log record per call is
    // the cost that differs between modes. Modes alternate in rounds so a noisy phase hits both.
    {
      const modes = ['none', 'batch', 'sync'];
      const dbs = {};
      for (const durability of modes) dbs[durability] = await open({ dir: path.join(root, `single-${durability}`), durability });
      const perWrite = { none: [], batch: [], sync: [] };
      // `sync` fsyncs every call: fewer of them.
      const countOf = (durability) => (durability === 'sync' ? 2_000 : 100_000);
      for (let round = 0; round < 6; round++) {
        for (const durability of modes) {
          const target = dbs[durability];
          const n = countOf(durability);
          const base = 1_700_000_000_000_000 + round * n;
          const started = process.hrtime.bigint();
          for (let i = 0; i < n; i++) target.write('single', { sensor: '1' }, base + i, i & 255);
          perWrite[durability].push(Number(process.hrtime.bigint() - started) / n / 1000);
        }
      }
      for (const durability of modes) await dbs[durability].close();
      const none = median(perWrite.none);
      for (const durability of modes) {
        const value = median(perWrite[durability]);
        rows.push([`db.write(), one point per call, durability ${durability}`, `${value.toFixed(2)} µs`, `median of 6 rounds of ${countOf(durability).toLocaleString('en')}, modes alternating; ${(value / none).toFixed(2)}× durability none`]);
      }
    }
    rows.push(['peak RSS of this process so far', `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`, 'data set held in memory by the generator too']);

    // One series of 1 M points; a range that cuts a block at both ends.
    const bigDir = path.join(root, 'big');
    const big = generateSeries(0, { points: BIG_POINTS });
    const db = await open({ dir: bigDir, durability: 'none' });
    db.writeBatch('big', { host: 'one' }, big.timestamps, big.values);
    await db.flush();
    const start = big.timestamps[1000] + 5n;
    const end = big.timestamps[BIG_POINTS - 1000] - 5n;
    const query = { series: 'big', tags: { host: 'one' }, start, end, op: 'avg' };
    for (let i = 0; i < 50; i++) db.aggregate(query); // warm up
    const times = [];
    for (let i = 0; i < 500; i++) {
      const t0 = process.hrtime.bigint();
      db.aggregate(query);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    rows.push(['AVG over ~1 M points, range cuts blocks at both ends, warm', `${median(times).toFixed(4)} ms`, `median of 500; min ${Math.min(...times).toFixed(4)} ms`]);

    // The same points in a second directory whose engine reads on the calling thread only
    // (queryThreads: 1), called alternately with the default one: the ratio is what cutting a read
    // into time ranges side by side gives on this machine (docs/storage.md).
    const aloneDir = path.join(root, 'big-one-thread');
    const alone = await open({ dir: aloneDir, durability: 'none', queryThreads: 1 });
    alone.writeBatch('big', { host: 'one' }, big.timestamps, big.values);
    await alone.flush();
    // `into`: the caller's arrays, reused from call to call (no fresh memory to allocate and fault in).
    const into = { starts: new BigInt64Array(BIG_POINTS), values: new Float64Array(BIG_POINTS) };
    for (const every of ['1h', '1m', '1s']) {
      const windowQuery = { series: 'big', tags: { host: 'one' }, start, end, op: 'avg', every };
      const windowTimes = [];
      const aloneTimes = [];
      const intoTimes = [];
      let windows = 0;
      for (let i = 0; i < 20; i++) {
        let t0 = process.hrtime.bigint();
        windows = db.aggregateWindows(windowQuery).starts.length;
        windowTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
        t0 = process.hrtime.bigint();
        alone.aggregateWindows(windowQuery);
        aloneTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
        t0 = process.hrtime.bigint();
        const reused = db.aggregateWindows(windowQuery, into);
        intoTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (reused.values.buffer !== into.values.buffer) throw new Error('aggregateWindows did not write into the given arrays');
      }
      rows.push([
        `AVG per ${every} window over the same ~1 M points (decodes every block)`,
        `${median(windowTimes).toFixed(2)} ms`,
        `${windows.toLocaleString('en')} windows returned; median of 20, min ${Math.min(...windowTimes).toFixed(2)} ms; ` +
          `with queryThreads: 1, alternated: median ${median(aloneTimes).toFixed(2)} ms (${(median(aloneTimes) / median(windowTimes)).toFixed(2)}×)`,
      ]);
      rows.push([
        `AVG per ${every} window, into the caller's arrays (aggregateWindows(query, into))`,
        `${median(intoTimes).toFixed(2)} ms`,
        `alternated with the row above; min ${Math.min(...intoTimes).toFixed(2)} ms`,
      ]);
    }
    await alone.close();

    const scanTimes = [];
    for (let i = 0; i < 10; i++) {
      const t0 = process.hrtime.bigint();
      let n = 0;
      for (const batch of db.scanBatches({ series: 'big', tags: { host: 'one' }, batchSize: 1 << 20 })) n += batch.values.length;
      scanTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (n !== BIG_POINTS) throw new Error(`scan returned ${n} points`);
    }
    rows.push(['scan of 1 M points (decodes every block, copies to JS)', `${median(scanTimes).toFixed(2)} ms`, 'median of 10']);
    await db.close();

    // A fresh process: open the directory, run the same AVG once.
    const cold = execFileSync(process.execPath, ['-e', `
      const t0 = process.hrtime.bigint();
      const { open } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'lib', 'index.js'))});
      (async () => {
        const db = await open({ dir: ${JSON.stringify(bigDir)} });
        const t1 = process.hrtime.bigint();
        db.aggregate({ series: 'big', tags: { host: 'one' }, start: ${start}n, end: ${end}n, op: 'avg' });
        const t2 = process.hrtime.bigint();
        console.log(JSON.stringify({ open: Number(t1 - t0) / 1e6, query: Number(t2 - t1) / 1e6 }));
        await db.close();
      })();`], { encoding: 'utf8' });
    const { open: openMs, query: queryMs } = JSON.parse(cold);
    rows.push(['AVG over ~1 M points in a fresh process (first query)', `${queryMs.toFixed(3)} ms`, `after load + open ${openMs.toFixed(1)} ms`]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  console.log(`data set: ${seriesCount} series × ${pointsPerSeries} points (bench/dataset.js)\n`);
  console.log('| what | figure | detail |');
  console.log('| --- | ---: | --- |');
  for (const [what, figure, detail] of rows) console.log(`| ${what} | ${figure} | ${detail} |`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
