// `sluice serve` as a library call: one process, one data directory, one port.
import path from 'node:path';
import { native } from '../../bindings/index.js';
import { SluiceError } from '../errors.js';
import { version } from '../package-info.js';
import { open, type Database, type Durability } from '../tsdb/index.js';
import type { BackendName, BackendOptions, HttpBackend, WsConnection, WsHandlers } from './backend.js';
import { CLOSE_CODES, ingestMessage, lineProtocolHandler, readJsonMessage, remoteWriteHandler } from './ingest.js';
import { controlMessageOf, Subscriptions } from './subscriptions.js';
import { jsonReply, Router, type HttpHandler, type HttpReply } from './http.js';
import { Authorizer, authorizerFor, type AuthOption, type Denial, type Scope } from './auth.js';
import { CorsPolicy, type CorsOption } from './cors.js';
import { createNodeBackend } from './node-backend.js';
import { createUwsBackend } from './uws-backend.js';
import { queryHandler } from './query.js';
import { metricsHandler, type ServerCounters } from './metrics.js';
import { readModuleFile, startWorkflows, type WorkflowRuntime, type WorkflowRuntimeOptions } from '../workflows/runtime.js';
import { deployHandler, listHandler, workflowHandler } from './workflows.js';

export type { BackendName } from './backend.js';
export type { CorsOption } from './cors.js';

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
  /** When writes are acknowledged (default `batch`; see the embedded database's open()). */
  durability?: Durability;
  /** `batch` mode: the longest time between a write and its fsync (default 100 ms). */
  syncIntervalMs?: number;
  /** Largest HTTP request body accepted, before and after gzip or snappy (default 64 MiB); larger: 413. */
  maxBodyBytes?: number;
  /** Bearer tokens with read/write scopes per namespace, or false for none. Default: off when
   * binding loopback, required otherwise (startServer refuses to start without either). */
  auth?: AuthOption;
  /** Which browser pages (origins) may use the server: `'*'`, a list such as
   * `['http://localhost:5173']`, or false. Default: pages from localhost, 127.0.0.1 and [::1]
   * (any port) when binding loopback, none otherwise. Requests from other origins get 403; requests
   * without an Origin header (non-browser clients) are not affected (docs/server.md#browsers-and-cors). */
  cors?: CorsOption;
  /** Largest WebSocket message accepted (default 16 MiB); larger: the connection closes with 1009. */
  maxMessageBytes?: number;
  /** Bytes queued to one WebSocket connection before writebacks to it are refused (default 4 MiB). */
  maxSendBufferBytes?: number;
  /** The Wasm workflow runtime's options, or false for none (default: on, one worker). */
  workflows?: Omit<WorkflowRuntimeOptions, 'writeback'> | false;
  /** .wasm files deployed at start, each named after its file (the seed's `--wasm`). */
  wasm?: string[];
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
  /** WebSocket connections open now. */
  readonly connections: number;
  /** The Wasm workflow runtime (undefined with workflows: false). */
  readonly workflows: WorkflowRuntime | undefined;
  /** Sends a message to the producer (WebSocket connection) with this id; false when it is gone or
   * its send buffer is full. */
  writeback(producer: number, data: string | Uint8Array): boolean;
  /** Stops listening, closes connections and closes the database. */
  close(): Promise<void>;
}

function invalid(message: string): SluiceError {
  return new SluiceError('SLUICE_INVALID_ARGUMENT', message);
}

function checkSize(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1024 || value > 2 ** 31) throw invalid(`${what} must be an integer in 1024..${2 ** 31}, got ${value}`);
  return value;
}

