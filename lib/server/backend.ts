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

/** One WebSocket connection as the server's handlers see it, whichever backend carries it. */
export interface WsConnection {
  /** The producer id: unique per connection for the life of the server, from 1. */
  readonly id: number;
  /** The upgrade request's path and raw query string. */
  readonly path: string;
  readonly query: string;
  /** The producer asked for acks (`?ack=1`): `{"ack": n}` once its first n messages are durable. */
  readonly acks: boolean;
  /** Messages written so far (the sequence number of the last one). */
  written: number;
  /** The token the connection presented at the upgrade, if any (auth checks each message's series). */
  readonly token: string | undefined;
  /** Queues a message; false when the connection is gone or its send buffer is over the limit. */
  send(data: string | Uint8Array): boolean;
  /** Closes with a WebSocket close code (RFC 6455 §7.4) and a short reason. */
  close(code: number, reason: string): void;
}

export interface WsHandlers {
  /** Larger messages close the connection with 1009. */
  maxPayloadBytes: number;
  /** Bytes queued for one connection before send() refuses (a slow reader loses writebacks, not the server). */
  maxSendBufferBytes: number;
  /** Called at the upgrade: a refusal answers the upgrade request with its status and error. */
  authorize(headers: Record<string, string>, query: string): { status: number; error: string; code: string } | undefined;
  /** The token an upgrade request presents (Authorization header or ?token=). */
  tokenOf(headers: Record<string, string>, query: string): string | undefined;
  open(connection: WsConnection): void;
  /** `data` is valid only during the call (uWebSockets.js reuses the buffer): parse it, don't keep it. */
  message(connection: WsConnection, data: Uint8Array, isBinary: boolean): void;
  close(connection: WsConnection, code: number): void;
}

export interface BackendOptions {
  /** Larger HTTP request bodies are answered 413. */
  maxBodyBytes: number;
  websocket?: WsHandlers;
}

export type BackendFactory = (handler: HttpHandler, options: BackendOptions) => HttpBackend;

/** Whether the upgrade's query string asks for acks. */
export function wantsAcks(query: string): boolean {
  const value = new URLSearchParams(query).get('ack');
  return value === '1' || value === 'true';
}

/** Producer ids are unique across both backends and every server in the process. */
let lastConnectionId = 0;
export function nextConnectionId(): number {
  return ++lastConnectionId;
}
