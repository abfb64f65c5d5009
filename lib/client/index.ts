// `sluice/client`: talks to a running sluice server. Needs no native code, so it also runs where
// the addon cannot load.
import { Producer, type ProducerOptions } from './producer.js';

export { Producer, type ProducerOptions, type ProducerStats } from './producer.js';

export interface HealthReport {
  status: string;
  version: string;
  backend: string;
  uptimeSeconds: number;
  dataDir: string;
}

export interface ClientOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:2077. */
  url: string;
  /** Per-request timeout in milliseconds (default 10000). */
  timeoutMs?: number;
  /** A bearer token, when the server asks for one (docs/server.md#auth). */
  token?: string;
}

/** A refusal from the server: its HTTP status and the error it sent (code, and for queries the column). */
export class SluiceRequestError extends Error {
  override name = 'SluiceRequestError';
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
    readonly details: Record<string, unknown>,
  ) {
    super(message);
  }
}

export class SluiceClient {
  readonly url: string;
  private readonly timeoutMs: number;
  private readonly token: string | undefined;

  constructor(options: ClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new TypeError(`url must be an absolute http(s) URL such as http://127.0.0.1:2077, got ${JSON.stringify(options.url)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`url must use http or https, got ${parsed.protocol}`);
    }
    this.url = parsed.origin;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.token = options.token;
  }

  private headers(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  private async refused(response: Response, what: string): Promise<never> {
    const text = await response.text();
    let details: Record<string, unknown> = {};
    try {
      details = JSON.parse(text) as Record<string, unknown>;
    } catch {
      details = { error: text };
    }
    throw new SluiceRequestError(`${what} answered ${response.status}: ${String(details.error ?? text)}`, response.status, details.code as string | undefined, details);
  }

  /** GET /query: the result of a query (docs/query.md) — a number or null, buckets, or groups. */
  async query(dsl: string, options: { now?: bigint | number } = {}): Promise<unknown> {
    const url = new URL('/query', this.url);
    url.searchParams.set('q', dsl);
    if (options.now !== undefined) url.searchParams.set('now', String(options.now));
    const response = await fetch(url, { headers: this.headers(), signal: AbortSignal.timeout(this.timeoutMs) });
    if (response.status !== 200) return this.refused(response, `GET /query`);
    return ((await response.json()) as { result: unknown }).result;
  }

  /** POST /write: InfluxDB line protocol (docs/line-protocol.md); resolves when the server took it. */
  async writeLines(lines: string | Uint8Array, options: { precision?: 'ns' | 'us' | 'ms' | 's' } = {}): Promise<void> {
    const response = await fetch(`${this.url}/write?precision=${options.precision ?? 'ns'}`, {
      method: 'POST',
      body: lines,
      headers: this.headers(),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (response.status !== 204) return this.refused(response, 'POST /write');
  }

  /** A WebSocket producer on this server (batched binary frames, durable acks, reconnects). */
  producer(options: Omit<ProducerOptions, 'url' | 'token'> = {}): Producer {
    return new Producer({ ...options, url: this.url.replace(/^http/, 'ws') + '/', token: this.token });
  }

  /** GET /health; rejects with the status and body when the server answers anything but 200. */
  async health(): Promise<HealthReport> {
    const response = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(this.timeoutMs) });
    const body = await response.text();
    if (response.status !== 200) throw new Error(`GET ${this.url}/health answered ${response.status}: ${body}`);
    return JSON.parse(body) as HealthReport;
  }
}
