// `sluice serve` as a library call: one process, one data directory, one port.
import { native } from '../../bindings/index.js';
import { SluiceError } from '../errors.js';
import { version } from '../package-info.js';
import { open, type Database } from '../tsdb/index.js';
import type { BackendName, HttpBackend } from './backend.js';
import { jsonReply, Router } from './http.js';
import { createNodeBackend } from './node-backend.js';
import { createUwsBackend } from './uws-backend.js';
import { queryHandler } from './query.js';

export type { BackendName } from './backend.js';

export const DEFAULT_PORT = 2077;
export const DEFAULT_HOST = '127.0.0.1';
const BACKEND_CHOICES = ['auto', 'uws', 'node'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface ServerOptions {
  /** Address to bind; default 127.0.0.1. */
  host?: string;
  /** TCP port; default 2077; 0 picks a free one. */
  port?: number;
  /** `auto` (default) uses uWebSockets.js and falls back to node:http when it cannot load. */
  backend?: BackendChoice;
  /** Data directory; default $SLUICE_DATA_DIR or ./sluice-data. */
  dataDir?: string;
}

export interface SluiceServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly backend: BackendName;
  /** Why `auto` did not get uWebSockets.js, when it did not. */
  readonly fallbackReason: string | undefined;
  readonly dataDir: string;
  /** The database the server serves. */
  readonly db: Database;
  /** Stops listening, closes connections and closes the database. */
  close(): Promise<void>;
}

function invalid(message: string): SluiceError {
  return new SluiceError('SLUICE_INVALID_ARGUMENT', message);
}

function validateOptions(options: ServerOptions): Required<Omit<ServerOptions, 'dataDir'>> {
  const { host = DEFAULT_HOST, port = DEFAULT_PORT, backend = 'auto' } = options;
  if (typeof host !== 'string' || host.length === 0) throw invalid(`host must be a non-empty string, got ${JSON.stringify(host)}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalid(`port must be an integer in 0..65535, got ${port}`);
  if (!BACKEND_CHOICES.includes(backend)) {
    throw invalid(`backend must be one of ${BACKEND_CHOICES.join(', ')}, got ${JSON.stringify(backend)}`);
  }
  return { host, port, backend };
}

function createBackend(choice: BackendChoice, router: Router): { backend: HttpBackend; fallbackReason?: string } {
  if (choice === 'node') return { backend: createNodeBackend(router.handle) };
  if (choice === 'uws') return { backend: createUwsBackend(router.handle) };
  try {
    return { backend: createUwsBackend(router.handle) };
  } catch (error) {
    if ((error as SluiceError).code !== 'SLUICE_BACKEND_UNAVAILABLE') throw error;
    return { backend: createNodeBackend(router.handle), fallbackReason: (error as Error).message };
  }
}

export async function startServer(options: ServerOptions = {}): Promise<SluiceServer> {
  const { host, port, backend: backendChoice } = validateOptions(options);
  const loadedNative = native(); // fail at start, not on the first write, when the addon cannot load
  const db = await open({ dir: options.dataDir });
  const dataDir = db.dir;
  const startedAt = Date.now();

  const router = new Router();
  let backendName: BackendName = 'node';
  router.add('GET', '/health', () =>
    jsonReply(200, {
      status: 'ok',
      version,
      backend: backendName,
      uptimeSeconds: (Date.now() - startedAt) / 1000,
      dataDir,
      native: {
        file: loadedNative.file,
        prebuilt: loadedNative.prebuilt,
        napiVersion: loadedNative.addon.buildInfo().napiVersion,
      },
    }),
  );

  router.add('GET', '/query', queryHandler(db));

  let backend: HttpBackend;
  let fallbackReason: string | undefined;
  let boundPort: number;
  try {
    ({ backend, fallbackReason } = createBackend(backendChoice, router));
    backendName = backend.name;
    boundPort = await backend.listen(host, port).catch((error: Error) => {
      void backend.close();
      throw new SluiceError('SLUICE_LISTEN', error.message, { cause: error });
    });
  } catch (error) {
    await db.close();
    throw error;
  }

  let closing: Promise<void> | undefined;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${boundPort}`,
    host,
    port: boundPort,
    backend: backend.name,
    fallbackReason,
    dataDir,
    db,
    close: () => (closing ??= backend.close().finally(() => db.close())),
  };
}
