'use strict';
// The query DSL (docs/query.md) on the storage data set (bench/dataset.js): AVG over ~1 M points
// through db.query beside the low-level db.aggregate in the same run (target: within 10%), parse
// time per query, the ops that read every point, and group-by over 1,000 series × 10,000 points.
//   node bench/query.bench.js [--series 1000] [--points 10000]
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Benchmark = require('benchmark');
const { open, parseQuery } = require('../dist/lib/index.js');
const { generateSeries, SERIES, POINTS } = require('./dataset.js');
const { printHeader } = require('./machine.js');
const { argument, median, printRows, run } = require('./util.js');

const seriesCount = argument('series', SERIES);
const pointsPerSeries = argument('points', POINTS);
const BIG_POINTS = 1_000_000;

function timeMs(fn, runs) {
  fn(); // warm
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { median: median(times), min: Math.min(...times) };
}

function runSuite(cases) {
  return new Promise((resolve) => {
    const suite = new Benchmark.Suite();
    for (const [name, fn] of cases) suite.add(name, fn, { minSamples: 40 });
    suite.on('complete', function () {
      resolve(this.map((bench) => ({ name: bench.name, mean: bench.stats.mean, rme: bench.stats.rme })));
    });
    suite.run();
  });
}

const fmt = (seconds) => (seconds < 1e-3 ? `${(seconds * 1e6).toFixed(2)} µs` : `${(seconds * 1e3).toFixed(3)} ms`);

async function main() {
  printHeader('query DSL');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-query-'));
  try {
    // One series of 1 M points, flushed: the range cuts a block at both ends.
    const db = await open({ dir: path.join(root, 'big'), durability: 'none' });
    const big = generateSeries(0, { points: BIG_POINTS });
    db.writeBatch('big', { host: 'one' }, big.timestamps, big.values);
    await db.flush();
    const start = big.timestamps[1000] + 5n;
    const end = big.timestamps[BIG_POINTS - 1000] - 5n;
    const low = { series: 'big', tags: { host: 'one' }, start, end, op: 'avg' };
    const dsl = `AVG:big:[host=one]:[${start},${end}]`;
    if (db.query(dsl) !== db.aggregate(low)) throw new Error('db.query and db.aggregate disagree');

    // The two are timed in alternating rounds, so the shared machine's drift hits both alike.
    const rounds = { aggregate: [], query: [] };
    for (let round = 0; round < 40; round++) {
      for (const [name, fn] of [['aggregate', () => db.aggregate(low)], ['query', () => db.query(dsl)]]) {
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < 500; i++) fn();
        rounds[name].push(Number(process.hrtime.bigint() - t0) / 500 / 1e9);
      }
    }
    const aggregateTime = median(rounds.aggregate.slice(5));
    const queryTime = median(rounds.query.slice(5));
    const parses = await runSuite([
      ['parseQuery, that query alone', () => parseQuery(dsl)],
      ['parseQuery, filter with NOT/AND/OR, window, BY', () => parseQuery('P99:cpu.usage,mem:[(region=eu-west OR region="us east") AND NOT host=host_7, rack!=r1]:[1h,now]:[1m] BY host, region')],
    ]);
    console.log('| what | time per call | ± | vs db.aggregate |');
    console.log('| --- | ---: | ---: | ---: |');
    console.log(`| db.aggregate (low level) | ${fmt(aggregateTime)} | median of 35 rounds of 500 | 1.000× |`);
    console.log(`| db.query, the same AVG through the DSL | ${fmt(queryTime)} | median of 35 rounds of 500 | ${(queryTime / aggregateTime).toFixed(3)}× |`);
    for (const r of parses) console.log(`| ${r.name} (benchmark.js, no cache) | ${fmt(r.mean)} | ${r.rme.toFixed(1)}% | ${(r.mean / aggregateTime).toFixed(3)}× |`);
    console.log('');

    const rows = [];
    for (const q of ['STDDEV', 'P99', 'DELTA', 'RATE']) {
      const text = `${q}:big:[host=one]:[${start},${end}]`;
      const t = timeMs(() => db.query(text), 10);
      rows.push([`${q} over the same ~1 M points`, `${t.median.toFixed(2)} ms`, `median of 10, min ${t.min.toFixed(2)} ms`]);
    }
    for (const q of ['AVG', 'STDDEV', 'P99', 'DELTA']) {
      const text = `${q}:big:[host=one]:[${start},${end}]:[1h]`;
      const t = timeMs(() => db.query(text), 10);
      rows.push([`${q} per 1 h window over the same ~1 M points`, `${t.median.toFixed(2)} ms`, `median of 10, min ${t.min.toFixed(2)} ms`]);
    }
    await db.close();

    // 1,000 series × 10,000 points, flushed and compacted.
    const wide = await open({ dir: path.join(root, 'wide'), durability: 'none' });
    for (let i = 0; i < seriesCount; i++) {
      const { name, tags, timestamps, values } = generateSeries(i, { points: pointsPerSeries });
      wide.writeBatch(name, tags, timestamps, values);
    }
    await wide.flush();
    await wide.compact();
    const total = (seriesCount * pointsPerSeries).toLocaleString('en');
    for (const [text, what] of [
      ['AVG:cpu:[] BY host', `${seriesCount} groups, one per series, from block summaries`],
      ['AVG:cpu:[] BY region', '8 groups'],
      ['MAX:cpu:[region=eu-west]', 'the inverted index picks 1/8 of the series'],
      ['AVG:cpu:[]:[]:[1h] BY region', '8 groups × hourly windows (decodes blocks cut by windows)'],
      ['P99:cpu:[] BY region', '8 groups, exact: reads every point'],
    ]) {
      const result = wide.query(text, { now: 1_800_000_000_000_000n });
      const t = timeMs(() => wide.query(text, { now: 1_800_000_000_000_000n }), 5);
      rows.push([`\`${text}\` over ${total} points`, `${t.median.toFixed(1)} ms`, `${what}; ${Array.isArray(result) ? result.length : 1} rows; median of 5`]);
    }
    await wide.close();
    printRows(rows);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

run(main);
