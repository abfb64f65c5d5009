// Live queries (docs/query.md#live-queries): aggregates kept up to date by every matching write.
// The write path does O(1) work per matching query and point, then puts the event in the query's
// bounded buffer; delivery happens later (setImmediate), so a slow consumer never slows ingest.
// When a buffer is full the oldest event is dropped and counted.
import type { Query } from '../dsl/ast.js';
import { SluiceError } from '../errors.js';
import { AggregateState, needsOf, percentile } from './aggregate-state.js';
import { matchesFilter } from './series-index.js';

export interface LiveEvent {
  /** µs since the epoch: the newest point the event covers; for a window, the window's start. */
  timestamp: number;
  /** The aggregate after this write (a window's final value); null when it has no point. */
  value: number | null;
  /** The tags of the series whose points triggered the event; with BY, the group's tags. Frozen:
   * every live query (and workflow) that sees the write shares them. */
  tags: Readonly<Record<string, string>>;
  /** The series name of those points. */
  series: string;
  /** Producer ids (e.g. WebSocket connections) whose points went into this event. */
  producers: number[];
  /** Windowed queries: the closed window [start, end) in µs. */
  window?: { start: number; end: number };
}

export interface LiveOptions {
  /** Events held for the consumer before the oldest is dropped (default 1024, up to 1,048,576). */
  bufferSize?: number;
  /**
   * Resuming a consumer: stored points newer than this time (µs) become events at once, as if
   * they were being written now (series by series, each in time order; bounded by bufferSize).
   */
  since?: bigint | number;
}

/** @internal Options only sluice's own consumers pass (the workflow runtime). */
export interface InternalLiveOptions extends LiveOptions {
  /**
   * onEvent runs inside the write that made the event instead of after the writing turn, so a
   * consumer on another thread can start on it while the writer goes on: only for callbacks that
   * hand events on (no writes of their own, no user code), which nothing can re-enter.
   */
  deliverDuringWrite?: boolean;
}

export interface LiveStats {
  /** Events waiting in the buffer. */
  buffered: number;
  /** Events handed to the consumer. */
  delivered: number;
  /** Events dropped because the buffer was full (oldest first). */
  dropped: number;
  /** Points that arrived for a window already closed, or older than a sliding range: not counted. */
  late: number;
  /** Errors thrown (or rejected) by the onEvent callback. */
  callbackErrors: number;
}

export type LiveCallback = (event: LiveEvent) => void | Promise<void>;

const DEFAULT_BUFFER = 1024;
const MAX_BUFFER = 1 << 20;

type Mode = 'cumulative' | 'sliding' | 'windowed';

/** The points of one write call, for one series. */
export interface WrittenPoints {
  series: string;
  tags: Record<string, string>;
  /** The canonical series key (computed only when an op needs series apart: DELTA, RATE). */
  key(): string;
  timestamps: ArrayLike<bigint | number>;
  values: ArrayLike<number>;
  producer: number | undefined;
}

export class LiveQuery {
  readonly query: Query;
  readonly text: string;
  #onEvent: LiveCallback | undefined;
  #onClose: (query: LiveQuery) => void;
  readonly #capacity: number;
  #events: LiveEvent[] = [];
  #head = 0;
  #delivering = false;
  readonly #duringWrite: boolean;
  #closed = false;
  #stats: LiveStats = { buffered: 0, delivered: 0, dropped: 0, late: 0, callbackErrors: 0 };
  #lastError: unknown;

  readonly #mode: Mode;
  /** Absolute bounds (µs) points must fall in; sliding ranges move with the newest point instead. */
  readonly #minTime: number;
  readonly #maxTime: number;
  readonly #slideUs: number;
  /** Window width in µs, as a number: window starts are computed per point (0: no windows). */
  readonly #everyUs: number;
  /** The newest point time this query has seen. */
  #watermark = -Infinity;
  readonly #groups = new Map<string, GroupState>();

