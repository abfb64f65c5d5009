// The segment block codecs (native/block_codec.h) through their probes: lossless round trips,
// the choice of the smallest codec, refusals, and corrupt input that must throw or decode, never crash.
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bindings } from './helpers/sluice.js';

type ValueCodecName = import('../dist/bindings/index.js').ValueCodecName;

const { addon } = bindings.native();
const { generateSeries } = createRequire(import.meta.url)('../bench/dataset.js') as {
  generateSeries(index: number, options: { points: number; seed: number }): { timestamps: BigInt64Array; values: Float64Array };
};

const FORCED: ValueCodecName[] = ['gorilla', 'decimal', 'decimal-entropy', 'raw'];
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The bit patterns of doubles: NaN payloads and -0 compare exactly, unlike ===. */
function bitsOf(values: Float64Array): BigUint64Array {
  return new BigUint64Array(values.buffer, values.byteOffset, values.length);
}
function doublesFromBits(bits: bigint[]): Float64Array {
  return new Float64Array(BigUint64Array.from(bits).buffer);
}

function expectValuesRoundTrip(values: Float64Array): void {
  const auto = addon.codecEncodeValues(values);
  expect(bitsOf(addon.codecDecodeValues(auto.bytes, values.length))).toEqual(bitsOf(values));
  for (const codec of FORCED) {
    let encoded: { codec: string; bytes: Uint8Array };
    try {
      encoded = addon.codecEncodeValues(values, codec);
    } catch (error) {
      expect((error as { code?: string }).code).toBe('SLUICE_INVALID_ARGUMENT');
      expect(codec).not.toBe('gorilla'); // Gorilla and raw take any bits
      expect(codec).not.toBe('raw');
      continue;
    }
    expect(encoded.codec).toBe(codec);
    expect(bitsOf(addon.codecDecodeValues(encoded.bytes, values.length))).toEqual(bitsOf(values));
    expect(auto.bytes.length).toBeLessThanOrEqual(encoded.bytes.length);
  }
}

function expectTimestampsRoundTrip(timestamps: BigInt64Array): void {
  const bytes = addon.codecEncodeTimestamps(timestamps);
  expect(addon.codecDecodeTimestamps(bytes, timestamps.length)).toEqual(timestamps);
}

/** Decoding must either return or throw SLUICE_CORRUPT; anything else (or a crash) fails. */
function expectDecodesOrCorrupt(decode: () => unknown): void {
  try {
    decode();
  } catch (error) {
    expect((error as { code?: string }).code).toBe('SLUICE_CORRUPT');
  }
}

const int64 = fc.bigInt({ min: INT64_MIN, max: INT64_MAX });
const anyDoubleBits = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const specialDoubleBits = fc.constantFrom(
  0x7ff8000000000000n, // quiet NaN
  0x7ff0000000000001n, // signalling NaN, payload 1
  0xfff8dead0000beefn, // negative NaN with a payload
  0x7ff0000000000000n, // +Inf
  0xfff0000000000000n, // -Inf
  0x8000000000000000n, // -0
  0x0000000000000000n, // +0
  0x0000000000000001n, // smallest subnormal
  0x800fffffffffffffn, // largest negative subnormal
  0x7fefffffffffffffn, // largest finite
);

describe('timestamp codec', () => {
  it('round-trips any int64 sequence: extremes, out of order, duplicates', () => {
    const timestamp = fc.oneof(int64, fc.constantFrom(INT64_MIN, INT64_MAX, 0n, -1n), fc.bigInt({ min: -1000n, max: 1000n }));
    fc.assert(
      fc.property(fc.array(timestamp, { maxLength: 400 }), (list) => expectTimestampsRoundTrip(BigInt64Array.from(list))),
      { numRuns: 300 },
    );
  });

  it('round-trips empty, single and regular blocks; a regular interval costs a constant 13 bytes', () => {
    expectTimestampsRoundTrip(new BigInt64Array(0));
    expectTimestampsRoundTrip(BigInt64Array.from([INT64_MIN]));
    expectTimestampsRoundTrip(BigInt64Array.from([INT64_MAX, INT64_MIN, INT64_MAX]));
    for (const points of [2, 3, 129, 130, 4096, 10_000]) {
      const regular = BigInt64Array.from({ length: points }, (_, i) => 1_700_000_000_000_000n + BigInt(i) * 10_000_000n);
      expectTimestampsRoundTrip(regular);
      expect(addon.codecEncodeTimestamps(regular).length).toBeLessThanOrEqual(13);
    }
  });

  it('round-trips jittered and gapped series in a few bits per point', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -500, max: 500 }), { minLength: 2, maxLength: 2000 }), fc.integer({ min: 0, max: 1999 }), (jitter, gapAt) => {
        const timestamps = BigInt64Array.from(jitter, (j, i) => BigInt(i) * 10_000_000n + BigInt(j) + (i >= gapAt ? 3_600_000_000n : 0n));
        expectTimestampsRoundTrip(timestamps);
        // 11-bit delta-of-deltas plus a width byte per 128: well under 2 bytes per point.
        expect(addon.codecEncodeTimestamps(timestamps).length).toBeLessThan(2 * timestamps.length + 40);
      }),
      { numRuns: 50 },
    );
  });
});

