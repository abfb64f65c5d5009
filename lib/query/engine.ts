// Runs a parsed query against the storage engine (docs/query.md). The ops the engine keeps in its
// block summaries (COUNT SUM AVG MIN MAX FIRST LAST, and DELTA/RATE from first and last) answer
// whole blocks from the summaries and decode only the edge blocks; STDDEV, percentiles and
// windowed FIRST/LAST/DELTA/RATE across several series read the points in native kernels.
import type { NativeAggregate } from '../../bindings/index.js';
import { quantileOf, type Query, type QueryOp, type TimeBound } from '../dsl/ast.js';
import { AggregateState, needsOf } from './aggregate-state.js';
import type { SeriesEntry, SeriesIndex } from './series-index.js';

/** Exact percentiles hold every value of a group in memory (8 bytes each): past this, SLUICE_LIMIT. */
export const MAX_EXACT_PERCENTILE_POINTS = 100_000_000;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The engine's own ops (lib/tsdb), which aggregateWindows computes natively. */
export type NativeOp = 'count' | 'sum' | 'avg' | 'min' | 'max' | 'first' | 'last';

/** The native window kernel's ops, by code. */
export const WINDOW_KERNEL_OPS = { STDDEV: 0, QUANTILE: 1, FIRST: 2, LAST: 3, DELTA: 4, RATE: 5 } as const;
export type WindowKernelOp = (typeof WINDOW_KERNEL_OPS)[keyof typeof WINDOW_KERNEL_OPS];

/** What the query engine needs from the database. */
export interface QuerySource {
  index: SeriesIndex;
  aggregate(entry: SeriesEntry, start: bigint, end: bigint): NativeAggregate;
  windows(entry: SeriesEntry, start: bigint, end: bigint, everyUs: bigint, op: NativeOp): { starts: BigInt64Array; values: Float64Array };
  /** Per-window ops that need points (native/query_kernels.h), the series merged per window. */
  windowKernel(entries: SeriesEntry[], start: bigint, end: bigint, everyUs: bigint, op: WindowKernelOp, quantile: number): { starts: BigInt64Array; values: Float64Array };
  /** Population moments over every point of these series (one native pass). */
  moments(entries: SeriesEntry[], start: bigint, end: bigint): { count: number; mean: number; m2: number };
  /** The exact q-quantile (0..1] over every point of these series; count 0 when none. */
  quantile(entries: SeriesEntry[], start: bigint, end: bigint, q: number): { count: number; value: number };
}

/** One window: its start (µs since the epoch) and the aggregate of its points. */
export interface Bucket {
  t: number;
  value: number | null;
}

export interface GroupValue {
  tags: Record<string, string>;
  value: number | null;
}

export interface GroupBuckets {
  tags: Record<string, string>;
  buckets: Bucket[];
}

/** A number (or null: no point) for a plain aggregate, buckets for windows, groups for BY. */
export type QueryResult = number | null | Bucket[] | GroupValue[] | GroupBuckets[];

const NATIVE_OPS: Partial<Record<QueryOp, NativeOp>> = {
  COUNT: 'count',
  SUM: 'sum',
  AVG: 'avg',
  MIN: 'min',
  MAX: 'max',
  FIRST: 'first',
  LAST: 'last',
};
const SUMMARY_OPS = new Set<QueryOp>(['COUNT', 'SUM', 'AVG', 'MIN', 'MAX', 'FIRST', 'LAST', 'DELTA', 'RATE']);

/** The inclusive [start, end] of a query's range at `now` (µs); start > end means nothing. */
export function resolveRange(query: Query, now: bigint): { start: bigint; end: bigint } {
  if (!query.range) return { start: INT64_MIN, end: INT64_MAX };
  return { start: resolveBound(query.range.start, now), end: resolveBound(query.range.end, now) };
}

function resolveBound(bound: TimeBound, now: bigint): bigint {
  const us = bound.kind === 'now' ? now : bound.kind === 'ago' ? now - bound.us : bound.us;
  return us < INT64_MIN ? INT64_MIN : us > INT64_MAX ? INT64_MAX : us;
}

export function runQuery(source: QuerySource, query: Query, now: bigint): QueryResult {
  const { start, end } = resolveRange(query, now);
  const series = start <= end ? source.index.match(query.series, query.filter) : [];
  const groups = groupSeries(series, query.groupBy);
  if (query.everyUs === null) {
    const values = groups.map(({ members }) => aggregateGroup(source, query.op, members, start, end));
    if (query.groupBy.length === 0) return values[0]!.result(query.op);
    return groups.flatMap(({ tags }, i) => (values[i]!.count > 0 ? [{ tags, value: values[i]!.result(query.op) }] : []));
  }
  const bucketsOf = groups.map(({ members }) => windowSeries(source, query.op, members, start, end, query.everyUs!));
  if (query.groupBy.length === 0) return bucketsOf[0] ?? [];
  return groups.flatMap(({ tags }, i) => (bucketsOf[i]!.length > 0 ? [{ tags, buckets: bucketsOf[i]! }] : []));
}

