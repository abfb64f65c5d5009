import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { makeTempDir } from './helpers/paths.js';
import { cleanups, startTestServer, type Server } from './helpers/server.js';
import { bindings, sluice } from './helpers/sluice.js';

const { encodeEvents } = sluice;
const start = startTestServer;

interface Client {
  ws: WebSocket;
  messages: string[];
  closed: Promise<{ code: number; reason: string }>;
}

async function connect(server: Server, pathAndQuery = '/'): Promise<Client> {
  const ws = new WebSocket(server.url.replace(/^http/, 'ws') + pathAndQuery);
  cleanups.push(() => ws.terminate());
  const messages: string[] = [];
  ws.on('message', (data) => messages.push(data.toString()));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, messages, closed };
}

/** The seed's frame, built by hand byte for byte (not with our encoder). */
function seedFrame(timestamp: bigint, value: number, series: string, tags: string[]): Buffer {
  const parts = [Buffer.alloc(20)];
  parts[0]!.writeBigInt64LE(timestamp, 0);
  parts[0]!.writeDoubleLE(value, 8);
  parts[0]!.writeUInt16LE(Buffer.byteLength(series), 16);
  parts[0]!.writeUInt16LE(tags.length, 18);
  parts.push(Buffer.from(series));
  for (const tag of tags) {
    const length = Buffer.alloc(2);
    length.writeUInt16LE(Buffer.byteLength(tag));
    parts.push(length, Buffer.from(tag));
  }
  return Buffer.concat(parts);
}

/** Waits until `check` holds (the server handles messages asynchronously to the client). */
async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

