// The event object u_poll_handle delivers, and a small bounded JSON reader for it.
//
// The reader works on the UTF-8 bytes where the host put them, so keys and numbers are matched
// and converted in place; only the strings the Event keeps (tags, series) become GC strings.
// Unknown keys are skipped (windowed queries add "window", later hosts may add more).

const MAX_EVENT_BYTES: usize = 1 << 20;
const MAX_STRING_BYTES: usize = 1 << 16;
const MAX_ARRAY_ITEMS: i32 = 4096;
const MAX_NUMBER_BYTES: usize = 64;
/** Nesting allowed inside values of unknown keys. */
const MAX_SKIP_DEPTH: i32 = 32;

export class Event {
  /** µs since the Unix epoch. */
  timestamp: i64 = 0;
  /** NaN when the aggregate matched no point (JSON null). */
  value: f64 = NaN;
  /** "key=value" strings. */
  tags: string[] = [];
  /** WebSocket connections that produced the data; targets for writebackWs. */
  producers: u64[] = [];
  series: string = "";

  /** The value of tag `key`, or null when the event has no such tag. */
  tag(key: string): string | null {
    const prefix = key + "=";
    for (let i = 0; i < this.tags.length; i++) {
      const tag = unchecked(this.tags[i]);
      if (tag.startsWith(prefix)) return tag.substring(prefix.length);
    }
    return null;
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;

// Powers of ten exact in an f64, for the fast decimal path.
const EXACT_POWERS_OF_TEN: StaticArray<f64> = [
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

class Reader {
  failed: bool = false;
  constructor(public pos: usize, public end: usize) {}

  fail(): void { this.failed = true; }

  /** The next non-space byte without consuming it; -1 at the end. */
  peek(): i32 {
    let pos = this.pos;
    const end = this.end;
    while (pos < end) {
      const c = <i32>load<u8>(pos);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) { this.pos = pos; return c; }
      pos++;
    }
    this.pos = pos;
    return -1;
  }

  next(): i32 {
    const c = this.peek();
    if (c >= 0) this.pos++;
    return c;
  }

  expect(c: i32): bool {
    if (this.next() == c) return true;
    this.fail();
    return false;
  }

  /** Consumes `word` (ASCII) when it comes next. */
  literal(word: string): bool {
    this.peek();
    const length = <usize>word.length;
    if (this.pos + length > this.end) return false;
    for (let i: usize = 0; i < length; i++) {
      if (<i32>load<u8>(this.pos + i) != <i32>word.charCodeAt(<i32>i)) return false;
    }
    this.pos += length;
    return true;
  }

  /**
   * Reads a string's raw bytes; true when it has no escapes (they are then
   * `rawStart`..`rawStart + rawLength`). With escapes, `decoded` holds the text.
   */
  rawStart: usize = 0;
  rawLength: usize = 0;
  decoded: string = "";
  stringRaw(): bool {
    if (!this.expect(QUOTE)) return false;
    const start = this.pos;
    const limit = min(this.end, start + MAX_STRING_BYTES);
    let pos = start;
    while (pos < limit) {
      const c = <i32>load<u8>(pos);
      if (c == QUOTE) {
        this.rawStart = start;
        this.rawLength = pos - start;
        this.pos = pos + 1;
        return true;
      }
      if (c == BACKSLASH) { this.pos = start; this.decoded = this.escapedString(); return false; }
      pos++;
    }
    this.fail();
    return false;
  }

  string(): string {
    if (this.stringRaw()) return String.UTF8.decodeUnsafe(this.rawStart, this.rawLength);
    return this.failed ? "" : this.decoded;
  }

  /** A string with escapes, from just after its opening quote: plain runs and escapes joined. */
  escapedString(): string {
    const limit = min(this.end, this.pos + MAX_STRING_BYTES);
    let text = "";
    let runStart = this.pos;
    while (true) {
      if (this.pos >= limit) { this.fail(); return ""; }
      const c = <i32>load<u8>(this.pos);
      if (c != QUOTE && c != BACKSLASH) { this.pos++; continue; }
      text += String.UTF8.decodeUnsafe(runStart, this.pos - runStart);
      this.pos++;
      if (c == QUOTE) return text;
      if (this.pos >= limit) { this.fail(); return ""; }
      const e = <i32>load<u8>(this.pos++);
      let unit = e;
      if (e == 0x6e) unit = 0x0a;        // \n
      else if (e == 0x74) unit = 0x09;   // \t
      else if (e == 0x72) unit = 0x0d;   // \r
      else if (e == 0x62) unit = 0x08;   // \b
      else if (e == 0x66) unit = 0x0c;   // \f
      else if (e == 0x75) {              // \uXXXX: one UTF-16 unit; pairs arrive as two escapes
        if (this.pos + 4 > limit) { this.fail(); return ""; }
        unit = 0;
        for (let k = 0; k < 4; k++) {
          const h = hexValue(<i32>load<u8>(this.pos++));
          if (h < 0) { this.fail(); return ""; }
          unit = (unit << 4) | h;
        }
      } else if (e != QUOTE && e != BACKSLASH && e != 0x2f) { this.fail(); return ""; }
      text += String.fromCharCode(unit);
      runStart = this.pos;
    }
  }

  /** True when the string that comes next is exactly `key` (ASCII, no escapes). */
  keyIs(key: string): bool {
    if (this.rawLength != <usize>key.length) return false;
    for (let i: usize = 0; i < this.rawLength; i++) {
      if (<i32>load<u8>(this.rawStart + i) != <i32>key.charCodeAt(<i32>i)) return false;
    }
    return true;
  }

  /** Consumes a number's bytes; sets numberStart / numberLength. */
  numberStart: usize = 0;
  numberLength: usize = 0;
  numberBytes(): bool {
    this.peek();
    const start = this.pos;
    const limit = min(this.end, start + MAX_NUMBER_BYTES + 1);
    let pos = start;
    while (pos < limit) {
      const c = <i32>load<u8>(pos);
      const isNumberByte = (c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x2b || c == 0x2e || c == 0x65 || c == 0x45;
      if (!isNumberByte) break;
      pos++;
    }
    const length = pos - start;
    if (length == 0 || length > MAX_NUMBER_BYTES) { this.fail(); return false; }
    this.numberStart = start;
    this.numberLength = length;
    this.pos = pos;
    return true;
  }

  number(): f64 {
    if (!this.numberBytes()) return NaN;
    const fast = fastDecimal(this.numberStart, this.numberLength);
    if (!isNaN(fast)) return fast;
    const value = parseFloat(String.UTF8.decodeUnsafe(this.numberStart, this.numberLength));
    if (isNaN(value)) this.fail();
    return value;
  }

  /** A JSON integer read exactly (µs timestamps and ids can exceed 2^53). */
  integer(): u64 {
    if (!this.numberBytes()) return 0;
    const start = this.numberStart;
    const length = this.numberLength;
    const negative = load<u8>(start) == 0x2d;
    const first: usize = negative ? 1 : 0;
    let value: u64 = 0;
    let exact = length > first && length - first <= 19;
    for (let i = first; exact && i < length; i++) {
      const c = <i32>load<u8>(start + i);
      if (c < 0x30 || c > 0x39) exact = false;
      else value = value * 10 + <u64>(c - 0x30);
    }
    if (exact) return negative ? <u64>(-<i64>value) : value;
    // Fractions, exponents and 20+ digit numbers go through the float reader.
    const f = parseFloat(String.UTF8.decodeUnsafe(start, length));
    if (!isFinite(f)) { this.fail(); return 0; }
    return f < 0 ? <u64><i64>f : <u64>f;
  }

  /** Skips any JSON value; containers at most MAX_SKIP_DEPTH deep. */
  skipValue(depth: i32): void {
    if (depth > MAX_SKIP_DEPTH) { this.fail(); return; }
    const c = this.peek();
    if (c == QUOTE) { this.stringRaw(); return; }
    if (c == 0x7b || c == 0x5b) {
      const close = c == 0x7b ? 0x7d : 0x5d;
      this.pos++;
      if (this.peek() == close) { this.pos++; return; }
      while (!this.failed) {
        if (c == 0x7b) { this.stringRaw(); this.expect(COLON); }
        this.skipValue(depth + 1);
        const next = this.next();
        if (next == close) return;
        if (next != COMMA) this.fail();
      }
      return;
    }
    if (this.literal("null") || this.literal("true") || this.literal("false")) return;
    this.numberBytes();
  }

  /** Enters an array: true when it has elements (read each, then call arrayNext). */
  arrayStart(): bool {
    if (!this.expect(0x5b)) return false;
    if (this.peek() == 0x5d) { this.pos++; return false; }
    return true;
  }

  /** After an element: true when another follows; at most MAX_ARRAY_ITEMS in all. */
  arrayNext(count: i32): bool {
    const c = this.next();
    if (c == 0x5d) return false;
    if (c != COMMA || count >= MAX_ARRAY_ITEMS) this.fail();
    return !this.failed;
  }
}

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/**
 * `[-]digits[.digits]` with at most 15 significant digits, converted exactly (an integer below
 * 2^53 divided by an exact power of ten rounds correctly); NaN for anything else.
 */
function fastDecimal(start: usize, length: usize): f64 {
  let pos = start;
  const end = start + length;
  const negative = load<u8>(pos) == 0x2d;
  if (negative) pos++;
  let mantissa: u64 = 0;
  let digits = 0;
  let fractionDigits = 0;
  let seenPoint = false;
  for (; pos < end; pos++) {
    const c = <i32>load<u8>(pos);
    if (c == 0x2e && !seenPoint) { seenPoint = true; continue; }
    if (c < 0x30 || c > 0x39 || ++digits > 15) return NaN;
    mantissa = mantissa * 10 + <u64>(c - 0x30);
    if (seenPoint) fractionDigits++;
  }
  if (digits == 0) return NaN;
  const value = <f64>mantissa / unchecked(EXACT_POWERS_OF_TEN[fractionDigits]);
  return negative ? -value : value;
}

/** Parses the event object at `start`..`start + length`; null when it is not one. */
export function parseEvent(start: usize, length: usize): Event | null {
  if (length > MAX_EVENT_BYTES) return null;
  const r = new Reader(start, start + length);
  const event = new Event();
  if (!r.expect(0x7b)) return null;
  if (r.peek() == 0x7d) { r.pos++; return r.peek() < 0 ? event : null; }
  while (!r.failed) {
    const plainKey = r.stringRaw();
    r.expect(COLON);
    if (r.failed) break;
    if (!plainKey) r.skipValue(0); // an escaped key is none of ours
    else if (r.keyIs("timestamp")) event.timestamp = <i64>r.integer();
    else if (r.keyIs("value")) event.value = r.literal("null") ? NaN : r.number();
    else if (r.keyIs("series")) event.series = r.string();
    else if (r.keyIs("tags")) {
      if (r.arrayStart()) {
        do event.tags.push(r.string()); while (!r.failed && r.arrayNext(event.tags.length));
      }
    } else if (r.keyIs("producers")) {
      if (r.arrayStart()) {
        do event.producers.push(r.integer()); while (!r.failed && r.arrayNext(event.producers.length));
      }
    } else r.skipValue(0);
    const c = r.next();
    // The object must be all there is (trailing spaces aside).
    if (c == 0x7d) return r.failed || r.peek() >= 0 ? null : event;
    if (c != COMMA) r.fail();
  }
  return null;
}
