// Which web pages may use the server (docs/server.md#browsers-and-cors): CORS on the HTTP
// endpoints, and the same origin check on WebSocket upgrades (browsers apply no CORS there).
//
// A request without an Origin header (curl, Telegraf, Node, any non-browser client) is never
// affected. A request from a browser page carries its page's origin; when that origin is allowed
// the reply says so (Access-Control-Allow-Origin), when it is not the request is refused with 403,
// so a page on another site cannot write points, subscribe, or read replies it could not see.
import { SluiceError } from '../errors.js';
import { jsonReply, type HttpHandler, type HttpReply, type HttpRequest } from './http.js';

/** `'*'` any origin; a list of origins (`scheme://host[:port]`); `false` none. Default: pages
 * served from this machine (localhost, 127.0.0.1, [::1], any port) when binding loopback, none otherwise. */
export type CorsOption = '*' | string[] | false;

/** Request headers a page may send cross-origin (preflight answer). */
export const CORS_ALLOWED_HEADERS = 'Authorization, Content-Type, Content-Encoding, X-Prometheus-Remote-Write-Version';
const PREFLIGHT_MAX_AGE_SECONDS = '600';

function invalid(message: string): SluiceError {
  return new SluiceError('SLUICE_INVALID_ARGUMENT', message);
}

function isLoopbackHostname(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

function isLoopbackBinding(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

export class CorsPolicy {
  /** How the policy reads, for error messages. */
  readonly description: string;
  readonly #any: boolean;
  readonly #loopback: boolean;
  readonly #origins: Set<string>;

  private constructor(kind: { any?: boolean; loopback?: boolean; origins?: Iterable<string> }, description: string) {
    this.#any = kind.any ?? false;
    this.#loopback = kind.loopback ?? false;
    this.#origins = new Set(kind.origins ?? []);
    this.description = description;
  }

  /** The policy for these options and this binding; throws SLUICE_INVALID_ARGUMENT on a bad entry. */
  static of(option: CorsOption | undefined, host: string): CorsPolicy {
    if (option === undefined) {
      return isLoopbackBinding(host)
        ? new CorsPolicy({ loopback: true }, 'pages from localhost, 127.0.0.1 and [::1] only (the default when binding loopback)')
        : new CorsPolicy({}, 'no browser pages (the default beyond loopback)');
    }
    if (option === false) return new CorsPolicy({}, 'no browser pages (cors: false)');
    if (option === '*') return new CorsPolicy({ any: true }, 'any origin');
    if (!Array.isArray(option)) throw invalid(`cors must be "*", an array of origins such as ["http://localhost:5173"], or false; got ${JSON.stringify(option)}`);
    if (option.includes('*')) {
      if (option.length > 1) throw invalid('cors: "*" allows every origin; give it alone, not in a list with others');
      return new CorsPolicy({ any: true }, 'any origin');
    }
    const origins = option.map((entry, i) => {
      let parsed: URL | undefined;
      try {
        parsed = typeof entry === 'string' ? new URL(entry) : undefined;
      } catch {
        parsed = undefined;
      }
      const origin = parsed && (parsed.protocol === 'http:' || parsed.protocol === 'https:') ? parsed.origin : undefined;
      if (!origin || (entry !== origin && entry !== `${origin}/`)) {
        throw invalid(`cors[${i}] must be an origin: http(s)://host[:port] without a path, e.g. http://localhost:5173; got ${JSON.stringify(entry)}`);
      }
      return origin;
    });
    return new CorsPolicy({ origins }, origins.length === 0 ? 'no browser pages (cors: [])' : `the origins ${origins.join(', ')}`);
  }

  /** Whether a page of this origin (the Origin header's value) may use the server. */
  allows(origin: string): boolean {
    if (this.#any) return true;
    if (this.#origins.has(origin)) return true;
    if (!this.#loopback) return false;
    try {
      const url = new URL(origin);
      return (url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackHostname(url.hostname);
    } catch {
      return false; // "null" (file://, sandboxed frames) and anything malformed
    }
  }

  /** The refusal for a request or upgrade from an origin the policy does not allow. */
  refusal(origin: string): { status: 403; error: string; code: 'SLUICE_FORBIDDEN' } {
    return {
      status: 403,
      code: 'SLUICE_FORBIDDEN',
      error: `pages from the origin ${origin} may not use this server (it allows ${this.description}); start it with --cors ${origin} (cors: ['${origin}'])`,
    };
  }

  /** Headers that let the page read the reply: `*`, or the origin itself (then the reply varies by Origin). */
  #replyHeaders(origin: string): Record<string, string> {
    return this.#any ? { 'access-control-allow-origin': '*' } : { 'access-control-allow-origin': origin, vary: 'Origin' };
  }

  /**
   * Wraps a handler: refuses requests from origins not allowed (403), answers preflights
   * (`OPTIONS` with Access-Control-Request-Method) with 204 and what may be sent, and adds
   * Access-Control-Allow-Origin to the replies for allowed origins. `methodsOf` gives the methods
   * a path accepts (undefined for an unknown path, which the handler answers with 404).
   */
  wrap(handler: HttpHandler, methodsOf: (path: string) => string[] | undefined): HttpHandler {
    return (request: HttpRequest) => {
      const origin = request.headers.origin;
      if (origin === undefined) return handler(request);
      if (!this.allows(origin)) {
        const { status, error, code } = this.refusal(origin);
        return jsonReply(status, { error, code });
      }
      const headers = this.#replyHeaders(origin);
      const methods = request.method === 'OPTIONS' && request.headers['access-control-request-method'] ? methodsOf(request.path) : undefined;
      if (methods) {
        const preflight: Record<string, string> = {
          ...headers,
          'access-control-allow-methods': methods.join(', '),
          'access-control-allow-headers': CORS_ALLOWED_HEADERS,
          'access-control-max-age': PREFLIGHT_MAX_AGE_SECONDS,
        };
        // Chrome's Private Network Access: a public page asking for a server on this network.
        if (request.headers['access-control-request-private-network'] === 'true') preflight['access-control-allow-private-network'] = 'true';
        if (!this.#any) preflight.vary = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';
        return { status: 204, headers: preflight, body: '' };
      }
      const reply = handler(request);
      const withHeaders = (ready: HttpReply): HttpReply => ({ ...ready, headers: { ...ready.headers, ...headers } });
      return reply instanceof Promise ? reply.then(withHeaders) : withHeaders(reply);
    };
  }
}
