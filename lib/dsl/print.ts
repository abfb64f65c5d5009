// Queries back to text: printQuery(parseQuery(q)) is a canonical spelling of q, and parsing it
// gives the same Query (the round-trip property test holds us to that).
import type { Query, TagFilter, TimeBound } from './ast.js';

const SERIES_WORD = /^[^\s:,[\]()"'=!]+$/;
const TAG_WORD = /^[^\s,()[\]"'=!]+$/;
const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'BY', 'NOW']);
const UNITS_LARGEST_FIRST: Array<[string, bigint]> = [
  ['w', 604_800_000_000n],
  ['d', 86_400_000_000n],
  ['h', 3_600_000_000n],
  ['m', 60_000_000n],
  ['s', 1_000_000n],
  ['ms', 1_000n],
  ['us', 1n],
];

export function printQuery(query: Query): string {
  let text = `${query.op}:${query.series.map((name) => word(name, SERIES_WORD)).join(',')}`;
  const hasRange = query.range !== null || query.everyUs !== null;
  if (query.filter !== null || hasRange) text += `:[${query.filter ? printFilter(query.filter) : ''}]`;
  if (hasRange) {
    text += query.range ? `:[${printBound(query.range.start)},${printBound(query.range.end)}]` : ':[]';
  }
  if (query.everyUs !== null) text += `:[${printDuration(query.everyUs)}]`;
  if (query.groupBy.length) text += ` BY ${query.groupBy.map((key) => word(key, TAG_WORD)).join(',')}`;
  return text;
}

export function printDuration(us: bigint): string {
  for (const [unit, scale] of UNITS_LARGEST_FIRST) {
    if (us % scale === 0n) return `${us / scale}${unit}`;
  }
  return `${us}us`;
}

const PRECEDENCE = { or: 1, and: 2, not: 3, match: 4 } as const;

export function printFilter(filter: TagFilter): string {
  switch (filter.kind) {
    case 'match':
      return `${word(filter.key, TAG_WORD)}${filter.negated ? '!=' : '='}${word(filter.value, TAG_WORD, true)}`;
    case 'not':
      return `NOT ${child(filter.term, PRECEDENCE.not - 1)}`;
    case 'and':
      return filter.terms.map((term) => child(term, PRECEDENCE.and)).join(' AND ');
    case 'or':
      return filter.terms.map((term) => child(term, PRECEDENCE.or)).join(' OR ');
  }
}

/** Parenthesised when its own operator binds no tighter than `atMost` (a nested AND inside an AND
 * keeps its parentheses, so the tree survives the round trip). */
function child(filter: TagFilter, atMost: number): string {
  const text = printFilter(filter);
  return PRECEDENCE[filter.kind] <= atMost ? `(${text})` : text;
}

function printBound(bound: TimeBound): string {
  if (bound.kind === 'now') return 'now';
  return bound.kind === 'ago' ? printDuration(bound.us) : String(bound.us);
}

function word(text: string, unquoted: RegExp, isValue = false): string {
  if (unquoted.test(text) && (isValue || !KEYWORDS.has(text.toUpperCase()))) return text;
  return `"${text.replace(/["\\]/g, (ch) => `\\${ch}`)}"`;
}