  /** @internal Database.live() makes these. */
  constructor(query: Query, text: string, onEvent: LiveCallback | undefined, options: LiveOptions, onClose: (query: LiveQuery) => void) {
    this.query = query;
    this.text = text;
    this.#onEvent = onEvent;
    this.#onClose = onClose;
    const capacity = options.bufferSize ?? DEFAULT_BUFFER;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_BUFFER) {
      throw new SluiceError('SLUICE_INVALID_ARGUMENT', `bufferSize must be an integer in 1..${MAX_BUFFER}, got ${String(capacity)}`);
    }
    this.#capacity = capacity;
    this.#duringWrite = (options as InternalLiveOptions).deliverDuringWrite === true && onEvent !== undefined;
    const range = query.range;
    this.#minTime = -Infinity;
    this.#maxTime = Infinity;
    this.#slideUs = 0;
    if (range) {
      if (range.end.kind !== 'now' && !(range.end.kind === 'at' && range.start.kind === 'at')) {
        throw new SluiceError(
          'SLUICE_QUERY',
          `a live query's range must end at now ([5m], [5m,now], [start_us,now]) or be two absolute times, got an end of ${range.end.kind === 'ago' ? 'a duration ago' : 'an absolute time after a duration'}`,
        );
      }
      if (range.start.kind === 'ago') this.#slideUs = Number(range.start.us);
      else if (range.start.kind === 'at') this.#minTime = Number(range.start.us);
      if (range.end.kind === 'at') this.#maxTime = Number(range.end.us);
    }
    this.#everyUs = Number(query.everyUs ?? 0n);
    this.#mode = query.everyUs !== null ? 'windowed' : this.#slideUs > 0 ? 'sliding' : 'cumulative';
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The sliding range in µs (0: none): Database.live() seeds it from stored points. */
  get slideUs(): number {
    return this.#slideUs;
  }

