// The event JSON a guest reads from u_poll_handle (docs/workflows.md#abi):
//   {"timestamp":…,"value":…,"tags":["k=v",…],"producers":[…],"series":"…"[,"window":{"start":…,"end":…}]}
// eventJson() builds it as a string; writeEventJson() writes the same bytes straight into a
// buffer (the event ring), so that the main thread keeps no string per event while it waits for
// the guest's acknowledgement. The tags and series parts are encoded once per tag set, not per event.
import type { LiveEvent } from '../query/live.js';

const encoder = new TextEncoder();

/** The `"tags":[...]` text of a tags object. */
function tagsJson(tags: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(tags).map(([key, value]) => `${key}=${value}`));
}

/** The event JSON as a string (events too large for the ring's records, and tests). */
export function eventJson(event: LiveEvent): string {
  const tags = tagsJson(event.tags);
  const value = event.value !== null && Number.isFinite(event.value) ? String(event.value) : 'null';
  const window = event.window ? `,"window":{"start":${event.window.start},"end":${event.window.end}}` : '';
  return `{"timestamp":${event.timestamp},"value":${value},"tags":${tags},"producers":[${event.producers.join(',')}],"series":${JSON.stringify(event.series)}${window}}`;
}

/** One tag set of one series, and its `,"tags":[…],"producers":[` … `],"series":"…"` parts in UTF-8. */
interface TagSetBytes {
  keys: string[];
  values: string[];
  /** `,"tags":[...],"producers":[` */
  beforeProducers: Uint8Array;
  /** `],"series":"..."` */
  afterProducers: Uint8Array;
}

/**
 * Tag sets seen per series name, newest first. Live events of single-point writes carry a fresh
 * tags object per write, so tag sets are recognised by content (a few string comparisons) rather
 * than by object identity.
 */
const tagSetsBySeries = new Map<string, TagSetBytes[]>();
const TAG_SETS_PER_SERIES = 16;
const SERIES_REMEMBERED = 4096;

function sameTags(entry: TagSetBytes, tags: Readonly<Record<string, string>>): boolean {
  let count = 0;
  for (const key in tags) {
    if (!Object.hasOwn(tags, key)) continue;
    if (count >= entry.keys.length || entry.keys[count] !== key || entry.values[count] !== tags[key]) return false;
    count++;
  }
  return count === entry.keys.length;
}

/** The last lookup: eventJsonRoom() and writeEventJson() ask for the same event's in turn, and
 * live events' tags are frozen, so the same object means the same tags. */
let lastTags: object | undefined;
let lastSeries = '';
let lastEntry: TagSetBytes | undefined;

function tagSetBytes(series: string, tags: Readonly<Record<string, string>>): TagSetBytes {
  if (tags === lastTags && series === lastSeries && lastEntry !== undefined && Object.isFrozen(tags)) return lastEntry;
  lastEntry = findTagSet(series, tags);
  lastTags = tags;
  lastSeries = series;
  return lastEntry;
}

function findTagSet(series: string, tags: Readonly<Record<string, string>>): TagSetBytes {
  let sets = tagSetsBySeries.get(series);
  if (sets !== undefined) {
    for (let i = 0; i < sets.length; i++) {
      const entry = sets[i]!;
      if (!sameTags(entry, tags)) continue;
      if (i > 0) {
        sets.splice(i, 1);
        sets.unshift(entry);
      }
      return entry;
    }
  } else {
    if (tagSetsBySeries.size >= SERIES_REMEMBERED) tagSetsBySeries.clear();
    tagSetsBySeries.set(series, (sets = []));
  }
  const keys = Object.keys(tags);
  const entry: TagSetBytes = {
    keys,
    values: keys.map((key) => tags[key]!),
    beforeProducers: encoder.encode(`,"tags":${tagsJson(tags)},"producers":[`),
    afterProducers: encoder.encode(`],"series":${JSON.stringify(series)}`),
  };
  sets.unshift(entry);
  if (sets.length > TAG_SETS_PER_SERIES) sets.pop();
  return entry;
}

const TIMESTAMP = encoder.encode('{"timestamp":');
const VALUE = encoder.encode(',"value":');
const NULL = encoder.encode('null');
const WINDOW_START = encoder.encode(',"window":{"start":');
const WINDOW_END = encoder.encode(',"end":');
/** The longest text String() gives a number, e.g. -1.2345678901234567e-308. */
const NUMBER_ROOM = 25;
const FIXED_ROOM = TIMESTAMP.length + VALUE.length + WINDOW_START.length + WINDOW_END.length + 3;

/** Bytes writeEventJson() may need for this event (an upper bound). */
export function eventJsonRoom(event: LiveEvent): number {
  const tagSet = tagSetBytes(event.series, event.tags);
  return FIXED_ROOM + tagSet.beforeProducers.length + tagSet.afterProducers.length + NUMBER_ROOM * (4 + event.producers.length);
}

/** Writes `n` as String(n) does, at `at`; returns where it ended. Safe integers without a string. */
function writeNumber(target: Uint8Array, at: number, n: number): number {
  if (Number.isSafeInteger(n)) {
    if (n === 0) {
      target[at] = 0x30; // also -0, as String(-0) is "0"
      return at + 1;
    }
    if (n < 0) {
      target[at++] = 0x2d;
      n = -n;
    }
    let digits = 1;
    for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    for (let i = at + digits - 1; i >= at; i--) {
      target[i] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    }
    return at + digits;
  }
  const text = String(n); // ASCII: digits, sign, point, exponent
  for (let i = 0; i < text.length; i++) target[at + i] = text.charCodeAt(i);
  return at + text.length;
}

/**
 * Writes the event JSON (the same bytes as eventJson() in UTF-8) at `at`, which must have
 * eventJsonRoom(event) bytes of room; returns the number of bytes written.
 */
export function writeEventJson(event: LiveEvent, target: Uint8Array, at: number): number {
  const tagSet = tagSetBytes(event.series, event.tags);
  let end = at;
  target.set(TIMESTAMP, end);
  end = writeNumber(target, end + TIMESTAMP.length, event.timestamp);
  target.set(VALUE, end);
  end += VALUE.length;
  if (event.value !== null && Number.isFinite(event.value)) {
    end = writeNumber(target, end, event.value);
  } else {
    target.set(NULL, end);
    end += NULL.length;
  }
  target.set(tagSet.beforeProducers, end);
  end += tagSet.beforeProducers.length;
  for (let i = 0; i < event.producers.length; i++) {
    if (i > 0) target[end++] = 0x2c;
    end = writeNumber(target, end, event.producers[i]!);
  }
  target.set(tagSet.afterProducers, end);
  end += tagSet.afterProducers.length;
  if (event.window) {
    target.set(WINDOW_START, end);
    end = writeNumber(target, end + WINDOW_START.length, event.window.start);
    target.set(WINDOW_END, end);
    end = writeNumber(target, end + WINDOW_END.length, event.window.end);
    target[end++] = 0x7d;
  }
  target[end++] = 0x7d;
  return end - at;
}
