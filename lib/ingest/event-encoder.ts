// The Slung WebSocket binary event encoder (docs/websocket.md), plain TS with no native code, so
// the client SDK (lib/client) runs in browsers and where the addon cannot load.
//
//   [timestamp i64 µs][value f64][series_len u16][tag_count u16][series][tag_count × (len u16, "key=value")]

export interface FrameEvent {
  series: string;
  /** Tags as { key: value } (sent as "key=value" strings). */
  tags?: Readonly<Record<string, string>>;
  /** Microseconds since the epoch. */
  timestamp: bigint | number;
  value: number;
}

const MAX_U16 = 0xffff;
const encoder = new TextEncoder();

/** Encodes events back to back into one binary message. */
export function encodeEvents(events: readonly FrameEvent[]): Uint8Array {
  const parts = events.map((event, i) => {
    const series = encoder.encode(event.series);
    const tags = Object.entries(event.tags ?? {}).map(([key, value]) => encoder.encode(`${key}=${value}`));
    if (series.length === 0 || series.length > MAX_U16) throw new RangeError(`events[${i}].series must have 1..65535 bytes`);
    if (tags.length > MAX_U16 || tags.some((tag) => tag.length > MAX_U16)) throw new RangeError(`events[${i}].tags are too long for the frame`);
    return { series, tags, timestamp: BigInt(event.timestamp), value: event.value };
  });
  const size = parts.reduce((total, part) => total + 20 + part.series.length + part.tags.reduce((t, tag) => t + 2 + tag.length, 0), 0);
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  let offset = 0;
  for (const part of parts) {
    view.setBigInt64(offset, part.timestamp, true);
    view.setFloat64(offset + 8, part.value, true);
    view.setUint16(offset + 16, part.series.length, true);
    view.setUint16(offset + 18, part.tags.length, true);
    bytes.set(part.series, offset + 20);
    offset += 20 + part.series.length;
    for (const tag of part.tags) {
      view.setUint16(offset, tag.length, true);
      bytes.set(tag, offset + 2);
      offset += 2 + tag.length;
    }
  }
  return bytes;
}

