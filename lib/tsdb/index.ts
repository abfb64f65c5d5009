// The embedded time-series database: `open()` and the Database it returns.
// Arguments are checked here; the native engine (native/engine.cc) checks again and does the work.
import { native, type EngineHandle, type EventFrameBatch, type NativeEngineStats } from '../../bindings/index.js';
import { resolveDataDir } from '../data-dir.js';
import { SluiceError } from '../errors.js';
import { lineArguments, type ParseLinesOptions } from '../ingest/line-protocol.js';
import { parseQuery } from '../dsl/parser.js';
import type { Query } from '../dsl/ast.js';
import { MAX_EXACT_PERCENTILE_POINTS, runQuery, type QueryResult, type QuerySource } from '../query/engine.js';
import { LiveQuery, LiveRegistry, type LiveCallback, type LiveOptions, type WrittenPoints } from '../query/live.js';
import { SeriesIndex, parseSeriesKey, type SeriesEntry } from '../query/series-index.js';

export type Durability = 'sync' | 'batch' | 'none';
export type Tags = Readonly<Record<string, string>>;
/** Microseconds since the Unix epoch: a bigint, or a number that is a safe integer. */
export type Timestamp = bigint | number;
export type AggregateOp = 'count' | 'sum' | 'avg' | 'min' | 'max' | 'first' | 'last';

export interface OpenOptions {
  /** Data directory; default $SLUICE_DATA_DIR or ./sluice-data. */
  dir?: string;
  /** When a write is acknowledged: `batch` (default) once in the log, fsynced within syncIntervalMs;
   * `sync` once fsynced; `none` in memory only (benchmarks). */
  durability?: Durability;
  /** `batch` mode: the longest time between a write and its fsync (default 100 ms). */
  syncIntervalMs?: number;
  /** Memtable budget in bytes before a flush to a segment (default 64 MiB). */
  memtableBytes?: number;
  /** How long data is kept, e.g. '30d', '12h', '2w' (s m h d w); segments entirely older are
   * dropped. Default: forever. */
  retention?: string;
  /** Merge a run of this many similar-sized segments in the background (default 4; 0 turns
   * background merging off, e.g. for a bulk load followed by compact()). */
  compactionTrigger?: number;
  /** Rollups written as data arrives: for each `every` bucket of `series`, one point per op at the
   * bucket's start in `<series>.<op>_<every>` with the same tags (e.g. temp.avg_1m). Buckets are
   * recomputed from all the data whenever a flush brings points into them, late points included. */
  downsample?: DownsampleRule[];
  /** Threads one read may use, the caller's included: narrow-window aggregates over many blocks
   * are cut into time ranges computed side by side. Default 0: one per core, at most 8; 1 keeps
   * every read on the calling thread. */
  queryThreads?: number;
  /**
   * How write-ahead log records get into the log file (docs/storage.md): `mapped` (default) copies
   * them into a shared mapping of a preallocated file, with no system call per write; `writev`
   * writes each with a system call, for file systems where shared mappings of files are not wanted
   * (for example network file systems). Both survive kill -9 once a write returns.
   */
  walWrites?: 'mapped' | 'writev';
}

export interface DownsampleRule {
  series: string;
  /** Bucket width, e.g. '1m', '1h' (s m h d w). */
  every: string;
  /** Default ['avg', 'min', 'max']. */
  ops?: AggregateOp[];
}

export interface SeriesSelector {
  series: string;
  tags?: Tags;
  /** Inclusive; default the earliest time. */
  start?: Timestamp;
  /** Inclusive; default the latest time. */
  end?: Timestamp;
}

export interface AggregateQuery extends SeriesSelector {
  op: AggregateOp;
}

export interface WindowQuery extends AggregateQuery {
  /** Window width, e.g. '1s', '1m', '1h' (s m h d w); windows are aligned to the Unix epoch. */
  every: string;
}

/** Arrays of the caller's that `aggregateWindows` writes its result into (see there). */
export interface WindowOutput {
  starts: BigInt64Array;
  values: Float64Array;
}

/** One row per window that holds points: its start (µs) and the aggregate. */
export interface WindowResult {
  starts: BigInt64Array;
  values: Float64Array;
}

