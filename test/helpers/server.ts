// A server started for one test, on a free port and a fresh data directory, closed after it.
import path from 'node:path';
import { afterEach } from 'vitest';
import { makeTempDir } from './paths.js';
import { sluice } from './sluice.js';

export type Server = Awaited<ReturnType<typeof sluice.startServer>>;

/** Cleanups run after each test of the file that imports this, last registered first. */
export const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

export async function startTestServer(backend: 'uws' | 'node', options: Parameters<typeof sluice.startServer>[0] = {}): Promise<Server> {
  const temp = makeTempDir();
  cleanups.push(temp.cleanup);
  const server = await sluice.startServer({ port: 0, backend, dataDir: path.join(temp.dir, 'data'), ...options });
  cleanups.push(() => server.close());
  return server;
}
