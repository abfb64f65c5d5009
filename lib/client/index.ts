// `sluice/client`: talks to a running sluice server. Needs no native code, so it also runs where
// the addon cannot load.

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
}

export class SluiceClient {
  readonly url: string;
  private readonly timeoutMs: number;

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
  }

  /** GET /health; rejects with the status and body when the server answers anything but 200. */
  async health(): Promise<HealthReport> {
    const response = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(this.timeoutMs) });
    const body = await response.text();
    if (response.status !== 200) throw new Error(`GET ${this.url}/health answered ${response.status}: ${body}`);
    return JSON.parse(body) as HealthReport;
  }
}
