'use strict';
// The segment block codecs on the storage data set (bench/dataset.js): bytes per point and
// encode/decode ns per point for each value codec, plus the timestamps, beside random doubles.
// Run: node bench/codecs.bench.js [--series N] [--block POINTS]   (defaults: 100 series, 4096 points)
const { native } = require('../dist/bindings/index.js');
const { printHeader } = require('./machine.js');
const { generateSeries, POINTS } = require('./dataset.js');

const { addon, file } = native();

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}
const SERIES = option('series', 100);
const BLOCK = option('block', 4096);
const CODECS = ['auto', 'gorilla', 'decimal', 'decimal-entropy', 'raw'];

/** Cuts every series into blocks of BLOCK points (the last block of a series may be shorter). */
function blocksOf(seriesList) {
  const blocks = [];
  for (const { timestamps, values } of seriesList) {
    for (let start = 0; start < values.length; start += BLOCK) {
      blocks.push({ timestamps: timestamps.subarray(start, start + BLOCK), values: values.subarray(start, start + BLOCK) });
    }
  }
  return blocks;
}

/** Random 64-bit patterns (any double, NaNs included): nothing for a codec to exploit. */
function randomDoubleSeries(count, points) {
  let state = 0x2545f491;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  return Array.from({ length: count }, (_, s) => {
    const words = new Uint32Array(points * 2).map(next);
    return { timestamps: generateSeries(s, { points }).timestamps, values: new Float64Array(words.buffer) };
  });
}

/**
 * Ns per point of `run` (which processes `points` points): the fastest of the rounds that fill
 * ~1 s. The fastest, not the median, because these machines are shared: other processes only
 * ever add time.
 */
function nsPerPoint(points, run) {
  let fastest = Infinity;
  let rounds = 0;
  const deadline = process.hrtime.bigint() + 1_000_000_000n;
  while (rounds < 5 || (process.hrtime.bigint() < deadline && rounds < 2000)) {
    const start = process.hrtime.bigint();
    run();
    fastest = Math.min(fastest, Number(process.hrtime.bigint() - start) / points);
    rounds++;
  }
  return fastest;
}

function measure(label, seriesList) {
  const blocks = blocksOf(seriesList);
  const points = blocks.reduce((sum, block) => sum + block.values.length, 0);
  const reusedTimestamps = new BigInt64Array(BLOCK);
  const reusedValues = new Float64Array(BLOCK);
  let sink = 0;
  // Decoding is timed into one reused output array (what a query loop does) and into a new array per block.
  const timestampBytes = blocks.map((block) => addon.codecEncodeTimestamps(block.timestamps));
  const rows = [
    {
      what: 'timestamps',
      bytes: timestampBytes.reduce((sum, bytes) => sum + bytes.length, 0),
      decode: nsPerPoint(points, () => {
        blocks.forEach((block, i) => (sink += Number(addon.codecDecodeTimestamps(timestampBytes[i], block.values.length, reusedTimestamps)[0] & 1n)));
      }),
      decodeNew: nsPerPoint(points, () => {
        blocks.forEach((block, i) => (sink += Number(addon.codecDecodeTimestamps(timestampBytes[i], block.values.length)[0] & 1n)));
      }),
      encode: nsPerPoint(points, () => {
        for (const block of blocks) sink += addon.codecEncodeTimestamps(block.timestamps).length;
      }),
      chosen: '',
    },
  ];
  for (const codec of CODECS) {
    let encoded;
    try {
      encoded = blocks.map((block) => addon.codecEncodeValues(block.values, codec));
    } catch (error) {
      if (error.code !== 'SLUICE_INVALID_ARGUMENT') throw error;
      rows.push({ what: `values: ${codec}`, bytes: undefined });
      continue;
    }
    const chosen = {};
    for (const { codec: name } of encoded) chosen[name] = (chosen[name] ?? 0) + 1;
    rows.push({
      what: `values: ${codec}`,
      bytes: encoded.reduce((sum, result) => sum + result.bytes.length, 0),
      decode: nsPerPoint(points, () => {
        blocks.forEach((block, i) => (sink += addon.codecDecodeValues(encoded[i].bytes, block.values.length, reusedValues)[0]));
      }),
      decodeNew: nsPerPoint(points, () => {
        blocks.forEach((block, i) => (sink += addon.codecDecodeValues(encoded[i].bytes, block.values.length)[0]));
      }),
      encode: nsPerPoint(points, () => {
        for (const block of blocks) sink += addon.codecEncodeValues(block.values, codec).bytes.length;
      }),
      chosen: Object.entries(chosen).map(([name, count]) => `${name} ×${count}`).join(', '),
    });
  }
  console.log(`## ${label}: ${seriesList.length} series × ${seriesList[0].values.length} points, blocks of ${BLOCK} (${blocks.length} blocks)\n`);
  console.log(
    '| column / codec | B/pt column | B/pt ts + values | decode ns/pt, reused array | decode ns/pt, new array | ' +
      '1 M points ts + values decode, reused | encode ns/pt | blocks chose |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  const [ts] = rows;
  for (const row of rows) {
    if (row.bytes === undefined) {
      console.log(`| ${row.what} | refused (not exact) | | | | | | |`);
      continue;
    }
    const isValues = row !== ts;
    // ns per point × 1 M points = µs; / 1000 = ms.
    const million = isValues ? `${((row.decode + ts.decode) * 1e6 / 1e6).toFixed(2)} ms` : '';
    console.log(
      `| ${row.what} | ${(row.bytes / points).toFixed(4)} | ${isValues ? ((row.bytes + ts.bytes) / points).toFixed(4) : ''} | ` +
        `${row.decode.toFixed(2)} | ${row.decodeNew.toFixed(2)} | ${million} | ${row.encode.toFixed(1)} | ${row.chosen} |`,
    );
  }
  console.log('');
  return sink;
}

printHeader('Segment block codecs');
console.log(`addon: ${file}\n`);
const dataset = Array.from({ length: SERIES }, (_, s) => generateSeries(s, { points: POINTS, seed: 1 }));
let sink = measure('data set (bench/dataset.js, 2-decimal walk, 10 s interval)', dataset);
sink += measure('random doubles (any 64-bit pattern), same timestamps', randomDoubleSeries(Math.max(1, SERIES / 10), POINTS));
console.log(`(checksum ${Number.isNaN(sink) || sink !== 0 ? 'ok' : sink})`);
