// A WebSocket producer for `sluice serve` (docs/client.md): points are batched into Slung binary
// frames (one message per turn of the event loop), acknowledged once durable, resent after a
// reconnect until acknowledged, and held in a bounded buffer while the connection is down.
import { encodeEvents, type FrameEvent } from '../ingest/event-encoder.js';
import type { LiveEvent } from '../query/live.js';

/** The part of the WebSocket API the producer uses: the browser's, Node 22's, or the `ws` package's. */
interface Socket {
  binaryType: string;
  readyState: number;
  send(data: Uint8Array | string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}
type SocketConstructor = new (url: string) => Socket;

export interface ProducerOptions {
  /** ws:// or wss:// URL of the server, e.g. ws://127.0.0.1:2077/. */
  url: string;
  /** A token with the write scope, when the server asks for one (sent as ?token=). */
  token?: string;
  /** Points held while disconnected or unacknowledged; past it write() refuses (default 1,000,000). */
  maxBufferedPoints?: number;
  /** Reconnect backoff: first delay and ceiling in ms (default 100 and 10,000), with jitter. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** The WebSocket class to use; default the global one, else the `ws` package. */
  WebSocket?: SocketConstructor;
}

/** One event of a live query (docs/query.md#live-queries), as the server sends it (a type only:
 * the client loads nothing of the server's code). */
export type LiveEventMessage = LiveEvent;

export interface Subscription {
  /** Events this client did not read in time and the server dropped, as of the last event. */
  readonly dropped: number;
  close(): void;
}

export interface ProducerStats {
  /** Points written and acknowledged as durable by the server. */
  acknowledged: number;
  /** Points waiting: not yet sent, or sent and not yet acknowledged. */
  pending: number;
  /** write() calls refused because the buffer was full. */
  refused: number;
  reconnects: number;
  connected: boolean;
}

interface SentMessage {
  sequence: number;
  frame: Uint8Array;
  points: number;
}

export class Producer {
  readonly #options: Required<Omit<ProducerOptions, 'token' | 'WebSocket'>> & { token?: string };
  #Socket: SocketConstructor | undefined;
  #socket: Socket | undefined;
  #queue: FrameEvent[] = [];
  #unacked: SentMessage[] = [];
  #sequence = 0; // messages sent on the current connection
  #flushScheduled = false;
  #closed = false;
  #delayMs: number;
  #stats = { acknowledged: 0, refused: 0, reconnects: 0 };
  #writebackHandlers: Array<(data: string | Uint8Array) => void> = [];
  #ackWaiters: Array<{ points: number; resolve: () => void }> = [];
  #opened: Promise<void>;
  #resolveOpened!: () => void;
  #nextSubscription = 1;
  #subscriptions = new Map<number, { query: string; onEvent: (event: LiveEventMessage) => void; dropped: number; settle?: (error?: Error) => void }>();

  constructor(options: ProducerOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new TypeError(`url must be ws:// or wss://, got ${options.url}`);
    const maxBufferedPoints = options.maxBufferedPoints ?? 1_000_000;
    if (!Number.isSafeInteger(maxBufferedPoints) || maxBufferedPoints < 1) throw new TypeError('maxBufferedPoints must be a positive integer');
    this.#options = {
      url: options.url,
      token: options.token,
      maxBufferedPoints,
      reconnectMinMs: options.reconnectMinMs ?? 100,
      reconnectMaxMs: options.reconnectMaxMs ?? 10_000,
    };
    this.#Socket = options.WebSocket ?? (globalThis as { WebSocket?: SocketConstructor }).WebSocket;
    this.#delayMs = this.#options.reconnectMinMs;
    this.#opened = new Promise((resolve) => (this.#resolveOpened = resolve));
    void this.#connect();
  }

  /** Resolves once the first connection is open. */
  opened(): Promise<void> {
    return this.#opened;
  }

