import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { clientModule, sluice } from './helpers/sluice.js';
import { makeTempDir } from './helpers/paths.js';

type Server = Awaited<ReturnType<typeof sluice.startServer>>;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(options: Parameters<typeof sluice.startServer>[0] = {}): Promise<Server> {
  const temp = makeTempDir();
  cleanups.push(temp.cleanup);
  const server = await sluice.startServer({ port: 0, dataDir: path.join(temp.dir, 'data'), ...options });
  cleanups.push(() => server.close());
  return server;
}

for (const backend of ['uws', 'node'] as const) {
  describe(`server on the ${backend} backend`, () => {
    it('answers GET /health with 200 and JSON describing the running server', async () => {
      const server = await start({ backend });
      expect(server.backend).toBe(backend);
      const response = await fetch(`${server.url}/health`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json');
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ status: 'ok', version: sluice.version, backend, dataDir: server.dataDir });
      expect(body.uptimeSeconds).toBeGreaterThanOrEqual(0);
      expect(body.native).toMatchObject({ napiVersion: 8, file: sluice.nativeInfo().file });
    });

    it('answers GET /query with the DSL result as JSON, and a bad query with 400 and its position', async () => {
      const server = await start({ backend });
      server.db.write('temp', { sensor: '1' }, 1_000_000, 20);
      server.db.write('temp', { sensor: '1' }, 2_000_000, 22);
      server.db.write('temp', { sensor: '2' }, 2_000_000, 30);
      const q = (text: string, extra = '') => fetch(`${server.url}/query?q=${encodeURIComponent(text)}${extra}`);
      const plain = await q('AVG:temp:[sensor=1]:[1609459200000000,now]', '&now=1700000000000000');
      expect(plain.status).toBe(200);
      expect(await plain.json()).toEqual({ query: 'AVG:temp:[sensor=1]:[1609459200000000,now]', result: null });
      expect(((await (await q('AVG:temp:[sensor=1]')).json()) as { result: unknown }).result).toBe(21);
      expect(((await (await q('MAX:temp BY sensor')).json()) as { result: unknown }).result).toEqual([
        { tags: { sensor: '1' }, value: 22 },
        { tags: { sensor: '2' }, value: 30 },
      ]);
      const bad = await q('AVG:temp:[sensor=1]:[1x]');
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ code: 'SLUICE_QUERY', column: 23, found: '"x"' });
      expect((await fetch(`${server.url}/query`)).status).toBe(400);
      expect((await q('COUNT:temp', '&now=soon')).status).toBe(400);
    });

    it('answers an unknown path with 404 and a wrong method with 405 and Allow', async () => {
      const server = await start({ backend });
      const missing = await fetch(`${server.url}/no/such/thing?x=1`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ code: 'SLUICE_NOT_FOUND', error: expect.stringContaining('/no/such/thing') });
      const wrongMethod = await fetch(`${server.url}/health`, { method: 'DELETE' });
      expect(wrongMethod.status).toBe(405);
      expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD');
      expect(await wrongMethod.json()).toMatchObject({ code: 'SLUICE_METHOD' });
    });

    it('serves many requests on kept-alive connections', async () => {
      const server = await start({ backend });
      const replies = await Promise.all(Array.from({ length: 50 }, () => fetch(`${server.url}/health`)));
      expect(replies.map((reply) => reply.status)).toEqual(Array(50).fill(200));
      await Promise.all(replies.map((reply) => reply.text()));
    });

    it('refuses a port that is already taken, and frees the data directory again', async () => {
      const first = await start({ backend });
      const temp = makeTempDir();
      cleanups.push(temp.cleanup);
      const dataDir = path.join(temp.dir, 'data');
      await expect(sluice.startServer({ backend, port: first.port, dataDir })).rejects.toMatchObject({
        code: 'SLUICE_LISTEN',
        message: expect.stringContaining(`${first.port}`),
      });
      const reopened = await sluice.open({ dir: dataDir }); // the failed start left the directory free
      await reopened.close();
    });

    it('stops accepting connections after close() and releases the data directory', async () => {
      const server = await start({ backend });
      expect(fs.readFileSync(path.join(server.dataDir, 'LOCK'), 'utf8').trim()).toBe(String(process.pid));
      await fetch(`${server.url}/health`).then((reply) => reply.text()); // leave a kept-alive connection open
      await server.close();
      await server.close(); // twice is fine
      const reopened = await sluice.open({ dir: server.dataDir });
      await reopened.close();
      const refused = await new Promise<boolean>((resolve) => {
        const socket = net.connect(server.port, '127.0.0.1');
        socket.on('connect', () => (socket.destroy(), resolve(false)));
        socket.on('error', () => resolve(true));
      });
      expect(refused).toBe(true);
    });

    it('answers CORS preflights and marks replies for pages on this machine by default (loopback)', async () => {
      const server = await start({ backend });
      const page = 'http://localhost:5173';
      const preflight = await fetch(`${server.url}/query?q=COUNT:x`, {
        method: 'OPTIONS',
        headers: { origin: page, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe(page);
      expect(preflight.headers.get('access-control-allow-methods')).toBe('GET, HEAD');
      expect(preflight.headers.get('access-control-allow-headers')).toMatch(/^Authorization, Content-Type\b/);
      expect(preflight.headers.get('access-control-allow-credentials')).toBeNull();
      expect(preflight.headers.get('vary')).toMatch(/Origin/);
      const write = await fetch(`${server.url}/write`, { method: 'OPTIONS', headers: { origin: 'http://127.0.0.1:8080', 'access-control-request-method': 'POST' } });
      expect([write.status, write.headers.get('access-control-allow-methods')]).toEqual([204, 'POST']);
      const perWorkflow = await fetch(`${server.url}/workflows/w1`, { method: 'OPTIONS', headers: { origin: 'http://[::1]:3000', 'access-control-request-method': 'DELETE' } });
      expect([perWorkflow.status, perWorkflow.headers.get('access-control-allow-methods')]).toEqual([204, 'GET, HEAD, POST, DELETE']);

      server.db.write('cors', {}, 1n, 7);
      const query = await fetch(`${server.url}/query?q=${encodeURIComponent('MAX:cors')}`, { headers: { origin: page } });
      expect(query.status).toBe(200);
      expect(query.headers.get('access-control-allow-origin')).toBe(page);
      expect(query.headers.get('vary')).toBe('Origin');
      expect(((await query.json()) as { result: unknown }).result).toBe(7);
      const posted = await fetch(`${server.url}/write?precision=us`, { method: 'POST', body: 'cors value=8 2', headers: { origin: page, 'content-type': 'text/plain' } });
      expect([posted.status, posted.headers.get('access-control-allow-origin')]).toEqual([204, page]);
      const missing = await fetch(`${server.url}/nowhere`, { headers: { origin: page } });
      expect([missing.status, missing.headers.get('access-control-allow-origin')]).toEqual([404, page]); // the page can read why

      // Without an Origin header (curl, Telegraf, Node): no CORS headers, nothing refused.
      const plain = await fetch(`${server.url}/health`);
      expect([plain.status, plain.headers.get('access-control-allow-origin')]).toEqual([200, null]);
    });

    it('refuses requests, preflights and WebSocket upgrades from origins the cors policy does not allow', async () => {
      const server = await start({ backend });
      const evil = 'https://evil.example';
      const attempts: RequestInit[] = [
        { headers: { origin: evil } },
        { method: 'OPTIONS', headers: { origin: evil, 'access-control-request-method': 'POST' } },
        { method: 'POST', body: 'stolen value=1 1', headers: { origin: evil, 'content-type': 'text/plain' } }, // a "simple" request: no preflight
      ];
      for (const init of attempts) {
        const reply = await fetch(`${server.url}/write`, init);
        expect(reply.status).toBe(403);
        expect(reply.headers.get('access-control-allow-origin')).toBeNull();
        expect(await reply.json()).toMatchObject({ code: 'SLUICE_FORBIDDEN', error: expect.stringContaining(`--cors ${evil}`) });
      }
      expect(server.db.query('COUNT:stolen')).toBe(0);
      expect((await fetch(`${server.url}/health`, { headers: { origin: 'null' } })).status).toBe(403); // file:// pages, sandboxed frames

      const upgrade = (origin?: string) =>
        new Promise<number>((resolve) => {
          const ws = new WebSocket(server.url.replace(/^http/, 'ws') + '/', origin ? { origin } : {});
          ws.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
          ws.on('open', () => (ws.close(), resolve(101)));
          ws.on('error', () => undefined);
        });
      expect(await upgrade(evil)).toBe(403);
      expect(await upgrade('http://localhost:5173')).toBe(101);
      expect(await upgrade()).toBe(101);
    });

    it('takes cors as an allow-list, as "*", or false, and refuses entries that are not origins', async () => {
      const listed = await start({ backend, cors: ['http://app.example:8080', 'https://dash.example/'] });
      const ask = (server: Server, origin: string) =>
        fetch(`${server.url}/query`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-private-network': 'true' } });
      const app = await ask(listed, 'http://app.example:8080');
      expect([app.status, app.headers.get('access-control-allow-origin'), app.headers.get('access-control-allow-private-network')]).toEqual([204, 'http://app.example:8080', 'true']);
      expect((await ask(listed, 'https://dash.example')).status).toBe(204);
      expect((await ask(listed, 'http://localhost:5173')).status).toBe(403); // a list replaces the loopback default
      expect((await ask(listed, 'http://app.example:8081')).status).toBe(403);

      const any = await start({ backend, cors: '*' });
      const anywhere = await fetch(`${any.url}/health`, { headers: { origin: 'https://anywhere.example' } });
      expect([anywhere.status, anywhere.headers.get('access-control-allow-origin'), anywhere.headers.get('vary')]).toEqual([200, '*', null]);

      const none = await start({ backend, cors: false });
      expect((await ask(none, 'http://localhost:5173')).status).toBe(403);
      expect((await fetch(`${none.url}/health`)).status).toBe(200);

      for (const [cors, message] of [
        [['http://app.example/path'], /cors\[0\] must be an origin/],
        [['app.example'], /cors\[0\] must be an origin/],
        [['*', 'http://a.example'], /give it alone/],
        ['yes', /cors must be/],
      ] as const) {
        await expect(start({ backend, cors: cors as never })).rejects.toMatchObject({ code: 'SLUICE_INVALID_ARGUMENT', message: expect.stringMatching(message) });
      }
    });

    it('allows no browser pages by default when binding beyond loopback', async () => {
      const server = await start({ backend, host: '0.0.0.0', auth: false });
      const reply = await fetch(`http://127.0.0.1:${server.port}/health`, { headers: { origin: 'http://localhost:5173' } });
      expect(reply.status).toBe(403);
      expect(((await reply.json()) as { error: string }).error).toMatch(/no browser pages \(the default beyond loopback\)/);
    });

    it('is reachable through the client SDK', async () => {
      const server = await start({ backend });
      const client = new clientModule.SluiceClient({ url: server.url });
      await expect(client.health()).resolves.toMatchObject({ status: 'ok', backend });
    });
  });
}

describe('server options and data directory', () => {
  it('auto picks uWebSockets.js where it loads', async () => {
    const server = await start();
    expect(server.backend).toBe('uws');
    expect(server.fallbackReason).toBeUndefined();
  });

  it('rejects bad options with SLUICE_INVALID_ARGUMENT and a reason naming the accepted values', async () => {
    const cases: [Parameters<typeof sluice.startServer>[0], RegExp][] = [
      [{ port: 70000 }, /port must be an integer in 0\.\.65535, got 70000/],
      [{ port: 1.5 }, /port must be an integer/],
      [{ host: '' }, /host must be a non-empty string/],
      [{ backend: 'nginx' as never }, /backend must be one of auto, uws, node/],
    ];
    for (const [options, message] of cases) {
      await expect(sluice.startServer(options)).rejects.toMatchObject({ code: 'SLUICE_INVALID_ARGUMENT', message: expect.stringMatching(message) });
    }
  });

  it('shares one engine between two servers of one process on the same data directory', async () => {
    const first = await start();
    const second = await sluice.startServer({ port: 0, dataDir: first.dataDir });
    cleanups.push(() => second.close());
    first.db.write('shared', {}, 1n, 42);
    expect(second.db.aggregate({ series: 'shared', op: 'last' })).toBe(42);
  });

  it('takes over a lock left by a process that no longer runs', async () => {
    const temp = makeTempDir();
    cleanups.push(temp.cleanup);
    const dataDir = path.join(temp.dir, 'data');
    fs.mkdirSync(dataDir);
    fs.writeFileSync(path.join(dataDir, 'LOCK'), '2147483646\n'); // no such process
    const server = await sluice.startServer({ port: 0, dataDir });
    cleanups.push(() => server.close());
    expect(fs.readFileSync(path.join(dataDir, 'LOCK'), 'utf8').trim()).toBe(String(process.pid));
  });

  it('reports a data directory that cannot be created', async () => {
    const temp = makeTempDir();
    cleanups.push(temp.cleanup);
    const file = path.join(temp.dir, 'a-file');
    fs.writeFileSync(file, '');
    await expect(sluice.startServer({ port: 0, dataDir: path.join(file, 'data') })).rejects.toMatchObject({
      code: 'SLUICE_IO',
      message: expect.stringContaining(file),
    });
  });

  it('the client rejects URLs it cannot use', () => {
    expect(() => new clientModule.SluiceClient({ url: 'localhost:2077' })).toThrow(/absolute http\(s\) URL|http or https/);
    expect(() => new clientModule.SluiceClient({ url: 'ftp://x' })).toThrow(/http or https/);
  });
});
