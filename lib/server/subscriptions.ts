// Live queries over a WebSocket connection (docs/websocket.md#live-queries): a client sends
// {"subscribe": "<query>", "id": n} as a text message and gets {"id": n, "event": {...}} for each
// event of db.live; {"unsubscribe": n} stops it, and so does closing the connection.
import type { LiveQuery } from '../query/live.js';
import type { Database } from '../tsdb/index.js';
import type { WsConnection } from './backend.js';

export interface ControlMessage {
  subscribe?: unknown;
  unsubscribe?: unknown;
  id?: unknown;
  bufferSize?: unknown;
}

const MAX_SUBSCRIPTIONS_PER_CONNECTION = 256;

/** A JSON text message that is a subscription request rather than points. */
export function controlMessageOf(value: unknown): ControlMessage | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return 'subscribe' in value || 'unsubscribe' in value ? (value as ControlMessage) : undefined;
}

export class Subscriptions {
  readonly #byConnection = new Map<number, Map<number, LiveQuery>>();

  constructor(private readonly db: Database) {}

  /** Carries out one control message; `refuse(series)` says why the connection may not read them. */
  handle(connection: WsConnection, message: ControlMessage, refuse: (series: string[]) => string | undefined): void {
    const reply = (value: object) => connection.send(JSON.stringify(value));
    let mine = this.#byConnection.get(connection.id);
    if (message.unsubscribe !== undefined) {
      const live = mine?.get(message.unsubscribe as number);
      if (!live) return void reply({ error: `no subscription ${JSON.stringify(message.unsubscribe)}`, code: 'SLUICE_INVALID_ARGUMENT', id: message.unsubscribe });
      live.close();
      mine!.delete(message.unsubscribe as number);
      return void reply({ unsubscribed: message.unsubscribe });
    }
    const { subscribe: text, id } = message;
    if (typeof text !== 'string' || !Number.isSafeInteger(id)) {
      return void reply({ error: 'a subscription is {"subscribe": "<query>", "id": <integer>}', code: 'SLUICE_INVALID_ARGUMENT', id });
    }
    if (mine?.has(id as number)) return void reply({ error: `subscription ${id} exists`, code: 'SLUICE_INVALID_ARGUMENT', id });
    if ((mine?.size ?? 0) >= MAX_SUBSCRIPTIONS_PER_CONNECTION) {
      return void reply({ error: `at most ${MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions per connection`, code: 'SLUICE_LIMIT', id });
    }
    let live: LiveQuery;
    try {
      let dropped = 0;
      live = this.db.live(
        text,
        (event) => {
          // A client that does not read loses events (counted in the next one it gets), never the server's memory.
          if (connection.send(JSON.stringify({ id, event, dropped }))) return;
          dropped++;
        },
        message.bufferSize === undefined ? {} : { bufferSize: message.bufferSize as number },
      );
      const refusal = refuse(live.query.series);
      if (refusal) {
        live.close();
        return void reply({ error: refusal, code: 'SLUICE_FORBIDDEN', id });
      }
    } catch (error) {
      const { message: why, code, column, found, expected } = error as { message: string; code?: string; column?: number; found?: string; expected?: string };
      return void reply({ error: why, code, column, found, expected, id });
    }
    if (!mine) this.#byConnection.set(connection.id, (mine = new Map()));
    mine.set(id as number, live);
    reply({ subscribed: id });
  }

  /** The connection closed: its live queries go with it. */
  closeAll(connection: WsConnection): void {
    for (const live of this.#byConnection.get(connection.id)?.values() ?? []) live.close();
    this.#byConnection.delete(connection.id);
  }
}