export interface DatabaseStats extends NativeEngineStats {
  /** Live queries open on this directory (in this thread). */
  liveQueries: number;
  /** Events live queries dropped because their consumers fell behind. */
  liveEventsDropped: number;
}

export interface WriteOptions {
  /** Who sent the points (e.g. a WebSocket connection id): live query events name it. */
  producer?: number;
}

export interface WriteLinesOptions extends ParseLinesOptions, WriteOptions {}

export interface WriteRemoteWriteOptions extends WriteOptions {
  /** Largest uncompressed WriteRequest accepted (default 64 MiB, at most 2^32): a snappy preamble
   * declaring more is refused with SLUICE_TOO_LARGE before anything is allocated. */
  maxUncompressedBytes?: number;
}

const DEFAULT_MAX_UNCOMPRESSED_BYTES = 64 * 2 ** 20;

export interface QueryOptions {
  /** The time `now` and durations in the range refer to (µs); default the clock. */
  now?: Timestamp;
}

/** Dashboards repeat the same queries: their parsed forms are kept (never mutated by the engine). */
const parsedQueries = new Map<string, Query>();
const PARSED_QUERY_CACHE = 512;

function cachedParse(dsl: string): Query {
  let parsed = typeof dsl === 'string' ? parsedQueries.get(dsl) : undefined;
  if (parsed) return parsed;
  parsed = parseQuery(dsl);
  if (parsedQueries.size >= PARSED_QUERY_CACHE) parsedQueries.delete(parsedQueries.keys().next().value!);
  parsedQueries.set(dsl, parsed);
  return parsed;
}

/** Live queries see the writes made through every Database of the same directory in this thread. */
const liveRegistries = new Map<string, { registry: LiveRegistry; users: number }>();

const DURABILITY_CODES: Record<Durability, 0 | 1 | 2> = { none: 0, batch: 1, sync: 2 };
const OP_CODES: Record<AggregateOp, number> = { count: 0, sum: 1, avg: 2, min: 3, max: 4, first: 5, last: 6 };
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const SCAN_BATCH = 65_536;

const DURATION_UNITS: Record<string, bigint> = {
  s: 1_000_000n,
  m: 60_000_000n,
  h: 3_600_000_000n,
  d: 86_400_000_000n,
  w: 604_800_000_000n,
};

/** '30d' -> microseconds; `what` names the option in the error. */
export function parseDuration(text: unknown, what: string): bigint {
  const match = typeof text === 'string' ? /^(\d+)([smhdw])$/.exec(text) : null;
  if (!match || BigInt(match[1]!) === 0n) {
    throw invalid(`${what} must be a positive whole number with a unit s, m, h, d or w (such as "30d"), got ${JSON.stringify(text)}`);
  }
  return BigInt(match[1]!) * DURATION_UNITS[match[2]!]!;
}

function checkWindowOutput(into: WindowOutput): void {
  if (typeof into !== 'object' || into === null) throw invalid(`into must be { starts: BigInt64Array, values: Float64Array }, got ${String(into)}`);
  if (!(into.starts instanceof BigInt64Array)) throw invalid('into.starts must be a BigInt64Array');
  if (!(into.values instanceof Float64Array)) throw invalid('into.values must be a Float64Array');
  if (into.starts.length !== into.values.length) {
    throw invalid(`into.starts and into.values must have the same length, got ${into.starts.length} and ${into.values.length}`);
  }
  if (into.starts.buffer === into.values.buffer) {
    const a = into.starts.byteOffset, b = into.values.byteOffset, bytes = into.starts.byteLength;
    if (bytes > 0 && a < b + bytes && b < a + bytes) throw invalid('into.starts and into.values must not share memory');
  }
}

function invalid(message: string): SluiceError {
  return new SluiceError('SLUICE_INVALID_ARGUMENT', message);
}

/** Native errors carry a code; give them the SluiceError class too. */
function asSluiceError(error: unknown): unknown {
  const code = (error as { code?: string }).code;
  if (error instanceof SluiceError || typeof code !== 'string' || !code.startsWith('SLUICE_')) return error;
  const wrapped = new SluiceError(code as SluiceError['code'], (error as Error).message, { cause: error });
  const { line, column, offset, event } = error as { line?: number; column?: number; offset?: number; event?: number };
  if (line !== undefined) Object.assign(wrapped, { line, column });
  if (offset !== undefined) Object.assign(wrapped, { offset, event });
  return wrapped;
}

