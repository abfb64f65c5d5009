// The fallback backend on node:http, used where uWebSockets.js cannot load.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BackendFactory, HttpBackend } from './backend.js';
import type { HttpHandler, HttpReply, HttpRequest } from './http.js';

function sendReply(res: http.ServerResponse, reply: HttpReply): void {
  res.writeHead(reply.status, reply.headers);
  res.end(reply.body);
}

export const createNodeBackend: BackendFactory = (handler: HttpHandler): HttpBackend => {
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
    };
    Promise.resolve()
      .then(() => handler(request))
      .catch((error: unknown): HttpReply => ({ status: 500, body: `internal error: ${(error as Error).message}` }))
      .then((reply) => sendReply(res, reply));
  });

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
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
};
