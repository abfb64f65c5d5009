// The SDK examples (sdk/examples), built with the real toolchains (scripts/build-guests.js:
// AssemblyScript, and Debian's rustc for wasm32), deployed to a real server and driven by a real
// WebSocket producer and a real HTTP service.
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import { beforeAll, describe, expect, it } from 'vitest';
import { until } from './helpers/guests.js';
import { cleanups, startTestServer, type Server } from './helpers/server.js';

const require = createRequire(import.meta.url);
const { buildGuests } = require('../scripts/build-guests.js') as {
  buildGuests(options?: { names?: string[]; skipMissing?: boolean; onSkip?: (name: string, why: string) => void }): Promise<Array<{ name: string; file: string }>>;
};

// CI installs every toolchain (.ci/run); elsewhere an example whose toolchain is missing (Debian's
// rustc with the wasm32 std) is skipped with the reason, as the browser test does without Chromium.
const modules = new Map<string, Uint8Array>();
const missing = new Map<string, string>();
beforeAll(async () => {
  const built = await buildGuests({ skipMissing: !process.env.CI, onSkip: (name, why) => missing.set(name, why) });
  for (const { name, file } of built) modules.set(name, fs.readFileSync(file));
  for (const [name, why] of missing) console.warn(`workflow-sdk: ${name} not built, its test is skipped: ${why}`);
}, 300_000);

/** The example's module, or a skip of the test when its toolchain is missing outside CI. */
function moduleOf(name: string, skip: (note?: string) => void): Uint8Array {
  const module = modules.get(name);
  if (!module) skip(missing.get(name));
  return module!;
}

async function producerOf(server: Server): Promise<{ socket: WebSocket; messages: string[] }> {
  const socket = new WebSocket(server.url.replace('http', 'ws'));
  cleanups.push(() => socket.close());
  const messages: string[] = [];
  socket.on('message', (data) => messages.push(String(data)));
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  return { socket, messages };
}

async function deployed(server: Server, name: string, module: Uint8Array, env: Record<string, string> = {}): Promise<void> {
  await server.workflows!.deploy({ name, module, env });
  await until(`${name} to register its live query`, () => server.workflows!.status(name).handles[0]?.handle);
}

describe('SDK examples', () => {
  for (const name of ['threshold-alert-as', 'threshold-alert-rust']) {
    it(`${name}: alerts and writes back to the producer when the live average crosses THRESHOLD`, async (context) => {
      const module = moduleOf(name, context.skip);
      const server = await startTestServer('uws', { workflows: { pollWaitMs: 200 } });
      await deployed(server, name, module, { THRESHOLD: '50' });
      const { socket, messages } = await producerOf(server);
      const now = Date.now() * 1000;
      socket.send(JSON.stringify({ series: 'cpu.usage', tags: { host: 'server-01' }, timestamp: now, value: 40 }));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(server.db.query('COUNT:alerts:[]')).toBe(0);
      socket.send(JSON.stringify({ series: 'cpu.usage', tags: { host: 'server-01' }, timestamp: now + 1000, value: 90 }));
      const alert = await until('the writeback', () => messages.find((m) => m.includes('"alert"')));
      expect(JSON.parse(alert)).toEqual({ alert: 'cpu.usage', value: 65, threshold: 50 });
      await until('the alert point', () => server.db.query('COUNT:alerts:[severity=high AND host=server-01]') === 1);
      expect(server.db.query('LAST:alerts:[]')).toBe(65);
      expect(server.workflows!.logs(name).join('\n')).toMatch(/watching AVG:cpu\.usage/);
    });
  }

  it('anomaly (Rust): compares live values with the hourly baseline and keeps its count in state', async (context) => {
    const module = moduleOf('anomaly', context.skip);
    const server = await startTestServer('uws', { workflows: { pollWaitMs: 200 } });
    const now = Date.now() * 1000;
    // An hour of history around 50 (±1), ending two minutes ago.
    for (let i = 0; i < 60; i++) server.db.write('cpu.usage', { host: 'server-01' }, now - 3_600_000_000 + i * 58_000_000, 50 + (i % 3) - 1);
    await deployed(server, 'anomaly', module, { SIGMAS: '3' });
    const { socket } = await producerOf(server);
    socket.send(JSON.stringify({ series: 'cpu.usage', tags: { host: 'server-01' }, timestamp: now, value: 51 }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(server.db.query('COUNT:anomalies:[]')).toBe(0);
    socket.send(JSON.stringify({ series: 'cpu.usage', tags: { host: 'server-01' }, timestamp: now + 1000, value: 250 }));
    await until('the anomaly', () => server.db.query('COUNT:anomalies:[direction=high]') === 1);
    expect(server.workflows!.logs('anomaly').join('\n')).toMatch(/anomaly #1: \d+(\.\d+)? is \d+\.\d deviations from the hourly mean/);
    // The count lives in durable state: a restarted instance continues from it.
    await server.workflows!.stop('anomaly');
    await server.workflows!.start('anomaly');
    await until('the handle again', () => server.workflows!.status('anomaly').handles[0]?.handle);
    socket.send(JSON.stringify({ series: 'cpu.usage', tags: { host: 'server-01' }, timestamp: now + 2000, value: 400 }));
    await until('anomaly #2', () => server.workflows!.logs('anomaly').some((line) => line.includes('anomaly #2')));
  });

  it('http-enrich (AssemblyScript): GETs per event from a local service and POSTs a summary', async (context) => {
    const module = moduleOf('http-enrich', context.skip);
    const posts: string[] = [];
    const service = http.createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        if (request.method === 'POST') posts.push(body);
        response.end(request.url === '/capacity/web-1' ? ' 128.5\n' : 'not a number');
      });
    });
    await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => service.close(() => resolve())));
    const port = (service.address() as { port: number }).port;
    const server = await startTestServer('node', { workflows: { pollWaitMs: 200, httpAllow: [`127.0.0.1:${port}`] } });
    await deployed(server, 'http-enrich', module, {
      ENRICH_URL: `http://127.0.0.1:${port}/capacity/`,
      SUMMARY_URL: `http://127.0.0.1:${port}/summary`,
    });
    const now = Date.now() * 1000;
    for (let i = 0; i < 10; i++) {
      server.db.write('requests', { service: 'api', host: 'web-1' }, now + i, 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await until('enriched points', () => (server.db.query('COUNT:requests.enriched:[host=web-1]') as number) >= 1);
    expect(server.db.query('LAST:requests.enriched:[host=web-1]')).toBe(128.5);
    await until('the summary POST', () => posts.length >= 1);
    expect(JSON.parse(posts[0]!)).toMatchObject({ seen: 10 });
  });
});

it('every example module is in build/guests (those whose toolchain is here)', () => {
  expect([...modules.keys(), ...missing.keys()].sort()).toEqual(['anomaly', 'http-enrich', 'threshold-alert-as', 'threshold-alert-rust']);
  if (process.env.CI) expect(missing.size).toBe(0);
  for (const module of modules.values()) expect(WebAssembly.validate(module)).toBe(true);
});
