// Prometheus remote_write (POST /api/v1/write): bodies built with protobufjs and snappyjs, as a
// reference independent of our decoders, against both server backends; property and fuzz tests
// of the native decoders (native/snappy_decoder.cc, native/remote_write.cc).
import path from 'node:path';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import * as snappy from 'snappyjs';
import { describe, expect, it } from 'vitest';
import { makeTempDir } from './helpers/paths.js';
import { cleanups, startTestServer, type Server } from './helpers/server.js';
import { bindings, sluice } from './helpers/sluice.js';

const start = startTestServer;

// The remote_write 1.0 schema (prometheus/prompb), plus the fields our decoder must skip:
// WriteRequest.metadata (3), TimeSeries.exemplars (3) and TimeSeries.histograms (4).
const root = new protobuf.Root();
root
  .define('prometheus')
  .add(new protobuf.Type('Label').add(new protobuf.Field('name', 1, 'string')).add(new protobuf.Field('value', 2, 'string')))
  .add(new protobuf.Type('Sample').add(new protobuf.Field('value', 1, 'double')).add(new protobuf.Field('timestamp', 2, 'int64')))
  .add(
    new protobuf.Type('Exemplar')
      .add(new protobuf.Field('labels', 1, 'Label', 'repeated'))
      .add(new protobuf.Field('value', 2, 'double'))
      .add(new protobuf.Field('timestamp', 3, 'int64')),
  )
  .add(
    new protobuf.Type('Histogram')
      .add(new protobuf.Field('countInt', 1, 'uint64'))
      .add(new protobuf.Field('sum', 3, 'double'))
      .add(new protobuf.Field('schema', 4, 'sint32'))
      .add(new protobuf.Field('zeroThreshold', 5, 'double'))
      .add(new protobuf.Field('positiveDeltas', 12, 'sint64', 'repeated'))
      .add(new protobuf.Field('positiveCounts', 13, 'double', 'repeated'))
      .add(new protobuf.Field('timestamp', 15, 'int64')),
  )
  .add(
    new protobuf.Type('TimeSeries')
      .add(new protobuf.Field('labels', 1, 'Label', 'repeated'))
      .add(new protobuf.Field('samples', 2, 'Sample', 'repeated'))
      .add(new protobuf.Field('exemplars', 3, 'Exemplar', 'repeated'))
      .add(new protobuf.Field('histograms', 4, 'Histogram', 'repeated')),
  )
  .add(
    new protobuf.Type('MetricMetadata')
      .add(new protobuf.Field('type', 1, 'int32'))
      .add(new protobuf.Field('metricFamilyName', 2, 'string'))
      .add(new protobuf.Field('help', 4, 'string'))
      .add(new protobuf.Field('unit', 5, 'string')),
  )
  .add(
    new protobuf.Type('WriteRequest')
      .add(new protobuf.Field('timeseries', 1, 'TimeSeries', 'repeated'))
      .add(new protobuf.Field('metadata', 3, 'MetricMetadata', 'repeated')),
  );
const WriteRequest = root.lookupType('prometheus.WriteRequest');

interface Series {
  labels: { name: string; value: string }[];
  samples: { value: number; timestamp: number }[];
  exemplars?: unknown[];
  histograms?: unknown[];
}

function encodeRequest(timeseries: Series[], metadata: unknown[] = []): Uint8Array {
  return WriteRequest.encode(WriteRequest.fromObject({ timeseries, metadata })).finish();
}

function body(timeseries: Series[], metadata: unknown[] = []): Uint8Array {
  return snappy.compress(encodeRequest(timeseries, metadata));
}

const labels = (name: string | undefined, tags: Record<string, string> = {}) => [
  ...(name === undefined ? [] : [{ name: '__name__', value: name }]),
  ...Object.entries(tags).map(([k, v]) => ({ name: k, value: v })),
];

/** Prometheus' stale marker: a NaN with this exact bit pattern. */
const STALE_BITS = 0x7ff0000000000002n;