describe('value codecs', () => {
  it('round-trip any bit pattern bit-exactly (NaN payloads, ±Inf, -0, subnormals, random doubles)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(anyDoubleBits, specialDoubleBits), { maxLength: 300 }), (bits) =>
        expectValuesRoundTrip(doublesFromBits(bits)),
      ),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(fc.array(fc.double(), { maxLength: 300 }), (list) => expectValuesRoundTrip(Float64Array.from(list))),
      { numRuns: 200 },
    );
  });

  it('round-trip 2-decimal walks, constant blocks, integers and large exponents, choosing a decimal codec', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1_000_000, max: 1_000_000 }),
        fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 3000 }),
        fc.integer({ min: 0, max: 6 }),
        (start, steps, exponent) => {
          let cents = start;
          const values = Float64Array.from(steps, (step) => (cents += step) / 10 ** exponent);
          expectValuesRoundTrip(values);
          expect(addon.codecEncodeValues(values).codec).toMatch(/^decimal/);
        },
      ),
      { numRuns: 100 },
    );
    for (const values of [
      new Float64Array(4096).fill(42.5),
      Float64Array.from({ length: 1000 }, (_, i) => i * 1_000_000_007),
      Float64Array.from({ length: 100 }, (_, i) => (i % 2 ? 1e300 : -1e-300)),
      Float64Array.from({ length: 100 }, (_, i) => 2 ** 60 + i * 4096),
      Float64Array.from([Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 0.1, 0.2, 0.30000000000000004]),
      new Float64Array(0),
      Float64Array.from([3.14]),
    ]) {
      expectValuesRoundTrip(values);
    }
    expect(addon.codecEncodeValues(new Float64Array(4096).fill(42.5)).bytes.length).toBeLessThan(16);
    expect(addon.codecEncodeValues(Float64Array.from([Math.PI, 0.1 + 0.2]), 'decimal').codec).toBe('decimal');
  });

  it('refuses a forced decimal codec for values it cannot represent exactly', () => {
    // Math.PI and 0.1 + 0.2 are representable (16-17 digits, 10^15 and 10^17); these need more than 10^18 or 2^62.
    for (const values of [[0.1, -0], [1, Number.NaN], [Infinity], [Math.PI * 1e-10], [1e300], [5e-324], [1.2345678901234567e-5]]) {
      for (const codec of ['decimal', 'decimal-entropy'] as const) {
        expect(() => addon.codecEncodeValues(Float64Array.from(values), codec)).toThrow(
          expect.objectContaining({ code: 'SLUICE_INVALID_ARGUMENT' }),
        );
      }
    }
    // The Huffman alphabet spans 4096 offsets: wider deltas are refused by the entropy form only.
    const wide = Float64Array.from([0, 5000, 0, 1]);
    expect(() => addon.codecEncodeValues(wide, 'decimal-entropy')).toThrow(expect.objectContaining({ code: 'SLUICE_INVALID_ARGUMENT' }));
    expect(addon.codecEncodeValues(wide, 'decimal').codec).toBe('decimal');
  });

  it('chooses decimal-entropy on the benchmark data set and round-trips it', () => {
    for (let series = 0; series < 5; series++) {
      const { timestamps, values } = generateSeries(series, { points: 10_000, seed: 1 });
      for (let start = 0; start < values.length; start += 4096) {
        const blockValues = values.subarray(start, start + 4096);
        const encoded = addon.codecEncodeValues(blockValues);
        expect(encoded.codec).toBe('decimal-entropy');
        expect(bitsOf(addon.codecDecodeValues(encoded.bytes, blockValues.length))).toEqual(bitsOf(blockValues));
        const blockTimestamps = timestamps.subarray(start, start + 4096);
        expect(addon.codecDecodeTimestamps(addon.codecEncodeTimestamps(blockTimestamps), blockTimestamps.length)).toEqual(blockTimestamps);
      }
    }
    // The size goal (≤ 0.86 B/pt) is measured by bench/codecs.bench.js, not asserted here.
  });

  it('caps random bits at 8 bytes per value plus the codec byte', () => {
    const values = doublesFromBits(fc.sample(anyDoubleBits, 1000));
    const encoded = addon.codecEncodeValues(values);
    expect(encoded.bytes.length).toBeLessThanOrEqual(8 * values.length + 1);
    expect(bitsOf(addon.codecDecodeValues(encoded.bytes, values.length))).toEqual(bitsOf(values));
  });

  it('decodes into a reused array and checks its room', () => {
    const values = Float64Array.from([1.5, 2.25, -3]);
    const into = new Float64Array(5).fill(9);
    expect(addon.codecDecodeValues(addon.codecEncodeValues(values).bytes, 3, into)).toBe(into);
    expect(Array.from(into)).toEqual([1.5, 2.25, -3, 9, 9]);
    expect(() => addon.codecDecodeValues(addon.codecEncodeValues(values).bytes, 3, new Float64Array(2))).toThrow(
      expect.objectContaining({ code: 'SLUICE_INVALID_ARGUMENT' }),
    );
    const timestamps = BigInt64Array.from([5n, 7n]);
    const intoTimestamps = new BigInt64Array(2);
    expect(addon.codecDecodeTimestamps(addon.codecEncodeTimestamps(timestamps), 2, intoTimestamps)).toEqual(timestamps);
  });
});

