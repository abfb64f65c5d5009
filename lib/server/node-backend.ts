// The fallback backend on node:http and the `ws` package, used where uWebSockets.js cannot load.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { nextConnectionId, wantsAcks, type BackendFactory, type HttpBackend, type WsConnection } from './backend.js';
import { tooLarge, type HttpReply, type HttpRequest } from './http.js';

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

function sendReply(res: http.ServerResponse, reply: HttpReply): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(reply.status, reply.headers);
  res.end(reply.body);
}

/** The body, or null once a 413 has been sent. */
function readBody(req: http.IncomingMessage, res: http.ServerResponse, limit: number): Promise<Uint8Array | null> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? NaN) > limit) {
      res.setHeader('connection', 'close'); // do not read what we refuse
      sendReply(res, tooLarge(limit));
      req.destroy();
      resolve(null);
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) {
        res.setHeader('connection', 'close');
        sendReply(res, tooLarge(limit));
        req.destroy();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export const createNodeBackend: BackendFactory = (handler, options): HttpBackend => {
  const server = http.createServer({ keepAlive: true }, (req, res) => {
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[key] = Array.isArray(value) ? value.join(', ') : value;
    }
    const request: HttpRequest = {
      method: (req.method ?? 'GET').toUpperCase(),
      path: queryAt < 0 ? url : url.slice(0, queryAt),
      query: queryAt < 0 ? '' : url.slice(queryAt + 1),
      headers,
      body: new Uint8Array(0),
    };
    const body = METHODS_WITH_BODY.has(request.method) ? readBody(req, res, options.maxBodyBytes) : Promise.resolve(request.body);
    body
      .then((bytes) => {
        if (bytes === null) return undefined;
        request.body = bytes;
        return Promise.resolve(handler(request)).then((reply) => sendReply(res, reply));
      })
      .catch((error: unknown) => sendReply(res, { status: 500, body: `internal error: ${(error as Error).message}` }));
  });

  const sockets = new Set<WebSocket>();
  const websocket = options.websocket;
  if (websocket) {
    const headersOf = (req: http.IncomingMessage) =>
      Object.fromEntries(Object.entries(req.headers).map(([key, value]) => [key, Array.isArray(value) ? value.join(', ') : (value ?? '')]));
    const queryOf = (req: http.IncomingMessage) => {
      const url = req.url ?? '/';
      return url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
    };
    const wss = new WebSocketServer({
      server,
      maxPayload: websocket.maxPayloadBytes,
      perMessageDeflate: false,
      verifyClient: ({ req }, done) => {
        const refusal = websocket.authorize(headersOf(req), queryOf(req));
        if (refusal) done(false, refusal.status, refusal.error, { 'content-type': 'application/json' });
        else done(true);
      },
    });
    // ws re-emits the HTTP server's errors (a taken port) here; listen() reports those itself.
    wss.on('error', () => {});
    wss.on('connection', (ws, req) => {
      const url = req.url ?? '/';
      const queryAt = url.indexOf('?');
      const connection: WsConnection = {
        id: nextConnectionId(),
        path: queryAt < 0 ? url : url.slice(0, queryAt),
        query: queryAt < 0 ? '' : url.slice(queryAt + 1),
        acks: wantsAcks(queryAt < 0 ? '' : url.slice(queryAt + 1)),
        written: 0,
        token: websocket.tokenOf(headersOf(req), queryOf(req)),
        send: (message) => {
          if (ws.readyState !== ws.OPEN || ws.bufferedAmount >= websocket.maxSendBufferBytes) return false;
          ws.send(message, { binary: typeof message !== 'string' });
          return true;
        },
        close: (code, reason) => {
          if (ws.readyState === ws.OPEN) ws.close(code, reason);
        },
      };
      sockets.add(ws);
      ws.on('message', (data: Buffer, isBinary: boolean) => websocket.message(connection, data, isBinary));
      ws.on('close', (code: number) => {
        sockets.delete(ws);
        websocket.close(connection, code);
      });
      ws.on('error', () => ws.terminate()); // e.g. an oversized message: ws closes with 1009 first
      websocket.open(connection);
    });
  }

  return {
    name: 'node',
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        const onError = (error: Error) => reject(new Error(`cannot listen on ${host}:${port}: ${error.message}`));
        server.once('error', onError);
        server.listen({ host, port, exclusive: true }, () => {
          server.off('error', onError);
          resolve((server.address() as AddressInfo).port);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        for (const ws of sockets) ws.close(1001, 'server shutting down');
        server.close(() => resolve());
        server.closeAllConnections();
        for (const ws of sockets) ws.terminate();
      }),
  };
};
