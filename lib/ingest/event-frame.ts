// The Slung WebSocket binary event (docs/websocket.md): the encoder (plain TS, so the client SDK
// runs without the addon) and the native parser's wrapper.
//
//   [timestamp i64 µs][value f64][series_len u16][tag_count u16][series][tag_count × (len u16, "key=value")]
//
// little-endian; one message holds one event or several back to back.
import { native, type EventFrameBatch } from '../../bindings/index.js';

export { encodeEvents, type FrameEvent } from './event-encoder.js';

export type { EventFrameBatch };

/** Parses one binary message natively; a bad one throws SLUICE_FRAME with `offset` and `event`. */
export function parseEventFrame(input: Uint8Array): EventFrameBatch {
  if (!(input instanceof Uint8Array)) {
    throw Object.assign(new TypeError('input must be a Uint8Array or a Buffer'), { code: 'SLUICE_INVALID_ARGUMENT' });
  }
  return native().addon.parseEventFrame(input);
}