describe('aggregation reads of blocks (window aggregates)', () => {
  /** Exact decimals d / 10^e: the scaled integers and their running totals must come back exactly. */
  function expectDecimalIntegers(values: Float64Array): void {
    for (const codec of ['decimal', 'decimal-entropy'] as const) {
      let bytes: Uint8Array;
      try {
        bytes = addon.codecEncodeValues(values, codec).bytes;
      } catch {
        continue; // deltas too spread for the Huffman alphabet
      }
      const plain = addon.codecDecodeDecimalIntegers(bytes, values.length, false)!;
      const totals = addon.codecDecodeDecimalIntegers(bytes, values.length, true)!;
      expect(plain.exponent).toBe(totals.exponent);
      const scale = 10 ** plain.exponent;
      let total = 0n;
      values.forEach((value, i) => {
        const integer = plain.integers[i]!;
        expect(Object.is(Number(integer) / scale, value), `${codec} value ${i}`).toBe(true);
        expect(Math.abs(Number(integer))).toBeLessThanOrEqual(plain.magnitudeBound);
        total = BigInt.asIntN(64, total + integer);
        expect(totals.integers[i], `${codec} total ${i}`).toBe(total);
      });
    }
  }

  it('decode decimal blocks to their scaled integers and running totals: walks, extremes, every length', () => {
    const walk = fc.tuple(
      fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
      fc.array(fc.integer({ min: -300, max: 300 }), { maxLength: 3000 }),
      fc.constantFrom(1, 10, 100, 1000),
    );
    fc.assert(
      fc.property(walk, ([start, steps, scale]) => {
        let current = start;
        expectDecimalIntegers(Float64Array.from([start, ...steps.map((step) => (current += step))], (x) => x / scale));
      }),
      { numRuns: 150 },
    );
    // Every length across the 16-symbol rounds and the streams' tails; huge magnitudes; one outlier.
    for (let n = 0; n <= 70; n++) expectDecimalIntegers(Float64Array.from({ length: n }, (_, i) => ((i * 37) % 101) / 100));
    expectDecimalIntegers(Float64Array.from({ length: 500 }, (_, i) => 2 ** 61 - 1 - i * 4096));
    expectDecimalIntegers(Float64Array.from({ length: 500 }, (_, i) => (i % 2 ? -1 : 1) * (2 ** 52 - i)));
    expectDecimalIntegers(Float64Array.from({ length: 1000 }, (_, i) => (i === 500 ? 1e15 : i / 100)));
    // Other codecs have no integers.
    expect(addon.codecDecodeDecimalIntegers(addon.codecEncodeValues(Float64Array.of(0.1, Math.PI), 'gorilla').bytes, 2, true)).toBeNull();
    expect(addon.codecDecodeDecimalIntegers(addon.codecEncodeValues(Float64Array.of(1, 2), 'raw').bytes, 2, false)).toBeNull();
  });

  it('decode short Huffman codes (≤ 7 bits: eight codes per load) exactly, at every length around the rounds', () => {
    // Steps drawn from a small alphabet with skewed weights: code lengths from 1 to 7 bits, so the
    // decoder takes its 8-codes-per-load rounds, then 4-code rounds, then the checked tail.
    const block = fc.tuple(
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 40 }), // weight per symbol
      fc.integer({ min: -5000, max: 5000 }), // the delta reference (the smallest step)
      fc.integer({ min: 0, max: 2500 }),
      fc.integer(),
      fc.constantFrom(1, 100),
    );
    fc.assert(
      fc.property(block, ([weights, reference, n, seed, scale]) => {
        let random = seed >>> 0;
        const next = () => (random = (Math.imul(random, 1664525) + 1013904223) >>> 0);
        const cumulative: number[] = [];
        weights.forEach((w, i) => cumulative.push(w * w + (cumulative[i - 1] ?? 0))); // squared: skewed
        const totalWeight = cumulative[cumulative.length - 1]!;
        let current = 0;
        const values = Float64Array.from({ length: n }, (_, i) => {
          if (i > 0) {
            const r = next() % totalWeight;
            current += reference + cumulative.findIndex((c) => r < c);
          }
          return current / scale;
        });
        expectDecimalIntegers(values);
        try {
          const { bytes } = addon.codecEncodeValues(values, 'decimal-entropy');
          expect(bitsOf(addon.codecDecodeValues(bytes, n))).toEqual(bitsOf(values));
        } catch (error) {
          expect((error as { code?: string }).code).toBe('SLUICE_INVALID_ARGUMENT');
        }
      }),
      { numRuns: 40 },
    );
    // The data set's kind of block (6- and 7-bit codes): every length up to 160, and long ones.
    const { values } = generateSeries(3, { points: 8192, seed: 1 });
    for (const n of [...Array.from({ length: 161 }, (_, n) => n), 1000, 8191]) expectDecimalIntegers(values.subarray(0, n));
  });

  it('report a constant timestamp stride, and no stride once a single interval differs', () => {
    fc.assert(
      fc.property(
        int64,
        int64,
        fc.integer({ min: 2, max: 3000 }),
        fc.option(fc.tuple(fc.nat(), fc.bigInt({ min: 1n, max: 1000n })), { nil: undefined }),
        (first, step, n, broken) => {
          const timestamps = new BigInt64Array(n);
          let t = first;
          // The interval into point breakAt (≥ 2) differs from the first one.
          const breakAt = broken && n >= 3 ? 2 + (broken[0] % (n - 2)) : -1;
          for (let i = 0; i < n; i++) {
            timestamps[i] = t;
            t = BigInt.asIntN(64, t + step + (i + 1 === breakAt ? broken![1] : 0n));
          }
          const bytes = addon.codecEncodeTimestamps(timestamps);
          expectTimestampsRoundTrip(timestamps);
          const stride = addon.codecTimestampStride(bytes, n);
          if (breakAt > 0) {
            expect(stride).toBeNull();
          } else {
            expect(stride).toEqual({ first, step: BigInt.asIntN(64, step) });
          }
        },
      ),
      { numRuns: 300 },
    );
    const single = addon.codecEncodeTimestamps(BigInt64Array.of(5n));
    expect(addon.codecTimestampStride(single, 1)).toBeNull();
    expect(addon.codecTimestampStride(new Uint8Array(0), 2)).toBeNull();
  });
});

