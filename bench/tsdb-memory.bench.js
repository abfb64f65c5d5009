'use strict';
// Peak memory while ingesting a large data set that never sits in memory whole: 1,000 series of
// the data set (bench/dataset.js) written round by round, 10,000 points per series per call, all
// generated into one reused pair of arrays.
//   node bench/tsdb-memory.bench.js [--points 100000000] [--series 1000] [--durability batch]
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { open } = require('../dist/lib/index.js');
const { seriesChunks, seriesIdentity } = require('./dataset.js');
const { printHeader } = require('./machine.js');

function argument(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
}

const totalPoints = Number(argument('points', 100_000_000));
const seriesCount = Number(argument('series', 1000));
const durability = argument('durability', 'batch');
const CHUNK = 10_000;

async function main() {
  printHeader(`storage engine: peak memory over ${totalPoints.toLocaleString('en')} points`);
  const dir = fs.mkdtempSync(path.join(argument('dir', os.tmpdir()), 'sluice-memory-'));
  let peakSampled = 0;
  const sampler = setInterval(() => (peakSampled = Math.max(peakSampled, process.memoryUsage().rss)), 100);
  try {
    const db = await open({ dir, durability });
    const perSeries = Math.ceil(totalPoints / seriesCount);
    // One pair of arrays shared by every series' generator: the engine copies each call's points.
    const into = { timestamps: new BigInt64Array(CHUNK), values: new Float64Array(CHUNK) };
    const generators = Array.from({ length: seriesCount }, (_, i) => seriesChunks(i, { points: perSeries, chunk: CHUNK, into }));
    const identities = Array.from({ length: seriesCount }, (_, i) => seriesIdentity(i));
    const started = process.hrtime.bigint();
    let written = 0;
    let generating = 0n;
    for (let round = 0; written < totalPoints; round++) {
      for (let s = 0; s < seriesCount && written < totalPoints; s++) {
        const g0 = process.hrtime.bigint();
        const { value, done } = generators[s].next();
        generating += process.hrtime.bigint() - g0;
        if (done) continue;
        db.writeBatch(identities[s].name, identities[s].tags, value.timestamps, value.values);
        written += value.values.length;
      }
      if (round % 10 === 0) await new Promise((resolve) => setImmediate(resolve)); // let the sampler run
    }
    const ingestSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const writeSeconds = ingestSeconds - Number(generating) / 1e9;
    await db.flush();
    const flushedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const stats = db.stats();
    await db.close();
    const maxRss = process.resourceUsage().maxRSS * 1024;
    console.log('| what | figure |');
    console.log('| --- | ---: |');
    console.log(`| points written (${seriesCount} series, durability ${durability}) | ${written.toLocaleString('en')} |`);
    console.log(`| ingest rate, writeBatch calls only (generator time excluded) | ${(written / writeSeconds / 1e6).toFixed(2)} M points/s |`);
    console.log(`| until everything is in segments (generator included) | ${flushedSeconds.toFixed(1)} s |`);
    console.log(`| peak RSS (getrusage maxrss) | ${(maxRss / 2 ** 20).toFixed(0)} MiB |`);
    console.log(`| peak RSS sampled every 100 ms | ${(peakSampled / 2 ** 20).toFixed(0)} MiB |`);
    console.log(`| on disk | ${(stats.segmentBytes / 2 ** 20).toFixed(1)} MiB in ${stats.segments} segments, ${(stats.segmentBytes / stats.segmentPoints).toFixed(3)} B/pt, ${stats.compactions} background merges |`);
  } finally {
    clearInterval(sampler);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