/** A body whose sample value 1234.5 is replaced by the stale marker's bits (encoders may canonicalise NaN). */
function withStaleMarker(protobufBytes: Uint8Array): Uint8Array {
  const placeholder = new Uint8Array(new Float64Array([1234.5]).buffer);
  const bytes = Uint8Array.from(protobufBytes);
  const at = Buffer.from(bytes).indexOf(Buffer.from(placeholder));
  expect(at).toBeGreaterThan(0);
  new DataView(bytes.buffer).setBigUint64(at, STALE_BITS, true);
  return bytes;
}

/** The bits of element i, read from the array's memory (a JS number may quieten a signalling NaN). */
const bitsAt = (values: Float64Array, i: number) => new DataView(values.buffer, values.byteOffset).getBigUint64(i * 8, true);

const HEADERS = {
  'content-encoding': 'snappy',
  'content-type': 'application/x-protobuf',
  'x-prometheus-remote-write-version': '0.1.0',
};

function post(server: Server, payload: Uint8Array, headers: Record<string, string> = HEADERS): Promise<Response> {
  return fetch(`${server.url}/api/v1/write`, { method: 'POST', body: payload, headers });
}

for (const backend of ['uws', 'node'] as const) {
  describe(`POST /api/v1/write on the ${backend} backend`, () => {
    it('stores samples under __name__ with the other labels as tags, ms → µs, stale markers as NaN', async () => {
      const server = await start(backend);
      const request = encodeRequest(
        [
          {
            labels: labels('up', { job: 'node', instance: 'a:9100' }),
            samples: [
              { value: 1, timestamp: 1_700_000_000_000 },
              { value: 0, timestamp: 1_700_000_015_000 },
              { value: 1234.5, timestamp: 1_700_000_030_000 },
            ],
          },
          // Labels in any order; exemplars, histograms and metadata are skipped.
          {
            labels: [{ name: 'job', value: 'prom' }, { name: '__name__', value: 'up' }],
            samples: [{ value: 1, timestamp: -5 }],
            exemplars: [{ labels: [{ name: 'trace_id', value: 'abc' }], value: 9, timestamp: 1 }],
            histograms: [{ countInt: 3, sum: 4.5, schema: -1, positiveDeltas: [1, -1], positiveCounts: [], timestamp: 7 }],
          },
        ],
        [{ type: 1, metricFamilyName: 'up', help: 'is it up', unit: '' }],
      );
      const reply = await post(server, snappy.compress(withStaleMarker(request)));
      expect(reply.status).toBe(204);
      expect(await reply.text()).toBe('');
      expect(server.db.query('COUNT:up')).toBe(4);
      expect(server.db.query('COUNT:up:[job=node]')).toBe(3);
      expect(server.db.query('COUNT:up:[job=node AND instance=a:9100]')).toBe(3);
      expect(server.db.query('FIRST:up:[job=prom]')).toBe(1);
      const points = [...server.db.scan({ series: 'up', tags: { job: 'node', instance: 'a:9100' } })];
      expect(points.map(([t]) => t)).toEqual([1_700_000_000_000_000n, 1_700_000_015_000_000n, 1_700_000_030_000_000n]);
      expect(points[2]![1]).toBeNaN();
      const [stored] = [...server.db.scanBatches({ series: 'up', tags: { job: 'node', instance: 'a:9100' } })];
      expect(bitsAt(stored!.values, 2)).toBe(STALE_BITS); // the stale marker, bit for bit
      expect([...server.db.scan({ series: 'up', tags: { job: 'prom' } })]).toEqual([[-5000n, 1]]);
      expect(server.db.query('COUNT:trace_id')).toBe(0);
    });

    it('stores many series in one request, and label values with commas, spaces, equals, quotes and UTF-8', async () => {
      const server = await start(backend);
      const many: Series[] = [];
      for (let i = 0; i < 1000; i++) {
        many.push({ labels: labels('node_cpu_seconds_total', { instance: `i${i}`, mode: i % 2 ? 'idle' : 'user' }), samples: [{ value: i, timestamp: 1000 }, { value: i + 1, timestamp: 2000 }] });
      }
      const odd = { path: '/a, b=c d', 'le': '+Inf', quote: '"x\\y"', city: 'Zürich 東京', empty: '' };
      many.push({ labels: labels('http requests,total', odd), samples: [{ value: 42, timestamp: 3 }] });
      expect((await post(server, body(many))).status).toBe(204);
      expect(server.db.query('COUNT:node_cpu_seconds_total')).toBe(2000);
      expect(server.db.query('SUM:node_cpu_seconds_total:[instance=i7]')).toBe(15);
      expect(server.db.query('COUNT:node_cpu_seconds_total:[mode=idle]')).toBe(1000);
      // An empty label value is no label (as in Prometheus).
      const { empty: _, ...tags } = odd;
      expect([...server.db.scan({ series: 'http requests,total', tags })]).toEqual([[3000n, 42]]);
      expect(server.db.stats().series).toBe(1001);
    });

    it('refuses bad bodies whole: 400 with an offset, 415 for other encodings, 413 over the limit', async () => {
      const server = await start(backend, { maxBodyBytes: 4096 });
      const good = { labels: labels('up', { job: 'a' }), samples: [{ value: 1, timestamp: 1 }] };
      const noName = await post(server, body([good, { labels: labels(undefined, { job: 'b' }), samples: [{ value: 1, timestamp: 2 }] }]));
      expect(noName.status).toBe(400);
      const refusal = (await noName.json()) as { error: string; message: string; code: string; offset: number };
      expect(refusal).toMatchObject({ code: 'SLUICE_PARSE', offset: expect.any(Number) });
      expect(refusal.error).toMatch(/timeseries 1: no __name__ label/);
      expect(refusal.message).toBe(refusal.error);
      expect((await post(server, body([{ labels: labels(''), samples: [{ value: 1, timestamp: 1 }] }]))).status).toBe(400);
      expect(server.db.query('COUNT:up')).toBe(0); // all or nothing

      const badSnappy = await post(server, Uint8Array.from([10, 0x0c, 1, 2, 3]));
      expect(badSnappy.status).toBe(400);
      expect(await badSnappy.json()).toMatchObject({ code: 'SLUICE_PARSE', offset: 1, error: expect.stringMatching(/snappy body at byte 1/) });
      // Not snappy at all: the raw protobuf.
      expect((await post(server, encodeRequest([good]))).status).toBe(400);
      expect((await post(server, body([good]), { ...HEADERS, 'content-encoding': 'gzip' })).status).toBe(415);
      expect((await post(server, body([good]), { ...HEADERS, 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request' })).status).toBe(415);
      expect((await post(server, body([good]), { ...HEADERS, 'content-type': 'text/plain' })).status).toBe(415);
      expect(server.db.query('COUNT:up')).toBe(0);

      // Over the limit uncompressed (the preamble says so) and compressed (the backend refuses it).
      const big: Series[] = Array.from({ length: 200 }, (_, i) => ({ labels: labels('up', { job: 'a', n: String(i % 3) }), samples: [{ value: 1, timestamp: i }] }));
      const bigBody = body(big);
      expect(bigBody.length).toBeLessThan(4096);
      const tooLarge = await post(server, bigBody);
      expect(tooLarge.status).toBe(413);
      expect(await tooLarge.json()).toMatchObject({ code: 'SLUICE_TOO_LARGE' });
      expect((await post(server, new Uint8Array(5000))).status).toBe(413);

      // Headers are optional (as old senders omit them); the plain request is written.
      expect((await post(server, body([good]), {})).status).toBe(204);
      expect((await post(server, body([good]), { 'content-encoding': 'Snappy', 'content-type': 'application/x-protobuf; proto=prometheus.WriteRequest' })).status).toBe(204);
      expect(server.db.query('COUNT:up')).toBe(1); // the same point twice
      expect((await fetch(`${server.url}/api/v1/write`)).status).toBe(405);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(/^sluice_http_writes_total 2$/m);
      expect(metrics).toMatch(/^sluice_http_writes_rejected_total 8$/m); // the backend's own 413 is not a write
    });
  });
}

describe('Database.writeRemoteWrite', () => {
  it('writes a request, feeds live queries and refuses bad options', async () => {
    const temp = makeTempDir();
    cleanups.push(temp.cleanup);
    const db = await sluice.open({ dir: path.join(temp.dir, 'data') });
    cleanups.push(() => db.close());
    const events: Array<{ tags: Record<string, string> }> = [];
    db.live('COUNT:up', (event) => void events.push(event));
    const payload = body([{ labels: labels('up', { job: 'x' }), samples: [{ value: 1, timestamp: 1 }, { value: 2, timestamp: 2 }] }]);
    expect(db.writeRemoteWrite(payload, { producer: 3 })).toBe(2);
    expect(db.query('SUM:up:[job=x]')).toBe(3);
    for (let i = 0; i < 200 && events.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(events[0]!.tags).toEqual({ job: 'x' });
    expect(() => db.writeRemoteWrite(payload, { maxUncompressedBytes: 4 })).toThrow(expect.objectContaining({ code: 'SLUICE_TOO_LARGE' }));
    expect(() => db.writeRemoteWrite(payload, { maxUncompressedBytes: -1 })).toThrow(expect.objectContaining({ code: 'SLUICE_INVALID_ARGUMENT' }));
    expect(() => db.writeRemoteWrite('x' as unknown as Uint8Array)).toThrow(expect.objectContaining({ code: 'SLUICE_INVALID_ARGUMENT' }));
    expect(() => db.writeRemoteWrite(Uint8Array.from([1, 0]))).toThrow(expect.objectContaining({ code: 'SLUICE_PARSE', offset: 1 }));
  });
});

const addon = () => bindings.native().addon;
const MAX = 1 << 24;

describe('the remote_write decoder', () => {
  const text = fc.string({ minLength: 1, maxLength: 8, unit: fc.constantFrom('a', 'b', '_', '1', ' ', ',', '=', '\\', '"', 'é', '東') });
  type SeriesCase = { name: string; tags: Record<string, string>; nameAt: number; samples: { value: number; timestamp: number }[] };
  const seriesArb: fc.Arbitrary<SeriesCase> = fc.record({
    name: fc.constantFrom('up', 'cpu seconds', 'a,b', 'x=y'),
    tags: fc.dictionary(text.filter((k) => k !== '__name__'), fc.oneof({ weight: 5, arbitrary: text }, { weight: 1, arbitrary: fc.constant('') }), { maxKeys: 4 }),
    nameAt: fc.nat(),
    samples: fc.array(fc.record({ value: fc.double(), timestamp: fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }) }), { maxLength: 5 }),
  });
  const toSeries = (s: SeriesCase): Series => {
    const tagLabels = Object.entries(s.tags).map(([name, value]) => ({ name, value }));
    tagLabels.splice(s.nameAt % (tagLabels.length + 1), 0, { name: '__name__', value: s.name });
    return { labels: tagLabels, samples: s.samples };
  };

  it('round-trips random WriteRequests: keys (BuildSeriesKey), ms → µs and values exactly', () => {
    fc.assert(
      fc.property(fc.array(seriesArb, { maxLength: 8 }), (all) => {
        const batch = addon().parseRemoteWrite(body(all.map(toSeries)), MAX);
        const keys: string[] = [];
        const expected: { key: string; t: bigint; v: number }[] = [];
        for (const s of all) {
          const flat = Object.entries(s.tags).filter(([, v]) => v !== '').flat();
          const key = addon().seriesKey(s.name, flat);
          if (s.samples.length > 0 && !keys.includes(key)) keys.push(key);
          for (const sample of s.samples) expected.push({ key, t: BigInt(sample.timestamp) * 1000n, v: sample.value });
        }
        expect(batch.seriesKeys).toEqual(keys);
        expect(batch.values.length).toBe(expected.length);
        expected.forEach(({ key, t, v }, i) => {
          expect(batch.seriesKeys[batch.keyIndex[i]!]).toBe(key);
          expect(batch.timestamps[i]).toBe(t);
          expect(Object.is(batch.values[i], v)).toBe(true);
        });
      }),
      { numRuns: 500 },
    );
  });

  it('keeps NaN payloads (stale markers) bit for bit, and refuses what maps to no series', () => {
    const request = encodeRequest([{ labels: labels('up'), samples: [{ value: 1234.5, timestamp: 1 }] }]);
    const batch = addon().parseRemoteWrite(snappy.compress(withStaleMarker(request)), MAX);
    expect(bitsAt(batch.values, 0)).toBe(STALE_BITS);
    const refuse = (series: Series[], pattern: RegExp) =>
      expect(() => addon().parseRemoteWrite(body(series), MAX)).toThrow(expect.objectContaining({ code: 'SLUICE_PARSE', message: expect.stringMatching(pattern) }));
    const one = [{ value: 1, timestamp: 1 }];
    refuse([{ labels: labels(undefined, { job: 'a' }), samples: one }], /no __name__ label/);
    refuse([{ labels: labels(''), samples: one }], /__name__ \(the series name\) is empty/);
    refuse([{ labels: [...labels('up'), ...labels('down')], samples: one }], /__name__ is given twice/);
    refuse([{ labels: [...labels('up', { a: '1' }), { name: 'a', value: '2' }], samples: one }], /given twice/);
    refuse([{ labels: [...labels('up'), { name: '', value: 'x' }], samples: one }], /empty name/);
    refuse([{ labels: labels('up', { a: 'line\nbreak' }), samples: one }], /control character/);
    const tooMany = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`t${i}`, 'v']));
    refuse([{ labels: labels('up', tooMany), samples: one }], /more than 65 labels/);
    expect(addon().parseRemoteWrite(body([{ labels: labels('up', Object.fromEntries(Object.entries(tooMany).slice(1))), samples: one }]), MAX).values).toHaveLength(1);
    refuse([{ labels: labels('up'), samples: [{ value: 1, timestamp: 9_300_000_000_000_000 }] }], /does not fit 64-bit microseconds/);
    // Series without samples are checked but add no key; an empty request is no points.
    expect(addon().parseRemoteWrite(body([{ labels: labels('up'), samples: [] }]), MAX).seriesKeys).toEqual([]);
    expect(addon().parseRemoteWrite(body([]), MAX).values).toHaveLength(0);
    // Invalid UTF-8 in a label (protobuf strings must be UTF-8): refused at its byte.
    const raw = encodeRequest([{ labels: labels('upé'), samples: one }]);
    const at = Buffer.from(raw).indexOf(Buffer.from('é'));
    raw[at + 1] = 0x41;
    expect(() => addon().parseRemoteWrite(snappy.compress(raw), MAX)).toThrow(expect.objectContaining({ code: 'SLUICE_PARSE', offset: at, message: expect.stringMatching(/UTF-8/) }));
  });

  it('skips unknown fields of every wire type, and refuses groups, bad wire types and long varints', () => {
    const one = encodeRequest([{ labels: labels('up'), samples: [{ value: 2, timestamp: 3 }] }]);
    const unknown = Uint8Array.from([
      (9 << 3) | 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, // varint, 10 bytes
      (10 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8, // 64-bit
      (11 << 3) | 2, 3, 0xff, 0xff, 0xff, // length-delimited, not a valid message
      (12 << 3) | 5, 1, 2, 3, 4, // 32-bit
      0xf8, 0xff, 0xff, 0xff, 0x0f, 0, // field 2^29 - 1, varint
    ]);
    const batch = addon().parseRemoteWrite(snappy.compress(Uint8Array.from([...unknown, ...one, ...unknown])), MAX);
    expect([...batch.values]).toEqual([2]);
    expect([...batch.timestamps]).toEqual([3000n]);
    const refuse = (bytes: number[], offset: number, pattern: RegExp) =>
      expect(() => addon().parseRemoteWrite(snappy.compress(Uint8Array.from([...one, ...bytes])), MAX)).toThrow(
        expect.objectContaining({ code: 'SLUICE_PARSE', offset: one.length + offset, message: expect.stringMatching(pattern) }),
      );
    refuse([(9 << 3) | 3], 0, /group/);
    refuse([(9 << 3) | 7], 0, /invalid wire type 7/);
    refuse([0, 0], 0, /field number 0/);
    refuse([(9 << 3) | 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], 1, /overflows 64 bits/);
    refuse([(9 << 3) | 0, 0x80], 1, /cut off/);
    refuse([(9 << 3) | 2, 5, 1], 0, /declares 5 bytes, 1 are left/);
    refuse([(1 << 3) | 0, 1], 0, /WriteRequest.timeseries \(field 1\) must be length-delimited/);
    refuse([(1 << 3) | 2, 2, (2 << 3) | 2, 0], 0, /timeseries 1: no __name__ label/);
  });

  it('fuzz: random, truncated and bit-flipped bodies never crash; each refusal is coded with an offset', () => {
    const check = (bytes: Uint8Array, max = MAX) => {
      try {
        addon().parseRemoteWrite(bytes, max);
      } catch (error) {
        const e = error as { code?: string; offset?: number };
        expect(['SLUICE_PARSE', 'SLUICE_TOO_LARGE'], String(error)).toContain(e.code);
        expect(Number.isSafeInteger(e.offset) && e.offset! >= 0, String(error)).toBe(true);
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => check(bytes)), { numRuns: 3000 });
    // Random bytes behind a valid snappy layer reach the protobuf decoder.
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => check(snappy.compress(bytes))), { numRuns: 3000 });
    fc.assert(
      fc.property(fc.array(seriesArb, { minLength: 1, maxLength: 4 }), fc.nat(), fc.nat({ max: 7 }), (all, at, bit) => {
        const request = encodeRequest(all.map(toSeries));
        const compressed = snappy.compress(request);
        // Any strict prefix of a snappy block is short of its declared length.
        expect(() => addon().parseRemoteWrite(compressed.subarray(0, at % compressed.length), MAX)).toThrow(expect.objectContaining({ code: 'SLUICE_PARSE' }));
        const flipped = Uint8Array.from(compressed);
        flipped[at % flipped.length]! ^= 1 << bit;
        check(flipped);
        if (request.length > 0) {
          check(snappy.compress(request.subarray(0, at % request.length)));
          const flippedRequest = Uint8Array.from(request);
          flippedRequest[at % request.length]! ^= 1 << bit;
          check(snappy.compress(flippedRequest));
        }
        check(compressed, at % (request.length + 1)); // limits around the real size
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the snappy decoder', () => {
  const compressible = fc.oneof(
    fc.uint8Array({ maxLength: 3000 }),
    fc
      .tuple(fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 400 }))
      .map(([chunks, picks]) => Uint8Array.from(picks.flatMap((pick) => [...chunks[pick % chunks.length]!]))),
    fc.tuple(fc.nat({ max: 255 }), fc.nat({ max: 100_000 })).map(([byte, length]) => new Uint8Array(length).fill(byte)),
  );

  it('decodes what snappyjs compresses, byte for byte', () => {
    fc.assert(
      fc.property(compressible, (data) => {
        const compressed = snappy.compress(data);
        expect(Buffer.from(addon().snappyDecompress(compressed, data.length)).equals(Buffer.from(data))).toBe(true);
        if (data.length > 0) expect(() => addon().snappyDecompress(compressed, data.length - 1)).toThrow(expect.objectContaining({ code: 'SLUICE_TOO_LARGE', offset: 0 }));
      }),
      { numRuns: 400 },
    );
    const large = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251 ^ (i >> 12));
    expect(Buffer.from(addon().snappyDecompress(snappy.compress(large), MAX)).equals(Buffer.from(large))).toBe(true);
  });

  it('decodes the element forms snappyjs does not emit: 4-byte offsets, long literal lengths, overlapping copies', () => {
    const literal300 = Array.from({ length: 300 }, (_, i) => i % 256);
    const bytes = Uint8Array.from([
      0xb8, 0x02, // 312 bytes
      61 << 2, 299 & 0xff, 299 >> 8, ...literal300, // a literal with a 2-byte length
      ((6 - 1) << 2) | 3, 3, 0, 0, 0, // copy 6 from 3 back, 4-byte offset (overlapping)
      ((6 - 4) << 2) | 1, 1, // copy 6 from 1 back, 1-byte offset
    ]);
    const expected = [...literal300, 41, 42, 43, 41, 42, 43, 43, 43, 43, 43, 43, 43];
    expect([...addon().snappyDecompress(bytes, 1000)]).toEqual(expected);
    expect(Buffer.from(snappy.uncompress(bytes)).equals(Buffer.from(expected))).toBe(true);
  });

  it('refuses bad blocks with the offset of the bad element, and huge preambles before allocating', () => {
    const refuse = (bytes: number[], offset: number, pattern: RegExp, max = MAX) =>
      expect(() => addon().snappyDecompress(Uint8Array.from(bytes), max)).toThrow(expect.objectContaining({ code: 'SLUICE_PARSE', offset, message: expect.stringMatching(pattern) }));
    refuse([], 0, /empty/);
    refuse([0x80, 0x80], 2, /cut off/);
    refuse([0x80, 0x80, 0x80, 0x80, 0x80, 0x01], 0, /longer than 5 bytes/);
    refuse([0xff, 0xff, 0xff, 0xff, 0x1f], 0, /32-bit/);
    refuse([3, (3 - 1) << 2, 1, 2], 1, /literal of 3 bytes, but 2/);
    refuse([2, (3 - 1) << 2, 1, 2, 3], 1, /overruns the declared length/);
    refuse([4, 0, 1, (0 << 2) | 1, 0], 3, /offset 0/);
    refuse([6, 0, 1, ((4 - 4) << 2) | 1, 2], 3, /reaches back 2 bytes, but only 1/);
    refuse([8, 0, 1, ((4 - 4) << 2) | 1], 3, /cut off/);
    refuse([5, 0, 1, ((4 - 4) << 2) | 1, 1, 0, 2], 5, /literal of 1 bytes overruns the declared length 5/);
    refuse([9, 0, 1, ((4 - 4) << 2) | 1, 1], 5, /ends after 5 bytes of the 9/);
    refuse([100], 0, /more than 0 bytes of snappy elements can produce/);
    refuse([100, 0, 7], 0, /more than 2 bytes/);
    // 4 GiB declared by a 6-byte body: refused before any allocation, at the limit or by expansion.
    const huge = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
    expect(() => addon().snappyDecompress(huge, MAX)).toThrow(expect.objectContaining({ code: 'SLUICE_TOO_LARGE' }));
    expect(() => addon().snappyDecompress(huge, 2 ** 32)).toThrow(expect.objectContaining({ code: 'SLUICE_PARSE', message: expect.stringMatching(/can produce/) }));
    expect(() => addon().parseRemoteWrite(huge, 2 ** 32)).toThrow(expect.objectContaining({ code: 'SLUICE_PARSE' }));
  });

  it('fuzz: random bytes never crash; every refusal is coded within the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat({ max: 4096 }), (bytes, max) => {
        try {
          const out = addon().snappyDecompress(bytes, max);
          expect(out.length).toBeLessThanOrEqual(max);
        } catch (error) {
          const e = error as { code?: string; offset?: number };
          expect(['SLUICE_PARSE', 'SLUICE_TOO_LARGE'], String(error)).toContain(e.code);
          expect(e.offset).toBeLessThanOrEqual(bytes.length);
        }
      }),
      { numRuns: 5000 },
    );
  });
});
