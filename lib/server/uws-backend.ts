// The uWebSockets.js backend: the fast one, used whenever its binary loads.
import path from 'node:path';
import type { BackendFactory, HttpBackend } from './backend.js';
import { SluiceError } from '../errors.js';
import { statusLine, type HttpHandler, type HttpReply, type HttpRequest } from './http.js';

// The part of uWebSockets.js sluice uses (its own declarations describe a newer release).
interface UwsResponse {
  onAborted(handler: () => void): UwsResponse;
  cork(callback: () => void): UwsResponse;
  writeStatus(status: string): UwsResponse;
  writeHeader(key: string, value: string): UwsResponse;
  end(body?: string | Uint8Array): UwsResponse;
}
interface UwsRequest {
  getMethod(): string;
  getUrl(): string;
  getQuery(): string | undefined;
  forEach(callback: (key: string, value: string) => void): void;
}
type UwsListenSocket = object;
interface UwsApp {
  any(pattern: string, handler: (res: UwsResponse, req: UwsRequest) => void): UwsApp;
  listen(host: string, port: number, options: number, callback: (socket: UwsListenSocket | false) => void): UwsApp;
  close(): void;
}
interface UwsModule {
  App(): UwsApp;
  us_socket_local_port(socket: UwsListenSocket): number;
  LIBUS_LISTEN_EXCLUSIVE_PORT: number;
}

let uwsModule: UwsModule | undefined;

/**
 * Loads the uWebSockets.js binary for this Node ABI directly. Its package's own entry point falls
 * back silently to a slow JS imitation; sluice has its own fallback and wants to know.
 */
export function loadUws(): UwsModule {
  if (uwsModule) return uwsModule;
  let binary = '(uWebSockets.js is not installed)';
  try {
    const packageDir = path.dirname(require.resolve('uWebSockets.js/package.json'));
    binary = path.join(
      packageDir,
      'binaries',
      `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`,
    );
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    uwsModule = require(binary) as UwsModule;
    return uwsModule;
  } catch (cause) {
    throw new SluiceError(
      'SLUICE_BACKEND_UNAVAILABLE',
      `uWebSockets.js does not load on Node ${process.version} ${process.platform}-${process.arch}: ` +
        `${(cause as Error).message.split('\n')[0]} (${binary})`,
      { cause },
    );
  }
}

function sendReply(res: UwsResponse, reply: HttpReply): void {
  res.writeStatus(statusLine(reply.status));
  if (reply.headers) for (const [key, value] of Object.entries(reply.headers)) res.writeHeader(key, value);
  res.end(reply.body);
}

export const createUwsBackend: BackendFactory = (handler: HttpHandler): HttpBackend => {
  const uws = loadUws();
  const app = uws.App();
  app.any('/*', (res, req) => {
    const headers: Record<string, string> = {};
    req.forEach((key, value) => (headers[key] = value));
    const request: HttpRequest = {
      method: req.getMethod().toUpperCase(),
      path: req.getUrl(),
      query: req.getQuery() ?? '',
      headers,
    };
    let reply: HttpReply | Promise<HttpReply>;
    try {
      reply = handler(request);
    } catch (error) {
      reply = Promise.reject(error);
    }
    if (!(reply instanceof Promise)) {
      sendReply(res, reply); // still corked: we are inside the request callback
      return;
    }
    let aborted = false;
    res.onAborted(() => (aborted = true));
    reply
      .catch((error: unknown): HttpReply => ({ status: 500, body: `internal error: ${(error as Error).message}` }))
      .then((ready) => {
        if (!aborted) res.cork(() => sendReply(res, ready));
      });
  });

  return {
    name: 'uws',
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        // EXCLUSIVE_PORT: without it uSockets sets SO_REUSEPORT and a second server would share the port.
        app.listen(host, port, uws.LIBUS_LISTEN_EXCLUSIVE_PORT, (socket) => {
          if (socket) resolve(uws.us_socket_local_port(socket));
          else reject(new Error(`cannot listen on ${host}:${port} (address in use, not local, or not permitted)`));
        });
      }),
    close: async () => app.close(),
  };
};
