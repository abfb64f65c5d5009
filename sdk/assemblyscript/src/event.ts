// The event object u_poll_handle delivers, and a small bounded JSON reader for it.
// Unknown keys are skipped (windowed queries add "window", later hosts may add more).

/** Longest event text accepted, in UTF-16 code units. */
const MAX_EVENT_CHARS: i32 = 1 << 20;
const MAX_STRING_CHARS: i32 = 1 << 16;
const MAX_ARRAY_ITEMS: i32 = 4096;
const MAX_NUMBER_CHARS: i32 = 64;
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

class Reader {
  pos: i32 = 0;
  failed: bool = false;
  constructor(public text: string) {}

  fail(): void { this.failed = true; }

  peek(): i32 {
    return this.pos < this.text.length ? <i32>this.text.charCodeAt(this.pos) : -1;
  }

  skipSpace(): void {
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
      this.pos++;
    }
  }

  expect(c: i32): bool {
    this.skipSpace();
    if (this.peek() != c) { this.fail(); return false; }
    this.pos++;
    return true;
  }

  string(): string {
    if (!this.expect(0x22)) return "";
    const start = this.pos;
    // Fast path: no escapes, one substring.
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c == 0x22) {
        if (this.pos - start > MAX_STRING_CHARS) { this.fail(); return ""; }
        const s = this.text.substring(start, this.pos);
        this.pos++;
        return s;
      }
      if (c == 0x5c) break;
      this.pos++;
    }
    this.pos = start;
    const codes = new Array<i32>();
    while (true) {
      if (this.pos >= this.text.length || codes.length > MAX_STRING_CHARS) { this.fail(); return ""; }
      let c = <i32>this.text.charCodeAt(this.pos++);
      if (c == 0x22) break;
      if (c == 0x5c) {
        if (this.pos >= this.text.length) { this.fail(); return ""; }
        const e = <i32>this.text.charCodeAt(this.pos++);
        if (e == 0x6e) c = 0x0a;        // \n
        else if (e == 0x74) c = 0x09;   // \t
        else if (e == 0x72) c = 0x0d;   // \r
        else if (e == 0x62) c = 0x08;   // \b
        else if (e == 0x66) c = 0x0c;   // \f
        else if (e == 0x75) {           // \uXXXX: one UTF-16 unit, pairs arrive as two escapes
          if (this.pos + 4 > this.text.length) { this.fail(); return ""; }
          c = 0;
          for (let k = 0; k < 4; k++) {
            const h = hexValue(<i32>this.text.charCodeAt(this.pos++));
            if (h < 0) { this.fail(); return ""; }
            c = (c << 4) | h;
          }
        } else if (e == 0x22 || e == 0x5c || e == 0x2f) c = e;
        else { this.fail(); return ""; }
      }
      codes.push(c);
    }
    return String.fromCharCodes(codes);
  }

  /** The text of a JSON number, bounded. */
  numberText(): string {
    this.skipSpace();
    const start = this.pos;
    while (this.pos < this.text.length && this.pos - start <= MAX_NUMBER_CHARS) {
      const c = this.text.charCodeAt(this.pos);
      const isNumberChar = (c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x2b || c == 0x2e || c == 0x65 || c == 0x45;
      if (!isNumberChar) break;
      this.pos++;
    }
    const length = this.pos - start;
    if (length == 0 || length > MAX_NUMBER_CHARS) { this.fail(); return ""; }
    return this.text.substring(start, this.pos);
  }

  number(): f64 {
    const text = this.numberText();
    if (this.failed) return NaN;
    const value = parseFloat(text);
    if (isNaN(value)) this.fail();
    return value;
  }

  /** A JSON integer read exactly (µs timestamps and ids can exceed 2^53). */
  integer(): i64 {
    const text = this.numberText();
    if (this.failed) return 0;
    const negative = text.charCodeAt(0) == 0x2d;
    const first = negative ? 1 : 0;
    let value: u64 = 0;
    let exact = text.length > first && text.length - first <= 18;
    for (let i = first; exact && i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x30 || c > 0x39) exact = false;
      else value = value * 10 + <u64>(c - 0x30);
    }
    if (exact) return negative ? -<i64>value : <i64>value;
    // Fractions, exponents and 19+ digit numbers go through the float reader.
    const f = parseFloat(text);
    if (!isFinite(f)) { this.fail(); return 0; }
    return <i64>f;
  }

  isNull(): bool {
    this.skipSpace();
    if (this.text.substr(this.pos, 4) == "null") { this.pos += 4; return true; }
    return false;
  }

  /** Skips any JSON value; containers at most MAX_SKIP_DEPTH deep. */
  skipValue(depth: i32): void {
    if (depth > MAX_SKIP_DEPTH) { this.fail(); return; }
    this.skipSpace();
    const c = this.peek();
    if (c == 0x22) { this.string(); return; }
    if (c == 0x7b || c == 0x5b) {
      const close = c == 0x7b ? 0x7d : 0x5d;
      this.pos++;
      this.skipSpace();
      if (this.peek() == close) { this.pos++; return; }
      while (!this.failed) {
        if (c == 0x7b) { this.string(); this.expect(0x3a); }
        this.skipValue(depth + 1);
        this.skipSpace();
        const next = this.peek();
        this.pos++;
        if (next == close) return;
        if (next != 0x2c) this.fail();
      }
      return;
    }
    if (this.isNull()) return;
    if (this.text.substr(this.pos, 4) == "true") { this.pos += 4; return; }
    if (this.text.substr(this.pos, 5) == "false") { this.pos += 5; return; }
    this.number();
  }

  /** Enters an array: true when it has elements (read each, then call arrayNext). */
  arrayStart(): bool {
    if (!this.expect(0x5b)) return false;
    this.skipSpace();
    if (this.peek() == 0x5d) { this.pos++; return false; }
    return true;
  }

  /** After an element: true when another follows; at most MAX_ARRAY_ITEMS in all. */
  arrayNext(count: i32): bool {
    this.skipSpace();
    const c = this.peek();
    this.pos++;
    if (c == 0x5d) return false;
    if (c != 0x2c || count >= MAX_ARRAY_ITEMS) { this.fail(); return false; }
    return true;
  }
}

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** Parses one event object; null when the text is not one. */
export function parseEvent(text: string): Event | null {
  if (text.length > MAX_EVENT_CHARS) return null;
  const r = new Reader(text);
  const event = new Event();
  if (!r.expect(0x7b)) return null;
  r.skipSpace();
  if (r.peek() == 0x7d) return event;
  while (!r.failed) {
    const key = r.string();
    r.expect(0x3a);
    if (r.failed) break;
    if (key == "timestamp") {
      event.timestamp = r.integer();
    } else if (key == "value") {
      event.value = r.isNull() ? NaN : r.number();
    } else if (key == "series") {
      event.series = r.string();
    } else if (key == "tags") {
      if (r.arrayStart()) {
        do event.tags.push(r.string()); while (!r.failed && r.arrayNext(event.tags.length));
      }
    } else if (key == "producers") {
      if (r.arrayStart()) {
        do event.producers.push(<u64>r.integer()); while (!r.failed && r.arrayNext(event.producers.length));
      }
    } else {
      r.skipValue(0);
    }
    r.skipSpace();
    const c = r.peek();
    r.pos++;
    if (c == 0x7d) return r.failed ? null : event;
    if (c != 0x2c) r.fail();
    r.skipSpace();
  }
  return null;
}
