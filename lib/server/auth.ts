// Bearer tokens with read/write scopes per namespace (docs/server.md#auth). A namespace is the
// part of a series name before its first '.', so `plant1.temp` is in `plant1`; `*` is every one.
import { createHash } from 'node:crypto';
import { SluiceError } from '../errors.js';

export type Scope = 'read' | 'write';

export interface TokenGrant {
  /** At least 16 characters. */
  token: string;
  scopes: Scope[];
  /** Namespaces the token reaches; default ['*'] (all). */
  namespaces?: string[];
}

/** `false` turns auth off; off by default on loopback, required elsewhere (docs/server.md#auth). */
export type AuthOption = { tokens: TokenGrant[] } | false;

export type Denial = { status: 401 | 403; error: string; code: 'SLUICE_UNAUTHORIZED' | 'SLUICE_FORBIDDEN' };

const MIN_TOKEN_LENGTH = 16;

/** Grants are found by the token's SHA-256, so a lookup's timing says nothing about how much of a
 * guessed token matched a real one. */
function digestOf(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function namespaceOf(series: string): string {
  const dot = series.indexOf('.');
  return dot < 0 ? series : series.slice(0, dot);
}

function invalid(message: string): SluiceError {
  return new SluiceError('SLUICE_INVALID_ARGUMENT', message);
}

export class Authorizer {
  readonly #grants = new Map<string, { scopes: Set<Scope>; namespaces: Set<string> | null }>();

  constructor(grants: TokenGrant[]) {
    if (!Array.isArray(grants) || grants.length === 0) throw invalid('auth.tokens must be a non-empty array of { token, scopes, namespaces? }');
    grants.forEach((grant, i) => {
      if (typeof grant !== 'object' || grant === null) throw invalid(`auth.tokens[${i}] must be an object { token, scopes, namespaces? }`);
      if (typeof grant.token !== 'string' || grant.token.length < MIN_TOKEN_LENGTH || /\s/.test(grant.token)) {
        throw invalid(`auth.tokens[${i}].token must be a string of at least ${MIN_TOKEN_LENGTH} characters without spaces`);
      }
      if (this.#grants.has(digestOf(grant.token))) throw invalid(`auth.tokens[${i}].token is given twice`);
      if (!Array.isArray(grant.scopes) || grant.scopes.length === 0 || grant.scopes.some((s) => s !== 'read' && s !== 'write')) {
        throw invalid(`auth.tokens[${i}].scopes must be a non-empty array of "read" and "write"`);
      }
      const namespaces = grant.namespaces ?? ['*'];
      if (!Array.isArray(namespaces) || namespaces.length === 0 || namespaces.some((n) => typeof n !== 'string' || n === '')) {
        throw invalid(`auth.tokens[${i}].namespaces must be a non-empty array of namespaces (or "*")`);
      }
      this.#grants.set(digestOf(grant.token), { scopes: new Set(grant.scopes), namespaces: namespaces.includes('*') ? null : new Set(namespaces) });
    });
  }

  /** The token of a request: `Authorization: Bearer <t>` (or InfluxDB's `Token <t>`), else `?token=<t>`
   * (browsers cannot set headers on a WebSocket). */
  static tokenOf(headers: Record<string, string>, query: string): string | undefined {
    const header = headers.authorization;
    if (header) {
      const match = /^(?:Bearer|Token)\s+(\S+)\s*$/i.exec(header);
      return match ? match[1] : '';
    }
    return new URLSearchParams(query).get('token') ?? undefined;
  }

  /** Whether `token` may use `scope`; with `series`, on every one of those series. */
  check(token: string | undefined, scope: Scope, series?: Iterable<string>): Denial | undefined {
    if (token === undefined) return { status: 401, code: 'SLUICE_UNAUTHORIZED', error: 'a token is required: Authorization: Bearer <token> (or ?token= on a WebSocket)' };
    const grant = this.#grants.get(digestOf(token));
    if (!grant) return { status: 401, code: 'SLUICE_UNAUTHORIZED', error: 'the token is not known (or the Authorization header is not "Bearer <token>")' };
    if (!grant.scopes.has(scope)) return { status: 403, code: 'SLUICE_FORBIDDEN', error: `the token has no ${scope} scope` };
    if (series && grant.namespaces) {
      for (const name of series) {
        if (!grant.namespaces.has(namespaceOf(name))) {
          return { status: 403, code: 'SLUICE_FORBIDDEN', error: `the token may not ${scope} series "${name}" (namespace "${namespaceOf(name)}"; it reaches ${[...grant.namespaces].join(', ')})` };
        }
      }
    }
    return undefined;
  }

  /** Whether the token reaches every namespace (then writes need no per-series check). */
  unrestricted(token: string): boolean {
    return this.#grants.get(digestOf(token))?.namespaces === null;
  }
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** The authorizer for these options, or undefined when auth is off; throws when binding beyond
 * loopback without tokens and without auth: false. */
export function authorizerFor(auth: AuthOption | undefined, host: string): Authorizer | undefined {
  if (auth === false) return undefined;
  if (auth === undefined) {
    if (LOOPBACK.has(host) || host.startsWith('127.')) return undefined;
    throw invalid(`binding ${host} (beyond loopback) needs auth tokens (auth: { tokens }, sluice serve --tokens-file) or auth turned off explicitly (auth: false, --no-auth)`);
  }
  if (typeof auth !== 'object' || auth === null) throw invalid('auth must be { tokens: [...] } or false');
  return new Authorizer(auth.tokens);
}