for (const backend of ['uws', 'node'] as const) {
  describe(`WebSocket ingest on the ${backend} backend`, () => {
    it('stores the seed binary frame, batches of it and JSON text frames, tagging each with the producer id', async () => {
      const server = await start(backend);
      const events: Array<{ producers: number[]; tags: Record<string, string> }> = [];
      server.db.live('COUNT:temp', (event) => void events.push(event));
      const a = await connect(server);
      const b = await connect(server);
      a.ws.send(seedFrame(1_700_000_000_000_000n, 21.5, 'temp', ['sensor=1', 'room=hall']));
      b.ws.send(Buffer.concat([seedFrame(2n, 1, 'temp', ['sensor=2']), seedFrame(3n, 2, 'temp', ['sensor=2']), seedFrame(4n, -0, 'hum', [])]));
      a.ws.send(JSON.stringify({ series: 'temp', tags: { sensor: '3' }, timestamp: 5, value: 7 }));
      b.ws.send(JSON.stringify([{ series: 'hum', timestamp: '6', value: 50 }, { series: 'hum', value: 51 }]));
      await eventually(() => server.db.query('COUNT:temp') === 4 && server.db.query('COUNT:hum') === 3, 'all points');
      expect(server.db.query('LAST:temp:[sensor=1 AND room=hall]')).toBe(21.5);
      expect(server.db.query('SUM:temp:[sensor=2]')).toBe(3);
      expect(server.db.query('MAX:hum:[]:[0,6]')).toBe(50);
      expect(server.connections).toBe(2);
      await eventually(() => events.length === 3, 'live events');
      const producerOf = (sensor: string) => events.find((event) => event.tags.sensor === sensor)!.producers;
      expect(producerOf('1')).toHaveLength(1);
      expect(producerOf('2')).toHaveLength(1);
      expect(producerOf('1')[0]).not.toBe(producerOf('2')[0]);
      expect(producerOf('3')).toEqual(producerOf('1'));
      // Writeback reaches the producer whose points triggered the event, and only it.
      expect(server.writeback(producerOf('1')[0]!, 'from the server')).toBe(true);
      await eventually(() => a.messages.includes('from the server'), 'the writeback');
      expect(b.messages).toEqual([]);
      expect(server.writeback(987_654_321, 'nobody')).toBe(false);
    });

    it('refuses a bad frame whole with an error and close code 1007, keeping earlier points and other producers', async () => {
      const server = await start(backend);
      const bad = await connect(server);
      const good = await connect(server);
      bad.ws.send(seedFrame(1n, 1, 'temp', ['sensor=1']));
      const truncated = seedFrame(3n, 3, 'temp', ['sensor=1']).subarray(0, 25);
      bad.ws.send(Buffer.concat([seedFrame(2n, 2, 'temp', ['sensor=1']), truncated]));
      expect(await bad.closed).toEqual({ code: 1007, reason: 'invalid message' });
      expect(JSON.parse(bad.messages[0]!)).toMatchObject({ code: 'SLUICE_FRAME', event: 1, offset: 34 });
      good.ws.send(seedFrame(4n, 4, 'temp', ['sensor=2']));
      await eventually(() => server.db.query('COUNT:temp') === 2, 'the good producer');
      expect(server.db.query('SUM:temp:[sensor=1]')).toBe(1); // nothing of the bad frame
      for (const [message, expected] of [
        [seedFrame(1n, 1, 'temp', ['sensor']), /key=value/],
        [seedFrame(1n, 1, '', []), /series name is empty/],
        ['{"series": "temp", "value": "hot"}', /"value" must be a number/],
        ['not json', /not JSON/],
      ] as const) {
        const client = await connect(server);
        client.ws.send(message, { binary: typeof message !== 'string' });
        expect((await client.closed).code).toBe(1007);
        expect(JSON.parse(client.messages[0]!).error).toMatch(expected);
      }
      expect(server.db.query('COUNT:temp')).toBe(2);
    });

    it('acknowledges messages in order once they are durable, when the producer asks', async () => {
      const server = await start(backend, { durability: 'batch', syncIntervalMs: 20 });
      const acked = await connect(server, '/?ack=1');
      const plain = await connect(server);
      for (let i = 1; i <= 5; i++) acked.ws.send(seedFrame(BigInt(i), i, 'temp', []));
      await eventually(() => acked.messages.length === 5, 'five acks');
      expect(acked.messages).toEqual([1, 2, 3, 4, 5].map((n) => `{"ack":${n}}`));
      expect(server.db.stats().walUnsyncedBytes).toBe(0); // acked means fsynced
      plain.ws.send(seedFrame(100n, 1, 'temp', []));
      await eventually(() => server.db.query('COUNT:temp') === 6, 'the plain message');
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect(plain.messages).toEqual([]); // no acks unless asked
    });

    it('closes with 1009 on a message over the limit', async () => {
      const server = await start(backend, { maxMessageBytes: 4096 });
      const client = await connect(server);
      client.ws.send(Buffer.alloc(5000));
      expect((await client.closed).code).toBe(1009);
      const next = await connect(server);
      next.ws.send(seedFrame(1n, 1, 'ok', []));
      await eventually(() => server.db.query('COUNT:ok') === 1, 'a later connection');
    });
  });

  describe(`GET /metrics on the ${backend} backend`, () => {
    it('reports points, series, connections, refusals and live drops in the Prometheus text format', async () => {
      const server = await start(backend);
      const metrics = async () => {
        const reply = await fetch(`${server.url}/metrics`);
        expect(reply.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
        const values = new Map<string, number>();
        for (const line of (await reply.text()).split('\n')) {
          if (line === '' || line.startsWith('#')) continue;
          const [name, value] = line.split(' ');
          values.set(name!, Number(value));
        }
        return values;
      };
      const before = await metrics();
      expect(before.get('sluice_points_written_total')).toBe(0);
      const live = server.db.live('COUNT:temp', undefined, { bufferSize: 1 });
      const client = await connect(server);
      client.ws.send(seedFrame(1n, 1, 'temp', ['sensor=1']));
      client.ws.send(seedFrame(2n, 2, 'temp', ['sensor=2']));
      await fetch(`${server.url}/write`, { method: 'POST', body: 'temp,sensor=3 value=3 3\ntemp,sensor=3 value=4 4\n' });
      await fetch(`${server.url}/write`, { method: 'POST', body: 'temp value=' });
      await eventually(() => server.db.stats().pointsWritten === 4, 'the writes');
      const after = await metrics();
      expect(after.get('sluice_points_written_total')).toBe(4);
      expect(after.get('sluice_series')).toBe(3);
      expect(after.get('sluice_websocket_connections')).toBe(1);
      expect(after.get('sluice_websocket_messages_total')).toBe(2);
      expect(after.get('sluice_http_writes_total')).toBe(1);
      expect(after.get('sluice_http_writes_rejected_total')).toBe(1);
      expect(after.get('sluice_live_queries')).toBe(1);
      expect(after.get('sluice_live_events_dropped_total')).toBe(2); // three events, room for one
      expect(after.get('sluice_memtable_points')).toBe(4);
      expect(after.get('process_resident_memory_bytes')).toBeGreaterThan(1e6);
      live.close();
      client.ws.send(Buffer.from([1]));
      await client.closed;
      await eventually(() => server.connections === 0, 'the close');
      const last = await metrics();
      expect(last.get('sluice_websocket_rejected_total')).toBe(1);
      expect(last.get('sluice_websocket_connections')).toBe(0);
      expect(last.get('sluice_live_events_dropped_total')).toBe(2); // kept after the query closed
    });
  });

  describe(`HTTP line protocol on the ${backend} backend`, () => {
    it('accepts /write and /api/v2/write with precision and gzip, answering 204', async () => {
      const server = await start(backend);
      const post = (url: string, body: string | Buffer, headers: Record<string, string> = {}) =>
        fetch(`${server.url}${url}`, { method: 'POST', body, headers });
      expect((await post('/write?db=telegraf', 'cpu,host=a value=1 1700000000000000000\n')).status).toBe(204);
      expect((await post('/write?precision=u', 'cpu,host=a value=2 1700000000000001\n')).status).toBe(204);
      expect((await post('/write?precision=s', 'cpu,host=a usage_idle=90,value=3 1700000002\n')).status).toBe(204);
      expect((await post('/api/v2/write?org=o&bucket=b&precision=ms', gzipSync('cpu,host=b value=4 1700000003000\n'), { 'content-encoding': 'gzip' })).status).toBe(204);
      expect(server.db.query('COUNT:cpu')).toBe(4);
      expect(server.db.query('LAST:cpu_usage_idle')).toBe(90);
      expect(server.db.query('FIRST:cpu:[host=a]:[]:[1s]')).toEqual([
        { t: 1_700_000_000_000_000, value: 1 },
        { t: 1_700_000_002_000_000, value: 3 },
      ]);
    });

    it('answers bad bodies with 400 and where, unknown precision or encoding clearly, and oversized bodies with 413', async () => {
      const server = await start(backend, { maxBodyBytes: 4096 });
      const post = (url: string, body: string | Buffer, headers: Record<string, string> = {}) =>
        fetch(`${server.url}${url}`, { method: 'POST', body, headers });
      const bad = await post('/write', 'cpu value=1\ncpu,host=a value=\n');
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ code: 'SLUICE_PARSE', line: 2, column: 18 });
      expect(server.db.query('COUNT:cpu')).toBe(0); // all or nothing
      const precision = await post('/api/v2/write?precision=n', 'cpu value=1');
      expect(precision.status).toBe(400);
      expect(((await precision.json()) as { error: string }).error).toMatch(/precision must be one of ns, us, ms, s, got "n"/);
      expect((await post('/write', 'cpu value=1', { 'content-encoding': 'br' })).status).toBe(415);
      expect((await post('/write', Buffer.from('not gzip'), { 'content-encoding': 'gzip' })).status).toBe(400);
      expect((await post('/write', 'x'.repeat(5000))).status).toBe(413);
      expect((await post('/write', gzipSync(`cpu value=1 ${'0'.repeat(10)}\n`.repeat(400)), { 'content-encoding': 'gzip' })).status).toBe(413);
      expect((await fetch(`${server.url}/health`)).status).toBe(200); // still serving
    });

    it('keeps every body whole: large ones in many chunks, concurrent ones, smaller after larger, without Content-Length', async () => {
      const server = await start(backend);
      // Body k holds `lines` points of series s<k>, values k * 1e6 + line: any byte of another body shows.
      const body = (k: number, lines: number) =>
        Array.from({ length: lines }, (_, i) => `s${k},pad=${'p'.repeat(40)} value=${k * 1e6 + i} ${1_700_000_000_000_000 + i}`).join('\n');
      const post = (text: string, chunked = false) =>
        fetch(`${server.url}/write?precision=us`, {
          method: 'POST',
          // A stream has no length: fetch sends it chunked.
          body: chunked ? new Blob([text]).stream() : text,
          ...(chunked ? { duplex: 'half' } : {}),
        } as RequestInit);
      const sizes = [20_000, 30_000, 50, 25_000, 10, 1_000];
      const replies = await Promise.all(sizes.map((lines, k) => post(body(k, lines))));
      expect(replies.map((reply) => reply.status)).toEqual(sizes.map(() => 204));
      for (const [k, lines] of sizes.entries()) {
        expect((await post(body(k + 10, Math.max(1, lines >> 1)))).status).toBe(204); // back to back, each smaller
      }
      expect((await post(body(20, 3_000), true)).status).toBe(204);
      const check = (k: number, lines: number) => {
        expect(server.db.query(`COUNT:s${k}`), `s${k}`).toBe(lines);
        expect(server.db.query(`SUM:s${k}`), `s${k}`).toBe(lines * k * 1e6 + (lines * (lines - 1)) / 2);
      };
      sizes.forEach((lines, k) => check(k, lines));
      sizes.forEach((lines, k) => check(k + 10, Math.max(1, lines >> 1)));
      check(20, 3_000);
    });
  });
}