function validateOptions(options: ServerOptions): Required<Omit<ServerOptions, 'dataDir' | 'durability' | 'syncIntervalMs' | 'auth' | 'cors' | 'workflows' | 'wasm'>> {
  const { host = DEFAULT_HOST, port = DEFAULT_PORT, backend = 'auto' } = options;
  const maxBodyBytes = checkSize(options.maxBodyBytes, 64 * 2 ** 20, 'maxBodyBytes');
  const maxMessageBytes = checkSize(options.maxMessageBytes, 16 * 2 ** 20, 'maxMessageBytes');
  const maxSendBufferBytes = checkSize(options.maxSendBufferBytes, 4 * 2 ** 20, 'maxSendBufferBytes');
  if (typeof host !== 'string' || host.length === 0) throw invalid(`host must be a non-empty string, got ${JSON.stringify(host)}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalid(`port must be an integer in 0..65535, got ${port}`);
  if (!BACKEND_CHOICES.includes(backend)) {
    throw invalid(`backend must be one of ${BACKEND_CHOICES.join(', ')}, got ${JSON.stringify(backend)}`);
  }
  return { host, port, backend, maxBodyBytes, maxMessageBytes, maxSendBufferBytes };
}

function refusalReply(denial: Denial): HttpReply {
  const headers: Record<string, string> = denial.status === 401 ? { 'www-authenticate': 'Bearer' } : {};
  return jsonReply(denial.status, { error: denial.error, code: denial.code }, headers);
}

function createBackend(choice: BackendChoice, handle: HttpHandler, options: BackendOptions): { backend: HttpBackend; fallbackReason?: string } {
  if (choice === 'node') return { backend: createNodeBackend(handle, options) };
  if (choice === 'uws') return { backend: createUwsBackend(handle, options) };
  try {
    return { backend: createUwsBackend(handle, options) };
  } catch (error) {
    if ((error as SluiceError).code !== 'SLUICE_BACKEND_UNAVAILABLE') throw error;
    return { backend: createNodeBackend(handle, options), fallbackReason: (error as Error).message };
  }
}

export async function startServer(options: ServerOptions = {}): Promise<SluiceServer> {
  const { host, port, backend: backendChoice, maxBodyBytes, maxMessageBytes, maxSendBufferBytes } = validateOptions(options);
  const authorizer = authorizerFor(options.auth, host);
  const cors = CorsPolicy.of(options.cors, host);
  const loadedNative = native(); // fail at start, not on the first write, when the addon cannot load
  const db = await open({ dir: options.dataDir, durability: options.durability, syncIntervalMs: options.syncIntervalMs });
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

  // Every endpoint but /health asks for a scope when auth is on; writes and queries by a token
  // limited to some namespaces are checked series by series.
  const guard = (scope: Scope, handler: HttpHandler): HttpHandler => {
    if (!authorizer) return handler;
    return (request) => {
      const token = Authorizer.tokenOf(request.headers, request.query);
      const denial = authorizer.check(token, scope);
      if (denial) return refusalReply(denial);
      if (!authorizer.unrestricted(token!)) {
        request.refuseSeries = (names) => {
          const refusal = authorizer.check(token, scope, names);
          return refusal && refusalReply(refusal);
        };
      }
      return handler(request);
    };
  };
  router.add('GET', '/query', guard('read', queryHandler(db)));
  const producers = new Map<number, WsConnection>();
  const writeback = (producer: number, data: string | Uint8Array): boolean => producers.get(producer)?.send(data) ?? false;
  const subscriptions = new Subscriptions(db);
  const counters: ServerCounters = { connections: () => producers.size, websocketMessages: 0, websocketRejected: 0, httpWrites: 0, httpRejected: 0 };
  const countHttpWrite = (written: boolean) => (written ? counters.httpWrites++ : counters.httpRejected++);
  router.add('POST', '/write', guard('write', lineProtocolHandler(db, 1, maxBodyBytes, countHttpWrite)));
  router.add('POST', '/api/v2/write', guard('write', lineProtocolHandler(db, 2, maxBodyBytes, countHttpWrite)));
  router.add('POST', '/api/v1/write', remoteWriteHandler(db, maxBodyBytes, countHttpWrite));
  router.add('GET', '/metrics', guard('read', metricsHandler(db, counters)));

  let workflows: WorkflowRuntime | undefined;
  if (options.workflows !== false) {
    try {
      workflows = await startWorkflows(db, { ...options.workflows, writeback });
      for (const file of options.wasm ?? []) {
        const name = path.basename(file).replace(/\.wasm$/i, '').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64);
        await workflows.deploy({ name, module: readModuleFile(file) });
      }
    } catch (error) {
      await workflows?.close();
      await db.close();
      throw error;
    }
    // Managing workflows runs code in the server: it takes a token valid for every namespace.
    const everywhere = (handler: HttpHandler): HttpHandler => (request) =>
      request.refuseSeries ? jsonReply(403, { error: 'managing workflows needs a token without namespace limits', code: 'SLUICE_FORBIDDEN' }) : handler(request);
    router.add('GET', '/workflows', guard('read', listHandler(workflows)));
    router.add('POST', '/workflows', guard('write', everywhere(deployHandler(workflows))));
    const perWorkflow = workflowHandler(workflows);
    const readOnly = guard('read', perWorkflow);
    const managing = guard('write', everywhere(perWorkflow));
    router.addPrefix('/workflows/', (request) => (request.method === 'GET' || request.method === 'HEAD' ? readOnly(request) : managing(request)), ['GET', 'HEAD', 'POST', 'DELETE']);
  }

  const websocket: WsHandlers = {
    maxPayloadBytes: maxMessageBytes,
    maxSendBufferBytes,
    // Any known token may connect; each message then needs write (points) or read (subscriptions).
    authorize: (headers, query) => {
      // Browsers apply no CORS to WebSockets: the page's origin is checked here, as for HTTP.
      if (headers.origin !== undefined && !cors.allows(headers.origin)) return cors.refusal(headers.origin);
      const denial = authorizer?.check(Authorizer.tokenOf(headers, query), 'read');
      return denial?.status === 401 ? denial : undefined;
    },
    tokenOf: (headers, query) => Authorizer.tokenOf(headers, query),
    open: (connection) => producers.set(connection.id, connection),
    message: (connection, data, isBinary) => {
      const token = connection.token;
      const message = isBinary ? data : readJsonMessage(data); // JSON is parsed once, here
      const control = message instanceof Uint8Array ? undefined : controlMessageOf(message.value);
      if (control) {
        subscriptions.handle(connection, control, (series) => authorizer?.check(token, 'read', series)?.error);
        return;
      }
      const denial = authorizer?.check(token, 'write');
      if (denial) {
        connection.send(JSON.stringify({ error: denial.error, code: denial.code }));
        connection.close(CLOSE_CODES.policyViolation, 'forbidden');
        counters.websocketRejected++;
        return;
      }
      const refuseSeries =
        authorizer && !authorizer.unrestricted(token!) ? (names: Iterable<string>) => authorizer.check(token, 'write', names)?.error : undefined;
      if (ingestMessage(db, connection, message, refuseSeries)) counters.websocketMessages++;
      else counters.websocketRejected++;
    },
    close: (connection) => {
      producers.delete(connection.id);
      subscriptions.closeAll(connection);
    },
  };

  let backend: HttpBackend;
  let fallbackReason: string | undefined;
  let boundPort: number;
  try {
    ({ backend, fallbackReason } = createBackend(backendChoice, cors.wrap(router.handle, router.methodsOf), { maxBodyBytes, websocket }));
    backendName = backend.name;
    boundPort = await backend.listen(host, port).catch((error: Error) => {
      void backend.close();
      throw new SluiceError('SLUICE_LISTEN', error.message, { cause: error });
    });
  } catch (error) {
    await workflows?.close();
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
    get connections() {
      return producers.size;
    },
    workflows,
    writeback,
    close: () => (closing ??= backend.close().finally(async () => {
      await workflows?.close();
      await db.close();
    })),
  };
}
