// The HTTP surface both server backends share: a request as the handlers see it, a reply, a router.
import { STATUS_CODES } from 'node:http';

export interface HttpRequest {
  /** Upper case: GET, POST, ... */
  method: string;
  /** The path without the query string. */
  path: string;
  /** The raw query string, without '?'. */
  query: string;
  /** Header values by lower-case name. */
  headers: Record<string, string>;
  /** The request body (empty for GET and HEAD); the backend refuses bodies over its limit with 413. */
  body: Uint8Array;
  /** Set by auth for a token limited to some namespaces: a refusal for any series it may not reach. */
  refuseSeries?: (names: Iterable<string>) => HttpReply | undefined;
}

export interface HttpReply {
  status: number;
  headers?: Record<string, string>;
  body: string | Uint8Array;
}

/** Sync replies go out in the same tick (no promise on the fast path); async ones when ready. */
export type HttpHandler = (request: HttpRequest) => HttpReply | Promise<HttpReply>;

export function jsonReply(status: number, value: unknown, headers?: Record<string, string>): HttpReply {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) };
}

export function tooLarge(limit: number): HttpReply {
  return jsonReply(413, { error: `the request body is over the limit of ${limit} bytes`, code: 'SLUICE_TOO_LARGE' });
}

/** `200 OK`, as uWebSockets.js wants the status line. */
export function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
}

/** Exact-path routes by method; 404 for an unknown path, 405 with Allow for a known path and wrong method. */
export class Router {
  private readonly routes = new Map<string, Map<string, HttpHandler>>();

  add(method: string, path: string, handler: HttpHandler): this {
    let byMethod = this.routes.get(path);
    if (!byMethod) this.routes.set(path, (byMethod = new Map()));
    byMethod.set(method.toUpperCase(), handler);
    if (method.toUpperCase() === 'GET' && !byMethod.has('HEAD')) byMethod.set('HEAD', handler);
    return this;
  }

  private readonly prefixes: Array<{ prefix: string; handler: HttpHandler; methods: string[] }> = [];

  /** A handler for every path under `prefix` (which ends with '/') that has no exact route;
   * `methods` are those it accepts (for CORS preflights). */
  addPrefix(prefix: string, handler: HttpHandler, methods: string[]): this {
    this.prefixes.push({ prefix, handler, methods: methods.map((method) => method.toUpperCase()) });
    return this;
  }

  /** The methods a path accepts; undefined for a path no route serves. */
  readonly methodsOf = (path: string): string[] | undefined => {
    const byMethod = this.routes.get(path);
    if (byMethod) return [...byMethod.keys()];
    return this.prefixes.find((p) => path.startsWith(p.prefix))?.methods;
  };

  readonly handle: HttpHandler = (request) => {
    const byMethod = this.routes.get(request.path);
    if (!byMethod) {
      const under = this.prefixes.find((p) => request.path.startsWith(p.prefix));
      if (under) return under.handler(request);
    }
    if (!byMethod) {
      return jsonReply(404, { error: `no such endpoint: ${request.path}`, code: 'SLUICE_NOT_FOUND' });
    }
    const handler = byMethod.get(request.method);
    if (!handler) {
      const allowed = [...byMethod.keys()].join(', ');
      return jsonReply(
        405,
        { error: `${request.method} is not accepted on ${request.path}; use ${allowed}`, code: 'SLUICE_METHOD' },
        { allow: allowed },
      );
    }
    return handler(request);
  };
}