  stats(): LiveStats {
    return { ...this.#stats, buffered: this.#events.length - this.#head };
  }

  /** The last error the onEvent callback threw, if any. */
  get lastError(): unknown {
    return this.#lastError;
  }

  /** The next buffered event, for consumers that poll instead of passing onEvent. */
  poll(): LiveEvent | undefined {
    if (this.#head >= this.#events.length) return undefined;
    const event = this.#events[this.#head++]!;
    if (this.#head === this.#events.length) {
      // Drained: let go of the delivered events now rather than after 1024 more, so that they die
      // young instead of being copied by the next scavenge.
      this.#events.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#events.length) {
      this.#events = this.#events.slice(this.#head);
      this.#head = 0;
    }
    this.#stats.delivered++;
    return event;
  }

  /** Stops the query: no more events; buffered ones are discarded. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#events = [];
    this.#head = 0;
    this.#groups.clear();
    this.#onClose(this);
  }

  /** @internal Whether points of a series with these tags feed this query. */
  accepts(tags: Readonly<Record<string, string>>): boolean {
    return matchesFilter(this.query.filter, tags);
  }

  /** @internal Seeds a sliding range with stored points (before any write reaches it). */
  seed(points: WrittenPoints): void {
    this.#ingest(points, false);
  }

  /** @internal The points of one write call to a matching series. */
  onWrite(points: WrittenPoints): void {
    if (this.#closed) return;
    this.#ingest(points, true);
  }

  #ingest(points: WrittenPoints, emit: boolean): void {
    const group = this.#groupFor(points.tags);
    const { timestamps, values } = points;
    const op = this.query.op;
    const key = op === 'DELTA' || op === 'RATE' ? points.key() : '';
    let window: WindowState | undefined; // the window of the previous point: runs share one lookup
    let windowStart = NaN;
    let accepted = 0;
    let newest = -Infinity;
    for (let i = 0; i < values.length; i++) {
      const t = Number(timestamps[i]);
      if (t < this.#minTime || t > this.#maxTime) continue;
      if (this.#mode === 'sliding') {
        if (t > this.#watermark) this.#watermark = t;
        if (t < this.#watermark - this.#slideUs) {
          if (emit) this.#stats.late++;
          continue;
        }
        group.sliding!.insert(t, values[i]!, key);
      } else if (this.#mode === 'windowed') {
        const start = Math.floor(t / this.#everyUs) * this.#everyUs;
        if (t > this.#watermark) {
          this.#watermark = t;
          if (emit && start > this.#openFrom) {
            this.#closeWindows(start);
            window = undefined; // closing may have removed it
          }
        }
        if (start < this.#openFrom) {
          if (emit) this.#stats.late++;
          continue;
        }
        if (window === undefined || start !== windowStart) {
          window = group.window(start, points);
          windowStart = start;
        }
        window.add(t, values[i]!, key);
      } else {
        group.cumulative!.add(t, values[i]!, key);
      }
      accepted++;
      if (t > newest) newest = t;
    }
    if (this.#mode === 'sliding') {
      for (const other of this.#groups.values()) other.sliding!.evictBefore(this.#watermark - this.#slideUs);
    }
    if (!emit || accepted === 0 || this.#mode === 'windowed') return;
    const value = this.#mode === 'sliding' ? group.sliding!.result(this.query.op) : group.cumulative!.result(this.query.op);
    this.#push({
      timestamp: newest,
      value,
      tags: this.query.groupBy.length ? group.tags : points.tags,
      series: points.series,
      producers: points.producer === undefined ? [] : [points.producer],
    });
  }

  /** Windows starting before this are closed (emitted); their late points are counted. */
  #openFrom = -Infinity;

  /** A point at window `newestStart` closes every window that ends at or before it. */
  #closeWindows(newestStart: number): void {
    const closing: Array<{ start: number; group: GroupState; window: WindowState }> = [];
    for (const group of this.#groups.values()) {
      for (const [start, window] of group.windows!) {
        if (start < newestStart) {
          closing.push({ start, group, window });
          group.windows!.delete(start);
        }
      }
    }
    this.#openFrom = newestStart;
    closing.sort((a, b) => a.start - b.start);
    for (const { start, group, window } of closing) {
      this.#push({
        timestamp: start,
        value: window.result(this.query.op),
        tags: this.query.groupBy.length ? group.tags : window.tags,
        series: window.series,
        producers: [...window.producers],
        window: { start, end: start + this.#everyUs },
      });
    }
  }

  #groupFor(tags: Readonly<Record<string, string>>): GroupState {
    const keys = this.query.groupBy;
    const id = keys.length ? JSON.stringify(keys.map((key) => (Object.hasOwn(tags, key) ? tags[key] : null))) : '';
    let group = this.#groups.get(id);
    if (!group) {
      const groupTags: Record<string, string> = {};
      for (const key of keys) if (Object.hasOwn(tags, key)) groupTags[key] = tags[key]!;
      group = new GroupState(Object.freeze(groupTags), this.#mode, this.query.op);
      this.#groups.set(id, group);
    }
    return group;
  }

  #push(event: LiveEvent): void {
    if (this.#duringWrite) {
      this.#stats.delivered++;
      try {
        void this.#onEvent!(event);
      } catch (error) {
        this.#stats.callbackErrors++;
        this.#lastError = error;
      }
      return;
    }
    if (this.#events.length - this.#head >= this.#capacity) {
      this.#head++; // the oldest goes: live consumers want the freshest value
      this.#stats.dropped++;
    }
    this.#events.push(event);
    if (this.#onEvent && !this.#delivering) {
      this.#delivering = true;
      setImmediate(() => void this.#deliver());
    }
  }

  async #deliver(): Promise<void> {
    try {
      for (let event = this.poll(); event && !this.#closed; event = this.poll()) {
        try {
          const pending = this.#onEvent!(event);
          if (pending && typeof (pending as Promise<void>).then === 'function') await pending;
        } catch (error) {
          this.#stats.callbackErrors++;
          this.#lastError = error;
        }
      }
    } finally {
      this.#delivering = false;
    }
  }
}

/** One group's state (the whole query without BY). */
class GroupState {
  cumulative?: SeriesStates;
  sliding?: SlidingState;
  windows?: Map<number, WindowState>;

  constructor(
    readonly tags: Record<string, string>,
    mode: Mode,
    private readonly op: Query['op'],
  ) {
    if (mode === 'cumulative') this.cumulative = new SeriesStates(op);
    else if (mode === 'sliding') this.sliding = new SlidingState(op);
    else this.windows = new Map();
  }

  window(start: number, points: WrittenPoints): WindowState {
    let window = this.windows!.get(start);
    if (!window) {
      window = new WindowState(this.op, points);
      this.windows!.set(start, window);
    }
    if (points.producer !== undefined) window.producers.add(points.producer);
    return window;
  }
}

/** One open tumbling window of one group. */
class WindowState {
  readonly producers = new Set<number>();
  readonly tags: Record<string, string>;
  readonly series: string;
  readonly #points: SeriesStates;

  constructor(op: Query['op'], first: WrittenPoints) {
    this.tags = first.tags;
    this.series = first.series;
    this.#points = new SeriesStates(op);
  }

  add(t: number, value: number, key: string): void {
    this.#points.add(t, value, key);
  }

  result(op: Query['op']): number | null {
    return this.#points.result(op);
  }
}

/** Points of one or more series: one state for all, except DELTA and RATE, where each series'
 * change is its own and the result sums them. */
class SeriesStates {
  readonly #state: AggregateState | undefined;
  readonly #perSeries: Map<string, AggregateState> | undefined;

  constructor(private readonly op: Query['op']) {
    if (op === 'DELTA' || op === 'RATE') this.#perSeries = new Map();
    else this.#state = new AggregateState(needsOf(op));
  }

  add(t: number, value: number, key: string): void {
    if (this.#state) {
      this.#state.add(t, value);
      return;
    }
    let series = this.#perSeries!.get(key);
    if (!series) this.#perSeries!.set(key, (series = new AggregateState(needsOf(this.op))));
    series.add(t, value);
  }

  result(op: Query['op']): number | null {
    if (this.#state) return this.#state.result(op);
    const total = new AggregateState(needsOf(op));
    for (const series of this.#perSeries!.values()) total.merge(series.sealSeries());
    return total.result(op);
  }
}

/**
 * A range that slides with the newest point: `[5m]` keeps the points in [newest − 5m, newest],
 * as a historical `[5m]` covers [now − 5m, now]. Points are kept in time order; count, sum and moments are running totals, min and max
 * are recomputed only when the extreme leaves, percentiles keep a sorted copy.
 */
class SlidingState {
  #times: number[] = [];
  #values: number[] = [];
  #keys: string[] = [];
  #head = 0;
  #sum = 0;
  #sorted: number[] | undefined;
  #min = Infinity;
  #max = -Infinity;
  #extremesValid = true;

  constructor(private readonly op: Query['op']) {
    if (op.startsWith('P')) this.#sorted = [];
  }

  get count(): number {
    return this.#times.length - this.#head;
  }

  insert(t: number, value: number, key: string): void {
    let at = this.#times.length;
    if (at > this.#head && this.#times[at - 1]! > t) {
      at = upperBound(this.#times, t, this.#head);
      this.#times.splice(at, 0, t);
      this.#values.splice(at, 0, value);
      this.#keys.splice(at, 0, key);
    } else {
      this.#times.push(t);
      this.#values.push(value);
      this.#keys.push(key);
    }
    this.#sum += value;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
    if (this.#sorted && !Number.isNaN(value)) this.#sorted.splice(upperBound(this.#sorted, value, 0), 0, value);
  }

  /** Drops the points before `time`. */
  evictBefore(time: number): void {
    while (this.#head < this.#times.length && this.#times[this.#head]! < time) {
      const value = this.#values[this.#head]!;
      this.#sum -= value;
      if (value <= this.#min || value >= this.#max) this.#extremesValid = false;
      if (this.#sorted && !Number.isNaN(value)) this.#sorted.splice(lowerBound(this.#sorted, value), 1);
      this.#head++;
    }
    if (this.#head === this.#times.length) {
      this.#times = [];
      this.#values = [];
      this.#keys = [];
      this.#head = 0;
      this.#sum = 0; // no drift survives an empty window
      this.#min = Infinity;
      this.#max = -Infinity;
      this.#extremesValid = true;
    } else if (this.#head > 4096 && this.#head * 2 > this.#times.length) {
      this.#times = this.#times.slice(this.#head);
      this.#values = this.#values.slice(this.#head);
      this.#keys = this.#keys.slice(this.#head);
      this.#head = 0;
    }
  }

  result(op: Query['op']): number | null {
    const n = this.count;
    if (op === 'COUNT') return n;
    if (op === 'SUM') return n ? this.#sum : 0;
    if (n === 0) return null;
    switch (op) {
      case 'AVG':
        return this.#sum / n;
      case 'MIN':
      case 'MAX': {
        if (!this.#extremesValid) this.#recomputeExtremes();
        const value = op === 'MIN' ? this.#min : this.#max;
        return Number.isFinite(value) || this.#values.slice(this.#head).includes(value) ? value : NaN;
      }
      case 'FIRST':
        return this.#values[this.#head]!;
      case 'LAST':
        return this.#values[this.#values.length - 1]!;
      case 'STDDEV':
      case 'DELTA':
      case 'RATE':
        return this.#fromPoints(op);
    }
    return percentile(this.#sorted!, Number(op.slice(1)) / 100);
  }

  /** Ops that need every point, per series: the window's points (kept short by the range). */
  #fromPoints(op: Query['op']): number | null {
    const perSeries = new Map<string, AggregateState>();
    const total = new AggregateState(needsOf(op));
    for (let i = this.#head; i < this.#times.length; i++) {
      let state = perSeries.get(this.#keys[i]!);
      if (!state) perSeries.set(this.#keys[i]!, (state = new AggregateState(needsOf(op))));
      state.add(this.#times[i]!, this.#values[i]!);
    }
    for (const state of perSeries.values()) total.merge(state.sealSeries());
    return total.result(op);
  }

  #recomputeExtremes(): void {
    this.#min = Infinity;
    this.#max = -Infinity;
    for (let i = this.#head; i < this.#values.length; i++) {
      const value = this.#values[i]!;
      if (value < this.#min) this.#min = value;
      if (value > this.#max) this.#max = value;
    }
    this.#extremesValid = true;
  }
}

function upperBound(sorted: number[], value: number, from: number): number {
  let lo = from;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function lowerBound(sorted: number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Which live queries a write reaches: indexed by series name, then each query's tag filter. */
export class LiveRegistry {
  readonly #byName = new Map<string, Set<LiveQuery>>();
  readonly #queries = new Set<LiveQuery>();
  #count = 0;
  /** Drops of queries already closed, so the total never goes down. */
  #retiredDropped = 0;

  get size(): number {
    return this.#count;
  }

  add(query: LiveQuery): void {
    for (const name of new Set(query.query.series)) {
      let set = this.#byName.get(name);
      if (!set) this.#byName.set(name, (set = new Set()));
      set.add(query);
    }
    this.#queries.add(query);
    this.#count++;
  }

  remove(query: LiveQuery): void {
    for (const name of new Set(query.query.series)) {
      const set = this.#byName.get(name);
      if (set?.delete(query) && set.size === 0) this.#byName.delete(name);
    }
    if (this.#queries.delete(query)) this.#retiredDropped += query.stats().dropped;
    this.#count--;
  }

  /** Live queries open now, and every event they (and closed ones) dropped. */
  totals(): { queries: number; droppedEvents: number } {
    let dropped = this.#retiredDropped;
    for (const query of this.#queries) dropped += query.stats().dropped;
    return { queries: this.#queries.size, droppedEvents: dropped };
  }

  /** Whether any live query listens to this series name (the write path's only cost otherwise). */
  listens(series: string): boolean {
    return this.#byName.has(series);
  }

  dispatch(points: WrittenPoints): void {
    const queries = this.#byName.get(points.series);
    if (!queries) return;
    // One tags object goes to every query's events: none of their consumers may change it for the others.
    Object.freeze(points.tags);
    for (const query of queries) if (query.accepts(points.tags)) query.onWrite(points);
  }

  closeAll(): void {
    for (const set of [...this.#byName.values()]) for (const query of [...set]) query.close();
  }
}
