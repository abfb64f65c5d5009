import type { HttpHandler } from './http.js';

export type BackendName = 'uws' | 'node';

/** One HTTP server implementation behind the interface the rest of sluice uses. */
export interface HttpBackend {
  readonly name: BackendName;
  /** Starts listening; resolves to the bound port (useful with port 0). */
  listen(host: string, port: number): Promise<number>;
  /** Stops listening and closes every open connection. */
  close(): Promise<void>;
}

export type BackendFactory = (handler: HttpHandler) => HttpBackend;
