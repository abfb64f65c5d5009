// The parsed form of a query (docs/query.md). Plain data: it prints back to the same text
// (print.ts) and the query engine (lib/query) runs it.

/** The seeds' five ops, then ours. Percentiles are `P<q>` with 0 < q ≤ 100, such as P99 or P99.9. */
export const BASE_OPS = ['AVG', 'MIN', 'MAX', 'SUM', 'COUNT', 'FIRST', 'LAST', 'STDDEV', 'RATE', 'DELTA'] as const;
export type BaseOp = (typeof BASE_OPS)[number];
export type PercentileOp = `P${string}`;
export type QueryOp = BaseOp | PercentileOp;

/** A tag filter: `key=value` / `key!=value`, combined with AND, OR, NOT. */
export type TagFilter =
  | { kind: 'match'; key: string; value: string; negated: boolean }
  | { kind: 'and'; terms: TagFilter[] }
  | { kind: 'or'; terms: TagFilter[] }
  | { kind: 'not'; term: TagFilter };

/** One end of a range: the query's `now`, a duration before it, or microseconds since the epoch. */
export type TimeBound = { kind: 'now' } | { kind: 'ago'; us: bigint } | { kind: 'at'; us: bigint };

export interface TimeRange {
  start: TimeBound;
  end: TimeBound;
}

export interface Query {
  op: QueryOp;
  /** One or more series names; their points are aggregated together (or per group). */
  series: string[];
  /** null: every series of those names. */
  filter: TagFilter | null;
  /** null: all time. */
  range: TimeRange | null;
  /** Tumbling window width in µs, aligned to the epoch; null: one value for the whole range. */
  everyUs: bigint | null;
  /** Tag keys to group by; empty: no grouping. */
  groupBy: string[];
}

/** The quantile (0..1] of a percentile op, or null for the other ops. */
export function quantileOf(op: QueryOp): number | null {
  return op.startsWith('P') ? Number(op.slice(1)) / 100 : null;
}