describe('the binary event parser', () => {
  const tagText = fc.string({ minLength: 1, maxLength: 6, unit: fc.constantFrom('a', 'b', '1', ' ', ',', '\\', 'é') });
  const eventArb = fc.record({
    series: fc.constantFrom('temp', 'cpu.usage', 'a b'),
    tags: fc.dictionary(tagText.filter((k) => !k.includes('=')), tagText, { maxKeys: 3 }),
    timestamp: fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n),
    value: fc.double(),
  });

  it('parses what the encoder writes: keys, times and values exactly (NaN, -0, extremes)', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 1, maxLength: 20 }), (events) => {
        const batch = bindings.native().addon.parseEventFrame(encodeEvents(events));
        expect(batch.values.length).toBe(events.length);
        events.forEach((event, i) => {
          const key = bindings.native().addon.seriesKey(event.series, Object.entries(event.tags).flat());
          expect(batch.seriesKeys[batch.keyIndex[i]!]).toBe(key);
          expect(batch.timestamps[i]).toBe(event.timestamp);
          expect(Object.is(batch.values[i], event.value)).toBe(true);
        });
        expect(new Set(batch.seriesKeys).size).toBe(batch.seriesKeys.length);
      }),
      { numRuns: 500 },
    );
  });

  it('fuzz: random and truncated bytes never crash; each refusal is SLUICE_FRAME within the message', () => {
    const check = (bytes: Uint8Array) => {
      try {
        bindings.native().addon.parseEventFrame(bytes);
      } catch (error) {
        const e = error as { code?: string; offset?: number };
        expect(e.code, String(error)).toBe('SLUICE_FRAME');
        expect(e.offset).toBeLessThanOrEqual(bytes.length);
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), check), { numRuns: 5000 });
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 1, maxLength: 5 }), fc.nat(), fc.nat({ max: 255 }), (events, at, byte) => {
        const bytes = encodeEvents(events);
        // Cutting inside an event (not between two) must be refused.
        const boundaries = new Set<number>([0]);
        let end = 0;
        for (const event of events) boundaries.add((end += encodeEvents([event]).length));
        const cut = bytes.subarray(0, at % bytes.length);
        if (!boundaries.has(cut.length)) {
          expect(() => bindings.native().addon.parseEventFrame(cut)).toThrow(expect.objectContaining({ code: 'SLUICE_FRAME' }));
        }
        const flipped = Uint8Array.from(bytes);
        flipped[at % bytes.length] = byte;
        check(flipped);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('interleaved batches', () => {
  it('store what a point-by-point reference holds (series interleaved, out of order, rewritten)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ s: fc.nat({ max: 6 }), t: fc.integer({ min: 0, max: 40 }), v: fc.integer({ min: -99, max: 99 }) }), { minLength: 1, maxLength: 200 }),
        fc.boolean(),
        async (points, flushBetween) => {
          const temp = makeTempDir('sluice-interleave-');
          const db = await sluice.open({ dir: temp.dir, durability: 'none' });
          try {
            const reference = new Map<string, Map<number, number>>();
            const half = Math.floor(points.length / 2);
            for (const [from, to] of [[0, half], [half, points.length]] as const) {
              const chunk = points.slice(from, to);
              if (chunk.length === 0) continue;
              db.writeEventFrame(encodeEvents(chunk.map((p) => ({ series: 'm', tags: { s: String(p.s) }, timestamp: p.t, value: p.v }))));
              for (const p of chunk) {
                if (!reference.has(String(p.s))) reference.set(String(p.s), new Map());
                reference.get(String(p.s))!.set(p.t, p.v); // the last write of a timestamp wins
              }
              if (flushBetween) await db.flush();
            }
            for (const [s, expected] of reference) {
              const stored = [...db.scan({ series: 'm', tags: { s } })].map(([t, v]) => [Number(t), v]);
              expect(stored).toEqual([...expected].sort((a, b) => a[0]! - b[0]!));
            }
          } finally {
            await db.close();
            temp.cleanup();
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

for (const backend of ['uws', 'node'] as const) {
  describe(`auth on the ${backend} backend`, () => {
    const ADMIN = 'admin-token-0123456789';
    const READER = 'reader-token-0123456789';
    const PLANT1 = 'plant1-writer-0123456789';
    const tokens = [
      { token: ADMIN, scopes: ['read', 'write'] as ('read' | 'write')[] },
      { token: READER, scopes: ['read'] as ('read' | 'write')[] },
      { token: PLANT1, scopes: ['write', 'read'] as ('read' | 'write')[], namespaces: ['plant1'] },
    ];
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    it('asks HTTP requests for a token with the right scope and namespace, /health excepted', async () => {
      const server = await start(backend, { auth: { tokens } });
      const post = (url: string, body: string, headers: Record<string, string> = {}) => fetch(`${server.url}${url}`, { method: 'POST', body, headers });
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      const anonymous = await post('/write', 'plant1.temp value=1 1');
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
      expect(await anonymous.json()).toMatchObject({ code: 'SLUICE_UNAUTHORIZED' });
      expect((await post('/write', 'plant1.temp value=1 1', bearer('wrong-token-0123456789'))).status).toBe(401);
      expect((await post('/write', 'plant1.temp value=1 1', { authorization: 'Basic abc' })).status).toBe(401);
      const readOnly = await post('/write', 'plant1.temp value=1 1', bearer(READER));
      expect(readOnly.status).toBe(403);
      expect(((await readOnly.json()) as { error: string }).error).toMatch(/no write scope/);
      expect((await post('/write?precision=us', 'plant1.temp value=1 1', bearer(PLANT1))).status).toBe(204);
      expect((await post('/api/v2/write?precision=us', 'plant1.temp value=2 2', { authorization: `Token ${PLANT1}` })).status).toBe(204);
      const outside = await post('/write?precision=us', 'plant1.temp value=3 3\nplant2.temp value=3 3', bearer(PLANT1));
      expect(outside.status).toBe(403);
      expect(((await outside.json()) as { error: string }).error).toMatch(/may not write series "plant2.temp" \(namespace "plant2"/);
      expect((await post('/write?precision=us', 'plant2.temp value=4 4', bearer(ADMIN))).status).toBe(204);
      const query = (q: string, token?: string) => fetch(`${server.url}/query?q=${encodeURIComponent(q)}`, { headers: token ? bearer(token) : {} });
      expect((await query('COUNT:plant1.temp')).status).toBe(401);
      expect(await (await query('COUNT:plant1.temp', READER)).json()).toMatchObject({ result: 2 });
      expect((await query('COUNT:plant2.temp', PLANT1)).status).toBe(403);
      expect(await (await query('COUNT:plant1.temp', PLANT1)).json()).toMatchObject({ result: 2 });
      expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${server.url}/metrics`, { headers: bearer(READER) })).status).toBe(200);
      expect(server.db.query('COUNT:plant2.temp')).toBe(1);
    });

    it('refuses WebSocket upgrades without a write token, and messages outside the namespace', async () => {
      const server = await start(backend, { auth: { tokens } });
      const url = server.url.replace(/^http/, 'ws');
      const refused = (address: string) =>
        new Promise<number>((resolve) => {
          const ws = new WebSocket(address);
          ws.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
          ws.on('open', () => resolve(101));
          ws.on('error', () => undefined);
        });
      expect(await refused(`${url}/`)).toBe(401);
      expect(await refused(`${url}/?token=wrong-token-0123456789`)).toBe(401);
      const reader = await connect(server, `/?token=${READER}`); // may connect (to subscribe), not write
      reader.ws.send(seedFrame(1n, 1, 'plant1.temp', []));
      expect((await reader.closed).code).toBe(1008);
      expect(JSON.parse(reader.messages[0]!).error).toMatch(/no write scope/);
      const limited = await connect(server, `/?token=${PLANT1}`);
      limited.ws.send(seedFrame(1n, 1, 'plant1.temp', []));
      await eventually(() => server.db.query('COUNT:plant1.temp') === 1, 'the allowed message');
      limited.ws.send(seedFrame(2n, 2, 'plant2.temp', []));
      expect((await limited.closed).code).toBe(1008);
      expect(JSON.parse(limited.messages[0]!)).toMatchObject({ code: 'SLUICE_FORBIDDEN' });
      expect(server.db.query('COUNT:plant2.temp')).toBe(0);
      const admin = new WebSocket(`${url}/`, { headers: bearer(ADMIN) });
      cleanups.push(() => admin.terminate());
      await new Promise((resolve) => admin.once('open', resolve));
      admin.send(seedFrame(3n, 3, 'plant2.temp', []));
      await eventually(() => server.db.query('COUNT:plant2.temp') === 1, 'the admin message');
    });

    it('refuses to serve beyond loopback without tokens unless told, and checks the tokens given', async () => {
      await expect(sluice.startServer({ backend, host: '0.0.0.0', port: 0 })).rejects.toMatchObject({ code: 'SLUICE_INVALID_ARGUMENT', message: expect.stringMatching(/needs auth tokens/) });
      await expect(start(backend, { auth: { tokens: [{ token: 'short', scopes: ['read'] }] } })).rejects.toThrow(/at least 16 characters/);
      await expect(start(backend, { auth: { tokens: [{ token: ADMIN, scopes: ['admin' as 'read'] }] } })).rejects.toThrow(/scopes must be/);
      const open = await start(backend, { host: '0.0.0.0', auth: false });
      expect((await fetch(`http://127.0.0.1:${open.port}/metrics`)).status).toBe(200);
    });
  });
}

for (const backend of ['uws', 'node'] as const) {
  describe(`live queries over WebSocket on the ${backend} backend`, () => {
    it('streams events of a subscription, reports bad ones without closing, and unsubscribes', async () => {
      const server = await start(backend);
      const watcher = await connect(server);
      const producer = await connect(server);
      watcher.ws.send(JSON.stringify({ subscribe: 'SUM:temp:[room=hall]', id: 7 }));
      await eventually(() => watcher.messages.length === 1, 'the subscription');
      expect(JSON.parse(watcher.messages[0]!)).toEqual({ subscribed: 7 });
      producer.ws.send(seedFrame(1n, 2, 'temp', ['room=hall']));
      producer.ws.send(seedFrame(2n, 3, 'temp', ['room=attic']));
      producer.ws.send(seedFrame(3n, 5, 'temp', ['room=hall']));
      await eventually(() => watcher.messages.length === 3, 'two events');
      const events = watcher.messages.slice(1).map((m) => JSON.parse(m) as { id: number; event: { value: number; producers: number[] }; dropped: number });
      expect(events.map((e) => [e.id, e.event.value, e.dropped])).toEqual([[7, 2, 0], [7, 7, 0]]);
      expect(events[0]!.event.producers).toHaveLength(1);
      watcher.ws.send(JSON.stringify({ subscribe: 'SUM:temp:[room=', id: 8 }));
      await eventually(() => watcher.messages.length === 4, 'the refusal');
      expect(JSON.parse(watcher.messages[3]!)).toMatchObject({ id: 8, code: 'SLUICE_QUERY', column: 16 });
      watcher.ws.send(JSON.stringify({ unsubscribe: 7 }));
      await eventually(() => watcher.messages.length === 5, 'the unsubscription');
      expect(JSON.parse(watcher.messages[4]!)).toEqual({ unsubscribed: 7 });
      producer.ws.send(seedFrame(4n, 1, 'temp', ['room=hall']));
      await eventually(() => server.db.query('COUNT:temp') === 4, 'the last point');
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(watcher.messages).toHaveLength(5);
      expect(server.db.stats().liveQueries).toBe(0);
      const again = await connect(server);
      again.ws.send(JSON.stringify({ subscribe: 'COUNT:temp', id: 1 }));
      await eventually(() => server.db.stats().liveQueries === 1, 'a second subscription');
      again.ws.close();
      await eventually(() => server.db.stats().liveQueries === 0, 'its end with the connection');
    });

    it('asks subscriptions for the read scope and namespace', async () => {
      const writer = 'writer-only-0123456789';
      const plant1 = 'plant1-reader-0123456789';
      const server = await start(backend, { auth: { tokens: [{ token: writer, scopes: ['write'] }, { token: plant1, scopes: ['read'], namespaces: ['plant1'] }] } });
      const w = await connect(server, `/?token=${writer}`);
      w.ws.send(JSON.stringify({ subscribe: 'COUNT:plant1.temp', id: 1 }));
      const r = await connect(server, `/?token=${plant1}`);
      r.ws.send(JSON.stringify({ subscribe: 'COUNT:plant2.temp', id: 2 }));
      r.ws.send(JSON.stringify({ subscribe: 'COUNT:plant1.temp', id: 3 }));
      await eventually(() => w.messages.length === 1 && r.messages.length === 2, 'the answers');
      expect(JSON.parse(w.messages[0]!)).toMatchObject({ id: 1, code: 'SLUICE_FORBIDDEN', error: expect.stringMatching(/no read scope/) });
      expect(JSON.parse(r.messages[0]!)).toMatchObject({ id: 2, code: 'SLUICE_FORBIDDEN' });
      expect(JSON.parse(r.messages[1]!)).toEqual({ subscribed: 3 });
    });
  });
}
