'use strict';
// The storage benchmarks' data set, deterministic from a seed: SERIES series (cpu, host=host_N,
// region one of 8) × POINTS points at 10 s intervals from 1_700_000_000_000_000 µs; values a random
// walk in [0, 100] with 2 decimals, each step uniform in ±0.50 (integer cents in [-50, 50]),
// reflected at the bounds.
//   const { generateSeries, SERIES, POINTS } = require('./dataset.js');
//   const { name, tags, timestamps, values } = generateSeries(7, { points: POINTS, seed: 1 });

const SERIES = 1000;
const POINTS = 10_000;
const START_MICROS = 1_700_000_000_000_000n;
const INTERVAL_MICROS = 10_000_000n;
const REGIONS = ['us-east', 'us-west', 'eu-west', 'eu-central', 'ap-south', 'ap-northeast', 'sa-east', 'af-south'];
const MAX_CENTS = 10_000;
const MAX_STEP_CENTS = 50;

// mulberry32: a small, fast 32-bit PRNG; enough for benchmark data, not for anything secret.
function mulberry32(seed) {
  let state = seed >>> 0;
  return function next() {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Mixes the data set's seed and the series index into one PRNG seed (murmur3's finaliser), so
// series are independent of each other and of the order they are generated in.
function seriesSeed(seed, seriesIndex) {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ (seriesIndex >>> 0)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Series `seriesIndex` of the data set in chunks of `chunk` points:
 * yields { timestamps: BigInt64Array, values: Float64Array } (so 1 B points need not fit in memory);
 * with `into: { timestamps, values }` (arrays of at least `chunk` elements) every chunk is written there.
 */
function* seriesChunks(seriesIndex, { points = POINTS, seed = 1, chunk = points, into } = {}) {
  const random = mulberry32(seriesSeed(seed, seriesIndex));
  let cents = Math.floor(random() * (MAX_CENTS + 1));
  let time = START_MICROS;
  for (let done = 0; done < points; done += chunk) {
    const size = Math.min(chunk, points - done);
    // into: chunks are written into these arrays (valid until the next chunk, shareable by every
    // series), so a benchmark measures the engine's memory, not the generator's.
    const timestamps = into ? into.timestamps.subarray(0, size) : new BigInt64Array(size);
    const values = into ? into.values.subarray(0, size) : new Float64Array(size);
    for (let i = 0; i < size; i++) {
      timestamps[i] = time;
      values[i] = cents / 100;
      time += INTERVAL_MICROS;
      cents += Math.floor(random() * (2 * MAX_STEP_CENTS + 1)) - MAX_STEP_CENTS;
      if (cents < 0) cents = -cents;
      if (cents > MAX_CENTS) cents = 2 * MAX_CENTS - cents;
    }
    yield { timestamps, values };
  }
}

/** The name and tags of series `seriesIndex`. */
function seriesIdentity(seriesIndex) {
  return { name: 'cpu', tags: { host: `host_${seriesIndex}`, region: REGIONS[seriesIndex % REGIONS.length] } };
}

/** Series `seriesIndex` of the data set: { name, tags, timestamps: BigInt64Array, values: Float64Array }. */
function generateSeries(seriesIndex, { points = POINTS, seed = 1 } = {}) {
  const { value } = seriesChunks(seriesIndex, { points, seed }).next();
  return { ...seriesIdentity(seriesIndex), ...value };
}

module.exports = { generateSeries, seriesChunks, seriesIdentity, SERIES, POINTS, START_MICROS, INTERVAL_MICROS, REGIONS };
