// The client SDK in a real browser: Debian's Chromium (driven by playwright-core) loads a page
// from one origin that imports the browser bundle (dist/browser/sluice-client.js, built by
// `npm run build:ts`) and talks to a sluice server on another origin: a producer over WebSocket
// with durable acks, queries over HTTP (CORS), a live subscription and a writeback from the server.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/paths.js';
import { cleanups, startTestServer, type Server } from './helpers/server.js';

const CHROMIUM = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);
const BUNDLE = path.join(repoRoot, 'dist', 'browser', 'sluice-client.js');
const TOKEN = 'browser-token-0123456789';

if (!haveChromium && !process.env.CI) {
  console.warn(`browser-client.test.ts: skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set SLUICE_CHROMIUM)`);
}

/** A static server for the page and the bundle, on its own port: another origin than sluice's. */
async function startPageServer(): Promise<{ origin: string; close(): Promise<void> }> {
  const page = `<!doctype html><meta charset="utf-8"><title>sluice client</title>
<script type="module">
  import * as sluice from '/sluice-client.js';
  window.sluice = sluice;
  document.title = 'ready';
</script>`;
  const server = http.createServer((req, res) => {
    const file = req.url === '/sluice-client.js' ? BUNDLE : req.url === '/sluice-client.js.map' ? `${BUNDLE}.map` : undefined;
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
    } else if (file) {
      res.writeHead(200, { 'content-type': file.endsWith('.map') ? 'application/json' : 'text/javascript' }).end(fs.readFileSync(file));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

/** The page's globals as the scenarios use them (the test is typed without the DOM library; the
 * functions given to page.evaluate run in the page and may use nothing of this module). */
type PageGlobals = { sluice: typeof import('../lib/client/index.js') };

interface PageResult {
  health: { status: string; backend: string };
  stats: { acknowledged: number; pending: number; refused: number; connected: boolean };
  count: unknown;
  max: unknown;
  afterLines: unknown;
  events: number[];
  writebacks: string[];
  badQuery: { name: string; status: number; code: string; column: unknown };
  consoleErrors?: string[];
}

/** The scenario, run inside the page: everything it touches is the bundle's API. */
function scenario(page: Page, serverUrl: string, token: string | undefined): Promise<PageResult> {
  return page.evaluate(
    async ({ serverUrl, token }) => {
      const { SluiceClient } = (globalThis as unknown as PageGlobals).sluice;
      const until = async (check: () => boolean, what: string) => {
        for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
        if (!check()) throw new Error(`timed out waiting for ${what}`);
      };
      const client = new SluiceClient({ url: serverUrl, token });
      const health = await client.health();
      const producer = client.producer();
      const writebacks: string[] = [];
      producer.onWriteback((message) => writebacks.push(typeof message === 'string' ? message : `binary ${message.length}`));
      await producer.opened();
      const events: number[] = [];
      const subscription = await producer.subscribe('MAX:browser.temp:[room=lab]', (event) => events.push(event.value as number));
      for (let i = 0; i < 1000; i++) producer.write('browser.temp', { room: i % 2 ? 'lab' : 'office' }, 1_700_000_000_000_000 + i, i);
      await producer.durable();
      const stats = producer.stats();
      await until(() => events.length > 0 && writebacks.length > 0, 'a live event and a writeback');
      const count = await client.query('COUNT:browser.temp');
      const max = await client.query('MAX:browser.temp:[room=lab]');
      await client.writeLines('browser.temp,room=lab value=5000 1700000000001000', { precision: 'us' });
      const afterLines = await client.query('MAX:browser.temp:[room=lab]');
      await until(() => events.includes(5000), 'the live event of the line-protocol write');
      const badQuery = await client.query('AVG:browser.temp:[room=lab]:[1x]').then(
        () => ({ name: 'none', status: 0, code: '', column: undefined }),
        (error: { name: string; status: number; code: string; details: { column?: unknown } }) => ({ name: error.name, status: error.status, code: error.code, column: error.details.column }),
      );
      subscription.close();
      producer.close();
      return { health, stats, count, max, afterLines, events, writebacks, badQuery };
    },
    { serverUrl, token },
  );
}

describe.skipIf(!haveChromium && !process.env.CI)('client SDK in a browser (Chromium)', () => {
  let browser: Browser | undefined;
  let pages: Awaited<ReturnType<typeof startPageServer>>;
  // Each test fails with this (CI without Chromium), so the report counts them as failed.
  let missing: string | undefined;

  beforeAll(async () => {
    if (!haveChromium) missing = `no Chromium at ${CHROMIUM}: the browser test needs it (apt-get install chromium; .ci/run installs it)`;
    else if (!fs.existsSync(BUNDLE)) missing = `no browser bundle at ${BUNDLE}: run npm run build:ts (or npm run build:browser)`;
    if (missing) return;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // No network on the test machines: nothing that would phone home, no QUIC.
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    pages = await startPageServer();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await pages?.close();
  });

  async function openPage(): Promise<{ page: Page; errors: string[] }> {
    if (missing || !browser) throw new Error(missing ?? 'Chromium did not start');
    const page = await browser.newPage();
    cleanups.push(() => page.close());
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${pages.origin}/`);
    await page.waitForFunction(() => (globalThis as unknown as { document: { title: string } }).document.title === 'ready', undefined, { timeout: 10_000 });
    return { page, errors };
  }

  /** Every live event is written back to the producer that caused it, as `seen <value>`. */
  function writebackOnEvents(server: Server): void {
    const live = server.db.live('LAST:browser.temp', (event) => void server.writeback(event.producers[0]!, `seen ${event.value}`));
    cleanups.push(() => live.close());
  }

  for (const backend of ['uws', 'node'] as const) {
    it(`writes, acknowledges, queries, subscribes and receives writebacks across origins (${backend} backend)`, async () => {
      const server = await startTestServer(backend, { syncIntervalMs: 20 });
      writebackOnEvents(server);
      const { page, errors } = await openPage();
      const result = await scenario(page, server.url, undefined);
      expect(result.health).toMatchObject({ status: 'ok', backend });
      expect(result.stats).toMatchObject({ acknowledged: 1000, pending: 0, refused: 0, connected: true });
      expect(result.count).toBe(1000);
      expect(result.max).toBe(999);
      expect(result.afterLines).toBe(5000);
      expect(result.events.length).toBeGreaterThan(0);
      expect(Math.max(...result.events)).toBe(5000);
      expect(result.writebacks[0]).toMatch(/^seen \d+$/);
      expect(result.badQuery).toEqual({ name: 'SluiceRequestError', status: 400, code: 'SLUICE_QUERY', column: 31 });
      expect(server.db.query('COUNT:browser.temp')).toBe(1001);
      expect(errors).toEqual([]);
    });
  }

  it('presents a bearer token cross-origin (Authorization on HTTP after a preflight, ?token= on the WebSocket) and reads refusals', async () => {
    const server = await startTestServer('uws', { syncIntervalMs: 20, auth: { tokens: [{ token: TOKEN, scopes: ['read', 'write'], namespaces: ['browser'] }] } });
    writebackOnEvents(server);
    const { page } = await openPage();
    const result = await scenario(page, server.url, TOKEN);
    expect(result.stats).toMatchObject({ acknowledged: 1000, pending: 0 });
    expect([result.count, result.afterLines]).toEqual([1000, 5000]);
    expect(result.writebacks.length).toBeGreaterThan(0);
    // Without the token the page gets the 401 and can read it (the refusal carries the CORS headers).
    const refused = await page.evaluate(async (serverUrl) => {
      const { SluiceClient } = (globalThis as unknown as PageGlobals).sluice;
      return new SluiceClient({ url: serverUrl }).query('COUNT:browser.temp').then(
        () => 'answered',
        (error: { status?: number; code?: string }) => `${error.status} ${error.code}`,
      );
    }, server.url);
    expect(refused).toBe('401 SLUICE_UNAUTHORIZED');
  });

  it('cannot reach a server whose cors policy does not allow the page', async () => {
    const server = await startTestServer('node', { cors: ['http://dashboard.example'] });
    const { page } = await openPage();
    const outcome = await page.evaluate(async (serverUrl) => {
      const { SluiceClient } = (globalThis as unknown as PageGlobals).sluice;
      const client = new SluiceClient({ url: serverUrl });
      const query = await client.query('COUNT:x').then(() => 'answered', (error: Error) => error.name);
      const socket = await new Promise<string>((resolve) => {
        const ws = new WebSocket(serverUrl.replace(/^http/, 'ws') + '/');
        ws.onopen = () => resolve('open');
        ws.onerror = () => resolve('refused');
      });
      return { query, socket };
    }, server.url);
    expect(outcome).toEqual({ query: 'TypeError', socket: 'refused' }); // the browser's "Failed to fetch"
    expect(server.connections).toBe(0);
  });
});
