// The client SDK (sluice/client) against a real server: producer batching, durable acks,
// reconnects with resend, the bounded buffer, writebacks, queries and tokens.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTempDir } from './helpers/paths.js';
import { cleanups, startTestServer } from './helpers/server.js';
import { clientModule, sluice } from './helpers/sluice.js';

const { SluiceClient } = clientModule;

async function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('client SDK', () => {
  it('batches a producer’s points into messages, resolves durable() on the server’s acks, and queries', async () => {
    const server = await startTestServer('uws', { syncIntervalMs: 20 });
    const client = new SluiceClient({ url: server.url });
    const producer = client.producer();
    cleanups.push(() => producer.close());
    await producer.opened();
    for (let i = 0; i < 10_000; i++) expect(producer.write('tick', { symbol: i % 2 ? 'ACME' : 'INIT' }, 1_700_000_000_000_000 + i, i)).toBe(true);
    await producer.durable();
    expect(producer.stats()).toMatchObject({ acknowledged: 10_000, pending: 0, refused: 0, connected: true });
    expect(server.db.stats().walUnsyncedBytes).toBe(0);
    expect(await client.query('COUNT:tick BY symbol')).toEqual([
      { tags: { symbol: 'ACME' }, value: 5_000 },
      { tags: { symbol: 'INIT' }, value: 5_000 },
    ]);
    expect(server.db.stats().pointsWritten).toBe(10_000);
    await client.writeLines('tick,symbol=ACME value=1 1', { precision: 'us' });
    expect(await client.query('FIRST:tick:[symbol=ACME]')).toBe(1);
    await expect(client.query('AVG:tick:[symbol=')).rejects.toMatchObject({ status: 400, code: 'SLUICE_QUERY', details: expect.objectContaining({ column: 18 }) });
  });

  it('receives writebacks from the server', async () => {
    const server = await startTestServer('node');
    const producer = new SluiceClient({ url: server.url }).producer();
    cleanups.push(() => producer.close());
    const received: Array<string | Uint8Array> = [];
    producer.onWriteback((data) => received.push(data));
    const live = server.db.live('LAST:sensor', (event) => void server.writeback(event.producers[0]!, `seen ${event.value}`));
    cleanups.push(() => live.close());
    await producer.opened();
    producer.write('sensor', {}, 1, 42);
    await eventually(() => received.length === 1, 'the writeback');
    expect(received).toEqual(['seen 42']);
  });

  it('keeps points while the server is away, resends what was not acknowledged, and bounds its buffer', async () => {
    const temp = makeTempDir();
    cleanups.push(temp.cleanup);
    const dataDir = path.join(temp.dir, 'data');
    // A long sync interval: the first server stores point 1 but closes before acknowledging it.
    let server = await sluice.startServer({ port: 0, dataDir, syncIntervalMs: 60_000 });
    const port = server.port;
    const producer = new SluiceClient({ url: server.url }).producer({ maxBufferedPoints: 100, reconnectMinMs: 20, reconnectMaxMs: 100 });
    cleanups.push(() => producer.close());
    await producer.opened();
    producer.write('feed', {}, 1, 1);
    await eventually(() => server.db.query('COUNT:feed') === 1, 'point 1 on the server');
    await server.close();
    await eventually(() => !producer.stats().connected, 'the disconnect');
    expect(producer.stats()).toMatchObject({ acknowledged: 0, pending: 1 });
    for (let i = 2; i <= 100; i++) expect(producer.write('feed', {}, i, i)).toBe(true);
    expect(producer.write('feed', {}, 101, 101)).toBe(false); // full: refused and counted, never dropped silently
    expect(producer.stats()).toMatchObject({ pending: 100, refused: 1 });
    server = await sluice.startServer({ port, dataDir, syncIntervalMs: 10 });
    cleanups.push(() => server.close());
    await producer.durable();
    expect(producer.stats()).toMatchObject({ acknowledged: 100, pending: 0 });
    expect(producer.stats().reconnects).toBeGreaterThanOrEqual(1);
    // Point 1 was sent twice (at least once); the same timestamp stores it once.
    expect(server.db.query('COUNT:feed')).toBe(100);
    expect(server.db.query('SUM:feed')).toBe(5050);
  });

  it('subscribes to live queries over its connection', async () => {
    const server = await startTestServer('uws');
    const client = new SluiceClient({ url: server.url });
    const watcher = client.producer();
    const producer = client.producer();
    cleanups.push(() => watcher.close(), () => producer.close());
    await Promise.all([watcher.opened(), producer.opened()]);
    const values: Array<number | null> = [];
    const subscription = await watcher.subscribe('MAX:temp:[room=hall]', (event) => void values.push(event.value));
    await expect(watcher.subscribe('MAX:temp:[room=', () => undefined)).rejects.toMatchObject({ code: 'SLUICE_QUERY', column: 16 });
    producer.write('temp', { room: 'hall' }, 1, 20);
    await producer.durable();
    producer.write('temp', { room: 'hall' }, 2, 18);
    await producer.durable();
    await eventually(() => values.length === 2, 'two events');
    expect(values).toEqual([20, 20]);
    expect(subscription.dropped).toBe(0);
    subscription.close();
    await eventually(() => server.db.stats().liveQueries === 0, 'the unsubscription');
  });

  it('sends its token, and reports refusals with status and code', async () => {
    const token = 'client-test-token-0123';
    const server = await startTestServer('uws', { auth: { tokens: [{ token, scopes: ['read', 'write'] }] } });
    await expect(new SluiceClient({ url: server.url }).query('COUNT:x')).rejects.toMatchObject({ status: 401, code: 'SLUICE_UNAUTHORIZED' });
    const client = new SluiceClient({ url: server.url, token });
    const producer = client.producer();
    cleanups.push(() => producer.close());
    await producer.opened();
    producer.write('x', {}, 1, 1);
    await producer.durable();
    expect(await client.query('COUNT:x')).toBe(1);
  });
});