  /** Queues one point; false (and counted) when the buffer is full. Sent with the others written in
   * the same turn of the event loop, as one message. */
  write(series: string, tags: Record<string, string> | undefined, timestamp: bigint | number, value: number): boolean {
    if (this.#closed) throw new Error('the producer is closed');
    if (this.#pendingPoints() >= this.#options.maxBufferedPoints) {
      this.#stats.refused++;
      return false;
    }
    this.#queue.push({ series, tags, timestamp, value });
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
    return true;
  }

  /** Resolves once everything written so far is acknowledged as durable by the server. */
  durable(): Promise<void> {
    const target = this.#stats.acknowledged + this.#pendingPoints();
    if (target === this.#stats.acknowledged) return Promise.resolve();
    return new Promise((resolve) => this.#ackWaiters.push({ points: target, resolve }));
  }

  /** Messages the server sends back to this producer (server.writeback, workflows). */
  onWriteback(handler: (data: string | Uint8Array) => void): void {
    this.#writebackHandlers.push(handler);
  }

  /**
   * Subscribes to a live query on the server (read scope); resolves once the server accepted it,
   * rejects with its error (for a bad query: code SLUICE_QUERY and the column). Subscriptions are
   * made again after a reconnect.
   */
  subscribe(query: string, onEvent: (event: LiveEventMessage) => void): Promise<Subscription> {
    const id = this.#nextSubscription++;
    const entry: { query: string; onEvent: (event: LiveEventMessage) => void; dropped: number; settle?: (error?: Error) => void } = { query, onEvent, dropped: 0 };
    this.#subscriptions.set(id, entry);
    const subscription: Subscription = {
      get dropped() {
        return entry.dropped;
      },
      close: () => {
        if (!this.#subscriptions.delete(id)) return;
        if (this.#socket?.readyState === 1) this.#socket.send(JSON.stringify({ unsubscribe: id }));
      },
    };
    return new Promise((resolve, reject) => {
      entry.settle = (error) => (error ? reject(error) : resolve(subscription));
      if (this.#socket?.readyState === 1) this.#sendSubscribe(id, query);
    });
  }

  #sendSubscribe(id: number, query: string): void {
    this.#socket!.send(JSON.stringify({ subscribe: query, id }));
  }

  stats(): ProducerStats {
    return { ...this.#stats, pending: this.#pendingPoints(), connected: this.#socket?.readyState === 1 };
  }

  /** Closes the connection; points not yet acknowledged are not sent any more. */
  close(): void {
    this.#closed = true;
    this.#socket?.close(1000, 'producer closed');
  }

  #pendingPoints(): number {
    return this.#queue.length + this.#unacked.reduce((total, message) => total + message.points, 0);
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    if (!this.#Socket) {
      // Node before 22 has no global WebSocket: the `ws` package (a dependency of sluice).
      const module = (await import('ws')) as unknown as { default: SocketConstructor };
      this.#Socket = module.default;
    }
    const url = new URL(this.#options.url);
    url.searchParams.set('ack', '1');
    if (this.#options.token) url.searchParams.set('token', this.#options.token);
    const socket = new this.#Socket(url.toString());
    socket.binaryType = 'arraybuffer';
    this.#socket = socket;
    socket.onopen = () => {
      this.#delayMs = this.#options.reconnectMinMs;
      this.#sequence = 0;
      // At least once: what the last connection did not get acknowledged goes again, first.
      const resend = this.#unacked;
      this.#unacked = [];
      for (const message of resend) this.#send(message.frame, message.points);
      this.#flush();
      for (const [id, { query }] of this.#subscriptions) this.#sendSubscribe(id, query);
      this.#resolveOpened();
    };
    socket.onmessage = ({ data }) => {
      if (typeof data === 'string' && data.startsWith('{"ack":')) {
        this.#acknowledge((JSON.parse(data) as { ack: number }).ack);
        return;
      }
      if (typeof data === 'string' && this.#subscriptions.size > 0 && this.#handleSubscriptionMessage(data)) return;
      const payload = typeof data === 'string' ? data : new Uint8Array(data as ArrayBuffer);
      for (const handler of this.#writebackHandlers) handler(payload);
    };
    socket.onerror = () => undefined; // onclose follows
    socket.onclose = () => {
      if (this.#socket !== socket || this.#closed) return;
      this.#socket = undefined;
      this.#stats.reconnects++;
      const delay = this.#delayMs * (0.5 + Math.random() / 2);
      this.#delayMs = Math.min(this.#delayMs * 2, this.#options.reconnectMaxMs);
      setTimeout(() => void this.#connect(), delay);
    };
  }

  /** Events and answers of subscriptions; false for anything else (a writeback). */
  #handleSubscriptionMessage(text: string): boolean {
    let message: { id?: number; event?: LiveEventMessage; dropped?: number; subscribed?: number; error?: string; code?: string; column?: number };
    try {
      message = JSON.parse(text) as typeof message;
    } catch {
      return false;
    }
    const id = message.subscribed ?? message.id;
    const entry = id === undefined ? undefined : this.#subscriptions.get(id);
    if (!entry) return false;
    if (message.subscribed !== undefined) {
      entry.settle?.();
      entry.settle = undefined;
    } else if (message.event) {
      entry.dropped = message.dropped ?? entry.dropped;
      entry.onEvent(message.event);
    } else if (message.error) {
      this.#subscriptions.delete(id!);
      entry.settle?.(Object.assign(new Error(message.error), { code: message.code, column: message.column }));
    } else {
      return false;
    }
    return true;
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#queue.length === 0 || this.#socket?.readyState !== 1) return;
    const events = this.#queue;
    this.#queue = [];
    this.#send(encodeEvents(events), events.length);
  }

  #send(frame: Uint8Array, points: number): void {
    this.#unacked.push({ sequence: ++this.#sequence, frame, points });
    this.#socket!.send(frame);
  }

  #acknowledge(sequence: number): void {
    while (this.#unacked.length && this.#unacked[0]!.sequence <= sequence) this.#stats.acknowledged += this.#unacked.shift()!.points;
    const ready = this.#ackWaiters.filter((waiter) => waiter.points <= this.#stats.acknowledged);
    this.#ackWaiters = this.#ackWaiters.filter((waiter) => waiter.points > this.#stats.acknowledged);
    for (const waiter of ready) waiter.resolve();
  }
}
