// The uWebSockets.js backend: the fast one, used whenever its binary loads.
import path from 'node:path';
import { nextConnectionId, wantsAcks, type BackendFactory, type HttpBackend, type WsConnection } from './backend.js';
import { SluiceError } from '../errors.js';
import { jsonReply, statusLine, tooLarge, type HttpHandler, type HttpReply, type HttpRequest } from './http.js';

// The part of uWebSockets.js sluice uses (its own declarations describe a newer release).
interface UwsResponse {
  onAborted(handler: () => void): UwsResponse;
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): void;
  cork(callback: () => void): UwsResponse;
  writeStatus(status: string): UwsResponse;
  writeHeader(key: string, value: string): UwsResponse;
  /** closeConnection: close the socket once the response is out (the response must not be touched after end). */
  end(body?: string | Uint8Array, closeConnection?: boolean): UwsResponse;
  close(): UwsResponse;
  upgrade(userData: object, key: string, protocol: string, extensions: string, context: unknown): void;
}
interface UwsRequest {
  getMethod(): string;
  getUrl(): string;
  getQuery(): string | undefined;
  getHeader(name: string): string;
  forEach(callback: (key: string, value: string) => void): void;
}
interface UwsWebSocket {
  /** 1 sent, 0 queued under backpressure, 2 dropped (over maxBackpressure). */
  send(message: string | Uint8Array, isBinary?: boolean): number;
  end(code?: number, reason?: string): void;
  getBufferedAmount(): number;
  getUserData(): UwsUserData;
}
interface UwsUserData {
  path: string;
  query: string;
  token: string | undefined;
  /** Cleared by end() and by the close event: a closed uWS socket must not be touched again. */
  open: boolean;
  connection?: WsConnection;
}
interface UwsWsBehavior {
  maxPayloadLength: number;
  maxBackpressure: number;
  idleTimeout: number;
  upgrade(res: UwsResponse, req: UwsRequest, context: unknown): void;
  open(ws: UwsWebSocket): void;
  message(ws: UwsWebSocket, message: ArrayBuffer, isBinary: boolean): void;
  close(ws: UwsWebSocket, code: number, message: ArrayBuffer): void;
}
type UwsListenSocket = object;
interface UwsApp {
  any(pattern: string, handler: (res: UwsResponse, req: UwsRequest) => void): UwsApp;
  ws(pattern: string, behavior: UwsWsBehavior): UwsApp;
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

function sendReply(res: UwsResponse, reply: HttpReply, closeConnection = false): void {
  res.writeStatus(statusLine(reply.status));
  if (reply.headers) for (const [key, value] of Object.entries(reply.headers)) res.writeHeader(key, value);
  res.end(reply.body, closeConnection);
}

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

// Bodies of a declared size up to POOLED_BODY_BYTES are assembled in buffers reused across
// requests: once a handler has answered without a promise nothing holds the body any more, and
// ingest bodies arrive back to back — left to the garbage collector, they raised the server's peak
// memory by tens of MiB (bench/network-ingest.bench.js). A few spares, for interleaved uploads.
const POOLED_BODY_BYTES = 4 << 20;
const spareBodies: Buffer[] = [];

function takeBodyBuffer(size: number): Buffer {
  const at = spareBodies.findIndex((buffer) => buffer.length >= size);
  return at >= 0 ? spareBodies.splice(at, 1)[0]! : Buffer.allocUnsafeSlow(Math.max(size, 64 << 10));
}

function giveBackBodyBuffer(buffer: Buffer): void {
  if (spareBodies.length < 4) spareBodies.push(buffer);
}

export const createUwsBackend: BackendFactory = (handler, options): HttpBackend => {
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
      body: new Uint8Array(0),
    };
    let aborted = false;
    res.onAborted(() => (aborted = true));
    const respond = (reply: HttpReply | Promise<HttpReply>, corked: boolean) => {
      if (!(reply instanceof Promise)) {
        if (aborted) return;
        if (corked) sendReply(res, reply);
        else res.cork(() => sendReply(res, reply));
        return;
      }
      reply
        .catch((error: unknown): HttpReply => ({ status: 500, body: `internal error: ${(error as Error).message}` }))
        .then((ready) => {
          if (!aborted) res.cork(() => sendReply(res, ready));
        });
    };
    /** Runs the handler; true when it answered at once (no promise: it holds nothing of the request). */
    const run = (corked: boolean): boolean => {
      let reply: HttpReply | Promise<HttpReply>;
      try {
        reply = handler(request);
      } catch (error) {
        reply = Promise.reject(error);
      }
      respond(reply, corked);
      return !(reply instanceof Promise);
    };
    if (!METHODS_WITH_BODY.has(request.method)) {
      run(true); // still corked: we are inside the request callback
      return;
    }
    const declared = Number(headers['content-length'] ?? NaN);
    if (declared > options.maxBodyBytes) {
      sendReply(res, tooLarge(options.maxBodyBytes), true); // and close: do not read what we refuse
      return;
    }
    // The chunks are views of uWebSockets.js's own memory, valid during the callback only: copy.
    // With a Content-Length they are copied once, into the body; otherwise kept and joined at the end.
    const known = Number.isSafeInteger(declared) && declared >= 0;
    const pooled = known && declared <= POOLED_BODY_BYTES ? takeBodyBuffer(declared) : undefined;
    const body = pooled ? pooled.subarray(0, declared) : known ? Buffer.allocUnsafe(declared) : undefined;
    const chunks: Uint8Array[] = [];
    let received = 0;
    res.onData((chunk, isLast) => {
      if (received > options.maxBodyBytes) return;
      const at = received;
      received += chunk.byteLength;
      if (received > options.maxBodyBytes) {
        res.cork(() => sendReply(res, tooLarge(options.maxBodyBytes), true));
        return;
      }
      if (body && received <= body.length) body.set(new Uint8Array(chunk), at);
      else chunks.push(new Uint8Array(chunk.slice(0)));
      if (!isLast) return;
      if (!body) request.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      else if (chunks.length === 0) request.body = received === body.length ? body : body.subarray(0, received);
      else request.body = Buffer.concat([body, ...chunks]); // more than declared: keep every byte, as before
      if (run(false) && pooled) giveBackBodyBuffer(pooled);
    });
  });

  const sockets = new Set<UwsWebSocket>();
  const websocket = options.websocket;
  if (websocket) {
    app.ws('/*', {
      // uWebSockets.js drops an oversized message's connection without a close frame (1006); with
      // room above the limit, the message handler closes it properly with 1009 instead.
      maxPayloadLength: Math.min(2 * websocket.maxPayloadBytes, 2 ** 31 - 1),
      maxBackpressure: websocket.maxSendBufferBytes,
      idleTimeout: 120,
      upgrade: (res, req, context) => {
        const query = req.getQuery() ?? '';
        const headers: Record<string, string> = {};
        req.forEach((key, value) => (headers[key] = value));
        const refusal = websocket.authorize(headers, query);
        if (refusal) {
          sendReply(res, jsonReply(refusal.status, { error: refusal.error, code: refusal.code }));
          return;
        }
        const userData: UwsUserData = { path: req.getUrl(), query, token: websocket.tokenOf(headers, query), open: true };
        res.upgrade(
          userData,
          req.getHeader('sec-websocket-key'),
          req.getHeader('sec-websocket-protocol'),
          req.getHeader('sec-websocket-extensions'),
          context,
        );
      },
      open: (ws) => {
        const data = ws.getUserData();
        const connection: WsConnection = {
          id: nextConnectionId(),
          path: data.path,
          query: data.query,
          acks: wantsAcks(data.query),
          written: 0,
          token: data.token,
          send: (message) =>
            data.open && ws.getBufferedAmount() < websocket.maxSendBufferBytes && ws.send(message, typeof message !== 'string') !== 2,
          close: (code, reason) => {
            if (!data.open) return;
            data.open = false;
            ws.end(code, reason);
          },
        };
        data.connection = connection;
        sockets.add(ws);
        websocket.open(connection);
      },
      message: (ws, message, isBinary) => {
        const connection = ws.getUserData().connection!;
        if (message.byteLength > websocket.maxPayloadBytes) {
          connection.close(1009, `message over ${websocket.maxPayloadBytes} bytes`);
          return;
        }
        websocket.message(connection, new Uint8Array(message), isBinary);
      },
      close: (ws, code) => {
        sockets.delete(ws);
        const data = ws.getUserData();
        data.open = false;
        websocket.close(data.connection!, code);
      },
    });
  }

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
    close: async () => {
      for (const ws of [...sockets]) ws.getUserData().connection!.close(1001, 'server shutting down');
      app.close();
    },
  };
};