interface Group {
  tags: Record<string, string>;
  members: SeriesEntry[];
}

/** Series grouped by the values of the BY keys (a missing key is its own group value); groups in
 * a stable order. Without BY, one group of everything. */
function groupSeries(series: SeriesEntry[], keys: string[]): Group[] {
  if (keys.length === 0) return [{ tags: {}, members: series }];
  const groups = new Map<string, Group>();
  for (const entry of series) {
    const values = keys.map((key) => (Object.hasOwn(entry.tags, key) ? entry.tags[key]! : null));
    const id = JSON.stringify(values);
    let group = groups.get(id);
    if (!group) {
      const tags: Record<string, string> = {};
      keys.forEach((key, i) => {
        if (values[i] !== null) tags[key] = values[i]!;
      });
      groups.set(id, (group = { tags, members: [] }));
    }
    group.members.push(entry);
  }
  return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, group]) => group);
}

/** A group's whole-range result: STDDEV and percentiles in one native pass over its series. */
function aggregateGroup(source: QuerySource, op: QueryOp, members: SeriesEntry[], start: bigint, end: bigint): { count: number; result(op: QueryOp): number | null } {
  const q = quantileOf(op);
  if (q !== null) {
    const { count, value } = source.quantile(members, start, end, q);
    return { count, result: () => (count > 0 ? value : null) };
  }
  if (op === 'STDDEV') {
    const { count, m2 } = source.moments(members, start, end);
    return { count, result: () => (count > 0 ? Math.sqrt(m2 / count) : null) };
  }
  return aggregateSeries(source, op, members, start, end);
}

/** The whole-range aggregate state of several series (ops the block summaries answer), each
 * series sealed before it is merged. */
function aggregateSeries(source: QuerySource, op: QueryOp, members: SeriesEntry[], start: bigint, end: bigint): AggregateState {
  const needs = needsOf(op);
  const total = new AggregateState(needs);
  for (const entry of members) {
    const state = new AggregateState(needs);
    const r = source.aggregate(entry, start, end);
    state.addSummary(r.count, r.sum, r.min, r.max, r.first, Number(r.firstTime), r.last, Number(r.lastTime));
    total.merge(state.sealSeries());
  }
  return total;
}

function windowSeries(source: QuerySource, op: QueryOp, members: SeriesEntry[], start: bigint, end: bigint, everyUs: bigint): Bucket[] {
  const nativeOp = NATIVE_OPS[op];
  // One series and an op the engine windows itself: its columns are the answer.
  if (nativeOp && members.length === 1) {
    const { starts, values } = source.windows(members[0]!, start, end, everyUs, nativeOp);
    const buckets: Bucket[] = new Array(values.length);
    for (let i = 0; i < values.length; i++) buckets[i] = { t: Number(starts[i]), value: values[i]! };
    return buckets;
  }
  // Several series: ops whose per-window values merge without times come from the engine too.
  if (op === 'COUNT' || op === 'SUM' || op === 'MIN' || op === 'MAX' || op === 'AVG') {
    const merged = new Map<bigint, { a: number; b: number }>();
    for (const entry of members) {
      const first = source.windows(entry, start, end, everyUs, op === 'AVG' ? 'sum' : nativeOp!);
      const counts = op === 'AVG' ? source.windows(entry, start, end, everyUs, 'count').values : undefined;
      for (let i = 0; i < first.values.length; i++) {
        const value = first.values[i]!;
        const cell = merged.get(first.starts[i]!);
        if (!cell) merged.set(first.starts[i]!, { a: value, b: counts ? counts[i]! : 0 });
        else if (op === 'MIN') cell.a = Math.min(cell.a, value);
        else if (op === 'MAX') cell.a = Math.max(cell.a, value);
        else {
          cell.a += value;
          if (counts) cell.b += counts[i]!;
        }
      }
    }
    return [...merged.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([t, cell]) => ({ t: Number(t), value: op === 'AVG' ? cell.a / cell.b : cell.a }));
  }
  // The rest needs the points of each window: one native pass over the group's series.
  const q = quantileOf(op);
  const code = q !== null ? WINDOW_KERNEL_OPS.QUANTILE : WINDOW_KERNEL_OPS[op as Exclude<keyof typeof WINDOW_KERNEL_OPS, 'QUANTILE'>];
  const { starts, values } = source.windowKernel(members, start, end, everyUs, code, q ?? 0);
  const buckets: Bucket[] = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    // RATE without a series of two points, and percentiles of NaNs only, have no value.
    buckets[i] = { t: Number(starts[i]), value: Number.isNaN(value) && (op === 'RATE' || q !== null) ? null : value };
  }
  return buckets;
}