function checkSeries(series: unknown): string {
  if (typeof series !== 'string' || series.length === 0) {
    throw invalid(`series must be a non-empty string, got ${series === '' ? 'an empty string' : typeof series}`);
  }
  return series;
}

/** What flattenTags gives for no tags: one frozen array (the engine and live queries only read it). */
const NO_TAGS: string[] = Object.freeze([]) as unknown as string[];

/** Tags as the flat [k1, v1, k2, v2, ...] array the engine takes. */
function flattenTags(tags: unknown): string[] {
  if (tags === undefined || tags === null) return NO_TAGS;
  if (typeof tags !== 'object' || Array.isArray(tags)) {
    throw invalid('tags must be an object of string values, such as { sensor: "1" }');
  }
  // for-in with hasOwn visits what Object.entries would, without an array per tag. Counted first,
  // so the array is made at its size: grown by push, its first store would hold 17 elements.
  let count = 0;
  for (const key in tags) if (Object.hasOwn(tags, key)) count++;
  if (count === 0) return NO_TAGS;
  const flat = new Array<string>(count * 2);
  let at = 0;
  for (const key in tags) {
    if (!Object.hasOwn(tags, key)) continue;
    const value = (tags as Record<string, unknown>)[key];
    if (typeof value !== 'string') {
      throw invalid(`tag "${key}" must be a string, got ${typeof value}${typeof value === 'number' ? ` (use "${value}")` : ''}`);
    }
    flat[at++] = key;
    flat[at++] = value;
  }
  return flat;
}

function checkProducer(options: WriteOptions | undefined): number | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) throw invalid('options must be an object such as { producer: 7 }');
  const { producer } = options;
  if (producer === undefined) return undefined;
  if (!Number.isSafeInteger(producer) || producer < 0) {
    throw invalid(`producer must be a non-negative safe integer (a connection id), got ${String(producer)}`);
  }
  return producer;
}

function checkTimestamp(value: unknown, what: string): bigint | number {
  if (typeof value === 'bigint') {
    if (value < INT64_MIN || value > INT64_MAX) throw invalid(`${what} ${value} is outside the int64 range`);
    return value;
  }
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  throw invalid(`${what} must be microseconds as a bigint or a safe integer number, got ${String(value)}`);
}

function rangeBound(value: Timestamp | undefined, fallback: bigint, what: string): bigint {
  if (value === undefined) return fallback;
  return BigInt(checkTimestamp(value, what));
}

/** The points of one write, as live queries see them: the series key is made only when asked for. */
class WrittenSeries implements WrittenPoints {
  constructor(
    readonly series: string,
    readonly tags: Record<string, string>,
    readonly flatTags: string[],
    readonly timestamps: WrittenPoints['timestamps'],
    readonly values: WrittenPoints['values'],
    readonly producer: number | undefined,
  ) {}

  key(): string {
    return native().addon.seriesKey(this.series, this.flatTags);
  }
}

export class Database {
  #handle: EngineHandle | undefined;
  readonly dir: string;
  readonly #live: LiveRegistry;
  /**
   * A one-point write hands live queries these instead of two new arrays (they read them during
   * the dispatch and keep nothing); a write made from inside a dispatch gets arrays of its own.
   */
  readonly #onePointTime: Array<bigint | number> = [0];
  readonly #onePointValue = new Float64Array(1);
  #dispatchDepth = 0;
  readonly #myLiveQueries = new Set<LiveQuery>();
  #index: SeriesIndex | undefined;

  /** When writes are acknowledged (see OpenOptions.durability). */
  readonly durability: Durability;
  /** whenDurable() callers waiting for the log's fsync to reach their position, in order. */
  #durableWaiters: Array<{ position: number; resolve: () => void; reject: (error: unknown) => void }> = [];
  #durablePoll: ReturnType<typeof setTimeout> | undefined;
  readonly #syncIntervalMs: number;

  /** @internal use open() */
  constructor(handle: EngineHandle, dir: string, durability: Durability = 'batch', syncIntervalMs = 100) {
    this.#handle = handle;
    this.dir = dir;
    this.durability = durability;
    this.#syncIntervalMs = syncIntervalMs;
    let shared = liveRegistries.get(dir);
    if (!shared) liveRegistries.set(dir, (shared = { registry: new LiveRegistry(), users: 0 }));
    shared.users++;
    this.#live = shared.registry;
  }