describe('window writer (one-point windows, native/window_writer.h)', () => {
  it('writes with every kind of stores this CPU has exactly what the scalar stores and a JS reference give', () => {
    const kinds = [0, 1, 2].filter((stores) =>
      addon.codecWriteOnePointWindows(new BigInt64Array(0), false, 0n, 1n, 1, stores, new BigInt64Array(0), new Float64Array(0)),
    );
    expect(kinds[0]).toBe(0);
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { maxLength: 300 }),
        fc.boolean(),
        int64,
        int64,
        fc.oneof(fc.constantFrom(1, 10, 100, 1000, 1e6, 1e10), fc.double({ min: 0.5, max: 1e6, noNaN: true })),
        fc.nat(7),
        fc.nat(7),
        (raw, anyDifferences, firstBucket, bucketStep, divisor, startsShift, valuesShift) => {
          const integers = BigInt64Array.from(raw);
          const differences = anyDifferences && integers.length > 0; // n + 1 integers for n windows
          const count = Math.max(0, integers.length - (differences ? 1 : 0));
          // Columns at every alignment within a cache line, each on its own.
          const columns = () => ({
            starts: new BigInt64Array(count + 8).subarray(startsShift, startsShift + count),
            values: new Float64Array(count + 8).subarray(valuesShift, valuesShift + count),
          });
          const expectedStarts = BigInt64Array.from({ length: count }, (_, k) => BigInt.asIntN(64, firstBucket + BigInt(k) * bucketStep));
          const expectedValues = Float64Array.from({ length: count }, (_, k) =>
            Number(differences ? BigInt.asIntN(64, integers[k + 1]! - integers[k]!) : integers[k]!) / divisor,
          );
          for (const stores of kinds) {
            const { starts, values } = columns();
            expect(addon.codecWriteOnePointWindows(integers.subarray(0, count + (differences ? 1 : 0)), differences, firstBucket, bucketStep, divisor, stores, starts, values)).toBe(true);
            expect(Buffer.from(starts.buffer, starts.byteOffset, starts.byteLength).equals(Buffer.from(expectedStarts.buffer)), `stores ${stores} starts`).toBe(true);
            expect(Buffer.from(values.buffer, values.byteOffset, values.byteLength).equals(Buffer.from(expectedValues.buffer)), `stores ${stores} values`).toBe(true);
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('codec probes: arguments and corrupt input', () => {
  it('reject wrong arguments on the native side with a code', () => {
    const unchecked = addon as unknown as Record<string, (...args: unknown[]) => unknown>;
    const bad: [string, unknown[]][] = [
      ['codecEncodeTimestamps', [new Float64Array(2)]],
      ['codecEncodeTimestamps', []],
      ['codecDecodeTimestamps', [new Uint8Array(2), -1]],
      ['codecDecodeTimestamps', [new Uint8Array(2), 2 ** 25]],
      ['codecDecodeTimestamps', [[1, 2], 1]],
      ['codecEncodeValues', [new Float64Array(2), 'zstd']],
      ['codecEncodeValues', [new Float64Array(2), 7]],
      ['codecEncodeValues', [BigInt64Array.from([1n])]],
      ['codecDecodeValues', [new Uint8Array(2), 1.5]],
      ['codecDecodeValues', [new Uint8Array(2), 2 ** 40]],
      ['codecDecodeValues', [new Uint8Array(2), 1, new BigInt64Array(1)]],
      // The window writer: integers one longer than the columns only with differences.
      ['codecWriteOnePointWindows', [new BigInt64Array(4), false, 0n, 1n, 1, 0, new BigInt64Array(3), new Float64Array(3)]],
      ['codecWriteOnePointWindows', [new BigInt64Array(3), true, 0n, 1n, 1, 0, new BigInt64Array(3), new Float64Array(3)]],
      ['codecWriteOnePointWindows', [new BigInt64Array(3), false, 0n, 1n, 1, 0, new BigInt64Array(3), new Float64Array(2)]],
      ['codecWriteOnePointWindows', [new BigInt64Array(3), false, 0n, 1n, 1, 3, new BigInt64Array(3), new Float64Array(3)]],
      ['codecWriteOnePointWindows', [new BigInt64Array(3), false, 2n ** 64n, 1n, 1, 0, new BigInt64Array(3), new Float64Array(3)]],
      ['codecWriteOnePointWindows', [new BigInt64Array(3), 1, 0n, 1n, 1, 0, new BigInt64Array(3), new Float64Array(3)]],
    ];
    for (const [name, args] of bad) {
      expect(() => unchecked[name]!(...args), `${name}(${String(args)})`).toThrow(
        expect.objectContaining({ code: 'SLUICE_INVALID_ARGUMENT' }),
      );
    }
  });

  it('throw SLUICE_CORRUPT on a short or unknown block', () => {
    expect(() => addon.codecDecodeValues(new Uint8Array(0), 1)).toThrow(expect.objectContaining({ code: 'SLUICE_CORRUPT' }));
    expect(() => addon.codecDecodeValues(Uint8Array.from([9, 0, 0]), 1)).toThrow(expect.objectContaining({ code: 'SLUICE_CORRUPT' }));
    expect(() => addon.codecDecodeTimestamps(Uint8Array.from([0, 1]), 1)).toThrow(expect.objectContaining({ code: 'SLUICE_CORRUPT' }));
    // Irregular deltas (a constant delta packs in 0 bits, so any count would decode).
    const encoded = addon.codecEncodeValues(Float64Array.from({ length: 100 }, (_, i) => (i * i) / 4), 'decimal');
    expect(() => addon.codecDecodeValues(encoded.bytes, 2 ** 24)).toThrow(expect.objectContaining({ code: 'SLUICE_CORRUPT' }));
  });

  it('survive every truncation, random bit flips and random bytes (fuzz), never crashing', () => {
    const { timestamps, values } = generateSeries(0, { points: 300, seed: 7 });
    const irregular = BigInt64Array.from(timestamps, (t, i) => t + BigInt((i * 7919) % 1000));
    const samples: { bytes: Uint8Array; count: number; decode: (bytes: Uint8Array, count: number) => unknown }[] = [
      { bytes: addon.codecEncodeTimestamps(timestamps), count: 300, decode: addon.codecDecodeTimestamps },
      { bytes: addon.codecEncodeTimestamps(irregular), count: 300, decode: addon.codecDecodeTimestamps },
      ...FORCED.map((codec) => ({ bytes: addon.codecEncodeValues(values, codec).bytes, count: 300, decode: addon.codecDecodeValues })),
      // The integer reads of window aggregates (running totals or not) over the same blocks.
      ...(['decimal', 'decimal-entropy'] as const).flatMap((codec) =>
        [false, true].map((cumulative) => ({
          bytes: addon.codecEncodeValues(values, codec).bytes,
          count: 300,
          decode: (bytes: Uint8Array, count: number) => addon.codecDecodeDecimalIntegers(bytes, count, cumulative),
        })),
      ),
      { bytes: addon.codecEncodeTimestamps(timestamps), count: 300, decode: addon.codecTimestampStride },
      {
        bytes: addon.codecEncodeValues(doublesFromBits(fc.sample(anyDoubleBits, 300)), 'gorilla').bytes,
        count: 300,
        decode: addon.codecDecodeValues,
      },
    ];
    let cases = 0;
    for (const { bytes, count, decode } of samples) {
      for (let length = 0; length < bytes.length; length++) {
        // A truncated copy, so the decoder cannot read the rest of the original buffer.
        expectDecodesOrCorrupt(() => decode(bytes.slice(0, length), count));
        cases++;
      }
    }
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: samples.length - 1 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 400 }),
        (which, flips, count) => {
          const { bytes, decode } = samples[which]!;
          const damaged = bytes.slice();
          for (const flip of flips) damaged[(flip >> 3) % damaged.length]! ^= 1 << (flip & 7);
          expectDecodesOrCorrupt(() => decode(damaged, count));
          cases++;
        },
      ),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 5000 }), (bytes, count) => {
        expectDecodesOrCorrupt(() => addon.codecDecodeValues(bytes, count));
        expectDecodesOrCorrupt(() => addon.codecDecodeTimestamps(bytes, count));
        for (const codec of [1, 2, 3, 4]) {
          expectDecodesOrCorrupt(() => addon.codecDecodeValues(Uint8Array.from([codec, ...bytes]), count));
        }
        cases++;
      }),
      { numRuns: 1500 },
    );
    expect(cases).toBeGreaterThan(4000);
  });
});