  #open(): EngineHandle {
    if (!this.#handle) throw new SluiceError('SLUICE_CLOSED', `the database at ${this.dir} is closed`);
    return this.#handle;
  }

  /** Writes one point. */
  write(series: string, tags: Tags | undefined, timestamp: Timestamp, value: number, options?: WriteOptions): void {
    const handle = this.#open();
    const flat = flattenTags(tags);
    checkSeries(series);
    const time = checkTimestamp(timestamp, 'timestamp');
    if (typeof value !== 'number') throw invalid(`value must be a number, got ${typeof value}`);
    const producer = checkProducer(options);
    try {
      native().addon.engineWritePoint(handle, series, flat, time, value);
    } catch (error) {
      throw asSluiceError(error);
    }
    if (this.#live.listens(series)) {
      if (this.#dispatchDepth > 0) {
        this.#dispatch(series, flat, [time], [value], producer); // a write made from inside a dispatch
      } else {
        this.#onePointTime[0] = time;
        this.#onePointValue[0] = value;
        this.#dispatch(series, flat, this.#onePointTime, this.#onePointValue, producer);
      }
    }
  }

  /** Writes many points of one series; all or nothing. */
  writeBatch(
    series: string,
    tags: Tags | undefined,
    timestamps: BigInt64Array | Float64Array,
    values: Float64Array,
    options?: WriteOptions,
  ): void {
    const handle = this.#open();
    const producer = checkProducer(options);
    checkSeries(series);
    const flat = flattenTags(tags);
    if (!(timestamps instanceof BigInt64Array) && !(timestamps instanceof Float64Array)) {
      throw invalid('timestamps must be a BigInt64Array or a Float64Array of microseconds');
    }
    if (!(values instanceof Float64Array)) throw invalid('values must be a Float64Array');
    if (timestamps.length !== values.length) {
      throw invalid(`timestamps (${timestamps.length}) and values (${values.length}) must have the same length`);
    }
    if (timestamps instanceof Float64Array) {
      for (let i = 0; i < timestamps.length; i++) {
        if (!Number.isSafeInteger(timestamps[i])) {
          throw invalid(`timestamps[${i}] is ${timestamps[i]}: microseconds must be safe integers; nothing was written`);
        }
      }
    }
    try {
      native().addon.engineWrite(handle, series, flat, timestamps, values);
    } catch (error) {
      throw asSluiceError(error);
    }
    if (this.#live.listens(series)) this.#dispatch(series, flat, timestamps, values, producer);
  }

  /**
   * Writes InfluxDB line protocol (docs/line-protocol.md): field `value` goes to the series named
   * by the measurement, any other field f to `<measurement>_f`. The whole input is parsed first: a
   * malformed line throws SLUICE_PARSE with `line` and `column`, and nothing is written.
   */
  writeLines(input: string | Uint8Array, options: WriteLinesOptions = {}): { points: number; skippedStringFields: number } {
    const handle = this.#open();
    const { bytes, precision, defaultTimestampUs } = lineArguments(input, options);
    const producer = checkProducer(options);
    let written;
    try {
      // Live queries need the points themselves: the native write hands back its parsed columns.
      written = native().addon.engineWriteLines(handle, bytes, precision, defaultTimestampUs, this.#live.size > 0);
    } catch (error) {
      throw asSluiceError(error);
    }
    if (written.batch) this.#dispatchParsed(written.batch, producer);
    return { points: written.points, skippedStringFields: written.skippedStringFields };
  }

  /**
   * Writes one WebSocket binary message of Slung events (docs/websocket.md): one event or several
   * back to back, all or nothing — a bad byte throws SLUICE_FRAME with `offset` and `event`.
   */
  writeEventFrame(input: Uint8Array, options?: WriteOptions): number {
    const handle = this.#open();
    if (!(input instanceof Uint8Array)) throw invalid('input must be a Uint8Array or a Buffer');
    const producer = checkProducer(options);
    let written;
    try {
      written = native().addon.engineWriteEventFrame(handle, input, this.#live.size > 0);
    } catch (error) {
      throw asSluiceError(error);
    }
    if (written.batch) this.#dispatchParsed(written.batch, producer);
    return written.points;
  }

  /**
   * Resolves once every write made so far is durable as the database's mode promises: at once for
   * `sync` (each write was fsynced) and `none` (memory only, nothing more to wait for); for `batch`,
   * after the group commit's fsync that covers them (within syncIntervalMs).
   */
  whenDurable(): Promise<void> {
    const handle = this.#open();
    if (this.durability !== 'batch') return Promise.resolve();
    const { written, synced } = native().addon.engineWalPositions(handle);
    if (synced >= written) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#durableWaiters.push({ position: written, resolve, reject });
      this.#pollDurable();
    });
  }

  #pollDurable(): void {
    if (this.#durablePoll !== undefined || this.#durableWaiters.length === 0) return;
    // A few looks per sync interval: acks lag the fsync by at most a quarter of it.
    const delay = Math.max(1, Math.min(10, Math.floor(this.#syncIntervalMs / 4)));
    this.#durablePoll = setTimeout(() => {
      this.#durablePoll = undefined;
      if (!this.#handle) return;
      const { synced } = native().addon.engineWalPositions(this.#handle);
      let ready = 0;
      while (ready < this.#durableWaiters.length && this.#durableWaiters[ready]!.position <= synced) ready++;
      for (const waiter of this.#durableWaiters.splice(0, ready)) waiter.resolve();
      this.#pollDurable();
    }, delay);
  }

  /**
   * Writes one Prometheus remote_write body (docs/websocket.md#prometheus-remote_write): a snappy
   * block holding a protobuf WriteRequest. `__name__` names the series, the other labels are its
   * tags, timestamps go from ms to µs. All or nothing: a bad byte or a series without `__name__`
   * throws SLUICE_PARSE with `offset`; returns the points written.
   */
  writeRemoteWrite(body: Uint8Array, options: WriteRemoteWriteOptions = {}): number {
    const handle = this.#open();
    if (!(body instanceof Uint8Array)) throw invalid('body must be a Uint8Array or a Buffer');
    const producer = checkProducer(options);
    const { maxUncompressedBytes = DEFAULT_MAX_UNCOMPRESSED_BYTES } = options;
    if (!Number.isSafeInteger(maxUncompressedBytes) || maxUncompressedBytes < 0 || maxUncompressedBytes > 2 ** 32) {
      throw invalid(`maxUncompressedBytes must be an integer in 0..${2 ** 32}, got ${String(maxUncompressedBytes)}`);
    }
    let written;
    try {
      written = native().addon.engineWriteRemoteWrite(handle, body, maxUncompressedBytes, this.#live.size > 0);
    } catch (error) {
      throw asSluiceError(error);
    }
    if (written.batch) this.#dispatchParsed(written.batch, producer);
    return written.points;
  }

  /** Live dispatch of a parsed network batch, one call per run of one series. */
  #dispatchParsed(batch: EventFrameBatch, producer: number | undefined): void {
    const entries = batch.seriesKeys.map((key) => parseSeriesKey(key));
    let runStart = 0;
    for (let i = 1; i <= batch.values.length; i++) {
      if (i < batch.values.length && batch.keyIndex[i] === batch.keyIndex[runStart]) continue;
      const entry = entries[batch.keyIndex[runStart]!]!;
      if (this.#live.listens(entry.name)) {
        this.#live.dispatch({
          series: entry.name,
          tags: entry.tags,
          key: () => entry.key,
          timestamps: batch.timestamps.subarray(runStart, i),
          values: batch.values.subarray(runStart, i),
          producer,
        });
      }
      runStart = i;
    }
  }

  /**
   * Runs a query in the language of docs/query.md, such as `AVG:temp:[sensor=1]:[1h]`: a number
   * (null when no point matched; COUNT and SUM give 0), `[{t, value}]` with a window part, and
   * `[{tags, value}]` or `[{tags, buckets}]` with BY. Errors: SLUICE_QUERY with the column.
   */
  query(dsl: string, options: QueryOptions = {}): QueryResult {
    this.#open();
    const parsed = cachedParse(dsl);
    const now = options.now === undefined ? BigInt(Date.now()) * 1000n : BigInt(checkTimestamp(options.now, 'now'));
    try {
      return runQuery(this.#querySource(), parsed, now);
    } catch (error) {
      throw asSluiceError(error);
    }
  }

  /**
   * Subscribes to a query: its aggregate is updated by every matching write made through a
   * Database of this directory in this thread, and each update becomes an event for `onEvent`
   * (or for handle.poll()). A range such as [5m] slides with the newest point and starts from
   * the stored points; a window part emits each window when a later point closes it.
   */
  live(dsl: string, onEvent?: LiveCallback, options: LiveOptions = {}): LiveQuery {
    this.#open();
    if (onEvent !== undefined && typeof onEvent !== 'function') throw invalid('onEvent must be a function');
    if (typeof options !== 'object' || options === null) throw invalid('options must be an object');
    const parsed = parseQuery(dsl);
    const query = new LiveQuery(parsed, dsl, onEvent, options, (closed) => {
      this.#live.remove(closed);
      this.#myLiveQueries.delete(closed);
    });
    const since = options.since === undefined ? undefined : BigInt(checkTimestamp(options.since, 'since'));
    if (query.slideUs > 0 || since !== undefined) {
      const now = BigInt(Date.now()) * 1000n;
      for (const entry of this.#querySource().index.match(parsed.series, parsed.filter)) {
        const points = (batch: { timestamps: BigInt64Array; values: Float64Array }) => ({
          series: entry.name,
          tags: entry.tags,
          key: () => entry.key,
          timestamps: batch.timestamps,
          values: batch.values,
          producer: undefined,
        });
        if (query.slideUs > 0) {
          const seedStart = now - BigInt(query.slideUs);
          const seedEnd = since !== undefined && since < now ? since : now;
          if (seedStart <= seedEnd) {
            for (const batch of this.scanBatches({ series: entry.name, tags: entry.tags, start: seedStart, end: seedEnd })) query.seed(points(batch));
          }
        }
        if (since !== undefined && since < INT64_MAX) {
          // One event per stored point, as a consumer that missed them would have seen them.
          for (const batch of this.scanBatches({ series: entry.name, tags: entry.tags, start: since + 1n, end: INT64_MAX })) {
            for (let i = 0; i < batch.values.length; i++) {
              query.onWrite(points({ timestamps: batch.timestamps.subarray(i, i + 1), values: batch.values.subarray(i, i + 1) }));
            }
          }
        }
      }
    }
    this.#live.add(query);
    this.#myLiveQueries.add(query);
    return query;
  }

  #dispatch(series: string, flat: string[], timestamps: WrittenPoints['timestamps'], values: WrittenPoints['values'], producer: number | undefined): void {
    const tags: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) tags[flat[i]!] = flat[i + 1]!;
    this.#dispatchDepth++;
    try {
      this.#live.dispatch(new WrittenSeries(series, tags, flat, timestamps, values, producer));
    } finally {
      this.#dispatchDepth--;
    }
  }

  #querySource(): QuerySource {
    const handle = this.#open();
    const addon = native().addon;
    this.#index ??= new SeriesIndex((from) => addon.engineSeriesKeys(this.#open(), from));
    const index = this.#index;
    return {
      index,
      aggregate: (entry: SeriesEntry, start: bigint, end: bigint) => addon.engineAggregate(handle, entry.name, entry.flatTags, start, end, OP_CODES.sum),
      windows: (entry, start, end, everyUs, op) => addon.engineAggregateWindows(handle, entry.name, entry.flatTags, start, end, everyUs, OP_CODES[op]),
      windowKernel: (entries, start, end, everyUs, op, quantile) =>
        addon.engineWindowKernel(handle, entries.map((entry) => entry.key), start, end, everyUs, op, quantile, MAX_EXACT_PERCENTILE_POINTS),
      moments: (entries, start, end) => addon.engineMoments(handle, entries.map((entry) => entry.key), start, end),
      quantile: (entries, start, end, q) => {
        const keys = entries.map((entry) => entry.key);
        const { count, values } = addon.engineQuantiles(handle, keys, start, end, new Float64Array([q]), MAX_EXACT_PERCENTILE_POINTS);
        return { count, value: values[0]! };
      },
    };
  }

  /** The aggregate of one series over [start, end]: null when there is no point (count and sum: 0). */
  aggregate(query: AggregateQuery): number | null {
    const handle = this.#open();
    const { series, flat, start, end } = this.#selector(query);
    const op = OP_CODES[query.op];
    if (op === undefined) throw invalid(`op must be one of ${Object.keys(OP_CODES).join(', ')}, got ${String(query.op)}`);
    let result;
    try {
      result = native().addon.engineAggregate(handle, series, flat, start, end, op);
    } catch (error) {
      throw asSluiceError(error);
    }
    if (result.count === 0 && query.op !== 'count' && query.op !== 'sum') return null;
    return result.value;
  }

  /** The aggregate per tumbling window, columnar. Blocks that fall inside one window answer from
   * their summaries; the others are decoded.
   *
   * With `into`, the windows are written into the caller's arrays and the result's columns are
   * views of them (valid until the arrays are written again), which saves allocating and
   * page-faulting fresh memory on every call. They are used when they can hold the engine's bound
   * on the windows: at most one per point in the range and one per `every` in it, plus one per
   * time range read side by side (16 at most). Otherwise new arrays are returned, as without `into`. */
  aggregateWindows(query: WindowQuery, into?: WindowOutput): WindowResult {
    const handle = this.#open();
    const { series, flat, start, end } = this.#selector(query);
    const op = OP_CODES[query.op];
    if (op === undefined) throw invalid(`op must be one of ${Object.keys(OP_CODES).join(', ')}, got ${String(query.op)}`);
    const every = parseDuration(query.every, 'every');
    if (into !== undefined) checkWindowOutput(into);
    try {
      const result = native().addon.engineAggregateWindows(handle, series, flat, start, end, every, op, into?.starts, into?.values);
      if (!('count' in result)) return result;
      const { first, count } = result;
      return { starts: into!.starts.subarray(first, first + count), values: into!.values.subarray(first, first + count) };
    } catch (error) {
      throw asSluiceError(error);
    }
  }

  /** The points of one series over [start, end], in time order: [timestamp µs, value]. */
  *scan(selector: SeriesSelector): IterableIterator<[bigint, number]> {
    for (const batch of this.scanBatches(selector)) {
      for (let i = 0; i < batch.values.length; i++) yield [batch.timestamps[i]!, batch.values[i]!];
    }
  }

  /** The same points in columnar batches (no object per point). */
  *scanBatches(
    selector: SeriesSelector & { batchSize?: number },
  ): IterableIterator<{ timestamps: BigInt64Array; values: Float64Array }> {
    const { series, flat, start, end } = this.#selector(selector);
    const batchSize = selector.batchSize ?? SCAN_BATCH;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1 << 24) {
      throw invalid(`batchSize must be an integer in 1..${1 << 24}, got ${batchSize}`);
    }
    let from = start;
    while (from <= end) {
      let batch;
      try {
        batch = native().addon.engineScan(this.#open(), series, flat, from, end, batchSize);
      } catch (error) {
        throw asSluiceError(error);
      }
      if (batch.values.length === 0) return;
      yield batch;
      if (batch.values.length < batchSize) return;
      from = batch.timestamps[batch.timestamps.length - 1]! + 1n;
    }
  }

  /** Merges every segment into one (the background does this by size tiers on its own). */
  async compact(): Promise<void> {
    try {
      await native().addon.engineCompact(this.#open());
    } catch (error) {
      throw asSluiceError(error);
    }
  }

  /** Drops the segments whose newest point is older than `now - retention` (default now: the clock).
   * The background does this every minute; pass `now` to apply it at another time. */
  applyRetention(now: Timestamp = BigInt(Date.now()) * 1000n): number {
    const handle = this.#open();
    return native().addon.engineApplyRetention(handle, BigInt(checkTimestamp(now, 'now')));
  }

  /** Writes what is in memory to a segment file. */
  async flush(): Promise<void> {
    try {
      await native().addon.engineFlush(this.#open());
    } catch (error) {
      throw asSluiceError(error);
    }
  }

  stats(): DatabaseStats {
    const { queries, droppedEvents } = this.#live.totals();
    return { ...native().addon.engineStats(this.#open()), liveQueries: queries, liveEventsDropped: droppedEvents };
  }

  /** Waits for pending work, syncs the log and releases the data directory. Safe to call twice. */
  async close(): Promise<void> {
    const handle = this.#handle;
    if (!handle) return;
    for (const query of [...this.#myLiveQueries]) query.close();
    if (this.#durablePoll !== undefined) clearTimeout(this.#durablePoll);
    this.#durablePoll = undefined;
    // The log is synced by the engine's last close, but this handle cannot confirm it any more.
    for (const waiter of this.#durableWaiters.splice(0)) {
      waiter.reject(new SluiceError('SLUICE_CLOSED', `the database at ${this.dir} closed before the fsync of these writes was confirmed`));
    }
    const shared = liveRegistries.get(this.dir);
    if (shared && --shared.users === 0) liveRegistries.delete(this.dir);
    this.#handle = undefined;
    await native().addon.engineClose(handle);
  }

  #selector(selector: SeriesSelector) {
    if (typeof selector !== 'object' || selector === null) throw invalid('the query must be an object such as { series: "temp" }');
    const series = checkSeries(selector.series);
    const flat = flattenTags(selector.tags);
    const start = rangeBound(selector.start, INT64_MIN, 'start');
    const end = rangeBound(selector.end, INT64_MAX, 'end');
    if (start > end) throw invalid(`start (${start}) is after end (${end})`);
    return { series, flat, start, end };
  }
}

/** Opens (creating if needed) the database in `options.dir`. Within one process, every open of the
 * same directory shares one engine; another process is kept out (SLUICE_LOCKED). */
export async function open(options: OpenOptions = {}): Promise<Database> {
  const dir = resolveDataDir(options.dir);
  const durability = options.durability ?? 'batch';
  const code = DURABILITY_CODES[durability];
  if (code === undefined) throw invalid(`durability must be one of sync, batch, none, got ${String(durability)}`);
  const syncIntervalMs = options.syncIntervalMs ?? 100;
  if (!Number.isInteger(syncIntervalMs) || syncIntervalMs < 1 || syncIntervalMs > 60_000) {
    throw invalid(`syncIntervalMs must be an integer in 1..60000, got ${syncIntervalMs}`);
  }
  const memtableBytes = options.memtableBytes ?? 64 * 2 ** 20;
  if (!Number.isSafeInteger(memtableBytes) || memtableBytes < 1 << 16) {
    throw invalid(`memtableBytes must be an integer of at least 65536, got ${memtableBytes}`);
  }
  const retentionUs = options.retention === undefined ? 0n : parseDuration(options.retention, 'retention');
  const compactionTrigger = options.compactionTrigger ?? 4;
  if (!Number.isInteger(compactionTrigger) || compactionTrigger === 1 || compactionTrigger < 0 || compactionTrigger > 1000) {
    throw invalid(`compactionTrigger must be 0 (off) or an integer in 2..1000, got ${compactionTrigger}`);
  }
  const downsample = (options.downsample ?? []).map((rule, i) => {
    if (typeof rule !== 'object' || rule === null) throw invalid(`downsample[${i}] must be an object such as { series: 'temp', every: '1m' }`);
    const ops = rule.ops ?? ['avg', 'min', 'max'];
    if (!Array.isArray(ops) || ops.length === 0) throw invalid(`downsample[${i}].ops must be a non-empty array of ops`);
    let opsMask = 0;
    for (const op of ops) {
      const opCode = OP_CODES[op];
      if (opCode === undefined) throw invalid(`downsample[${i}].ops: ${String(op)} is not one of ${Object.keys(OP_CODES).join(', ')}`);
      opsMask |= 1 << opCode;
    }
    return { series: checkSeries(rule.series), everyUs: parseDuration(rule.every, `downsample[${i}].every`), label: rule.every, opsMask };
  });
  const queryThreads = options.queryThreads ?? 0;
  if (!Number.isInteger(queryThreads) || queryThreads < 0 || queryThreads > 64) {
    throw invalid(`queryThreads must be an integer in 0..64 (0: one per core, at most 8), got ${queryThreads}`);
  }
  const walWrites = options.walWrites ?? 'mapped';
  if (walWrites !== 'mapped' && walWrites !== 'writev') throw invalid(`walWrites must be mapped or writev, got ${String(walWrites)}`);
  try {
    const handle = native().addon.engineOpen(dir, code, syncIntervalMs, memtableBytes, retentionUs, compactionTrigger, downsample, queryThreads, walWrites === 'mapped' ? 1 : 0);
    return new Database(handle, dir, durability, syncIntervalMs);
  } catch (error) {
    throw asSluiceError(error);
  }
}
