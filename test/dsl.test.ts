import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sluice } from './helpers/sluice.js';

type Query = ReturnType<typeof sluice.parseQuery>;
type TagFilter = NonNullable<Query['filter']>;
const { parseQuery, printQuery } = sluice;

const HOUR = 3_600_000_000n;
const match = (key: string, value: string, negated = false): TagFilter => ({ kind: 'match', key, value, negated });
const now = { kind: 'now' } as const;
const ago = (us: bigint) => ({ kind: 'ago', us }) as const;

function query(partial: Partial<Query>): Query {
  return { op: 'AVG', series: ['temp'], filter: null, range: null, everyUs: null, groupBy: [], ...partial };
}

function parseError(text: string): { column: number; expected: string; found: string; message: string; code: string } {
  try {
    parseQuery(text);
  } catch (error) {
    return error as never;
  }
  throw new Error(`${JSON.stringify(text)} parsed without an error`);
}

describe('query language: the seeds’ forms', () => {
  it.each([
    ['AVG:temp:[sensor=1]', query({ filter: match('sensor', '1') })],
    [
      'SUM:requests:[status=200,method=GET]:[1h]',
      query({ op: 'SUM', series: ['requests'], filter: { kind: 'and', terms: [match('status', '200'), match('method', 'GET')] }, range: { start: ago(HOUR), end: now } }),
    ],
    ['MAX:cpu:[host=prod AND region=us-west]', query({ op: 'MAX', series: ['cpu'], filter: { kind: 'and', terms: [match('host', 'prod'), match('region', 'us-west')] } })],
    [
      'AVG:cpu.usage:[host=server-01 AND region=us-west]:[1m,now]',
      query({ series: ['cpu.usage'], filter: { kind: 'and', terms: [match('host', 'server-01'), match('region', 'us-west')] }, range: { start: ago(60_000_000n), end: now } }),
    ],
    ['SUM:requests:[service=api]:[5m,now]', query({ op: 'SUM', series: ['requests'], filter: match('service', 'api'), range: { start: ago(300_000_000n), end: now } })],
    ['COUNT:errors:[severity=critical]', query({ op: 'COUNT', series: ['errors'], filter: match('severity', 'critical') })],
    ['COUNT:requests:[service=api]:[10s,now]', query({ op: 'COUNT', series: ['requests'], filter: match('service', 'api'), range: { start: ago(10_000_000n), end: now } })],
    [
      'AVG:temp:[sensor=1]:[1609459200000000,1609545600000000]',
      query({ filter: match('sensor', '1'), range: { start: { kind: 'at', us: 1609459200000000n }, end: { kind: 'at', us: 1609545600000000n } } }),
    ],
    ['AVG:temp:[]', query({})],
    ['MIN:temp:[]:[2d]', query({ op: 'MIN', range: { start: ago(2n * 24n * HOUR), end: now } })],
    ['MAX:temp:[]:[1w]', query({ op: 'MAX', range: { start: ago(7n * 24n * HOUR), end: now } })],
  ])('%s', (text, expected) => {
    expect(parseQuery(text)).toEqual(expected);
  });
});

describe('query language: extensions', () => {
  it('parses every op, percentiles, windows, group-by, several series and quoting', () => {
    for (const op of ['AVG', 'MIN', 'MAX', 'SUM', 'COUNT', 'FIRST', 'LAST', 'STDDEV', 'RATE', 'DELTA', 'P50', 'P90', 'P95', 'P99', 'P99.9']) {
      expect(parseQuery(`${op}:x`).op).toBe(op);
      expect(parseQuery(`${op.toLowerCase()}:x`).op).toBe(op);
    }
    expect(parseQuery('AVG:temp:[region=eu]:[1h]:[1m] BY host, region')).toEqual(
      query({ filter: match('region', 'eu'), range: { start: ago(HOUR), end: now }, everyUs: 60_000_000n, groupBy: ['host', 'region'] }),
    );
    expect(parseQuery('AVG:temp:[]:[]:[250ms]')).toEqual(query({ everyUs: 250_000n }));
    expect(parseQuery('avg:temp by host')).toEqual(query({ groupBy: ['host'] }));
    expect(parseQuery('SUM:cpu,mem,"disk io":[]').series).toEqual(['cpu', 'mem', 'disk io']);
    expect(parseQuery(`AVG:temp:[name="a b, (c)" AND path='x:\\'y']`).filter).toEqual({
      kind: 'and',
      terms: [match('name', 'a b, (c)'), match('path', "x:'y")],
    });
    expect(parseQuery('AVG:temp:[addr=10.0.0.1:80]').filter).toEqual(match('addr', '10.0.0.1:80'));
    expect(parseQuery('AVG:temp:[host=""]').filter).toEqual(match('host', ''));
    expect(parseQuery('  AVG : temp : [ a = 1 ] : [ 1h , now ]  ').range).toEqual({ start: ago(HOUR), end: now });
    expect(parseQuery('AVG:temp:[]:[0,now]').range).toEqual({ start: { kind: 'at', us: 0n }, end: now });
  });

  it('gives NOT > AND > OR precedence, with a comma meaning AND and parentheses overriding', () => {
    const a = match('a', '1');
    const b = match('b', '2');
    const c = match('c', '3');
    expect(parseQuery('X:s:[a=1 OR b=2 AND c=3]'.replace('X', 'AVG')).filter).toEqual({ kind: 'or', terms: [a, { kind: 'and', terms: [b, c] }] });
    expect(parseQuery('AVG:s:[a=1 AND b=2 OR c=3]').filter).toEqual({ kind: 'or', terms: [{ kind: 'and', terms: [a, b] }, c] });
    expect(parseQuery('AVG:s:[a=1, b=2 or c=3]').filter).toEqual({ kind: 'or', terms: [{ kind: 'and', terms: [a, b] }, c] });
    expect(parseQuery('AVG:s:[NOT a=1 AND b=2]').filter).toEqual({ kind: 'and', terms: [{ kind: 'not', term: a }, b] });
    expect(parseQuery('AVG:s:[not (a=1 and b=2)]').filter).toEqual({ kind: 'not', term: { kind: 'and', terms: [a, b] } });
    expect(parseQuery('AVG:s:[a=1 AND (b=2 OR c=3)]').filter).toEqual({ kind: 'and', terms: [a, { kind: 'or', terms: [b, c] }] });
    expect(parseQuery('AVG:s:[a!=1]').filter).toEqual(match('a', '1', true));
    // Keywords are values after '=': only their position makes them operators.
    expect(parseQuery('AVG:s:[a=and]').filter).toEqual(match('a', 'and'));
  });
});

describe('query language: errors name the column, what was found and what was expected', () => {
  it.each([
    ['AVGX:cpu', 1, 'an op', '"AVGX"'],
    ['SUMMARY:cpu', 1, 'an op', '"SUMMARY"'],
    ['', 1, 'an op', 'the end of the query'],
    ['AVG', 4, "':' after the op", 'the end of the query'],
    ['AVG::[a=1]', 5, 'a series name', '":[a=1]"'],
    ['AVG:cpu:[a=1', 13, "']' closing the tag filter", 'the end of the query'],
    ['AVG:cpu:[a=1]]', 14, "':' and a range", '"]"'],
    ['AVG:cpu:[a=1]:[5x]', 17, 'a unit', '"x"'],
    ['AVG:cpu:[a=1]:[1h] extra', 20, "'BY'", '"extra"'],
    ['AVG:cpu:[a=1]:[2,1]', 16, 'start is not after its end', 'start 2 > end 1'],
    ['AVG:cpu:[(a=1 OR b=2]', 21, "')' closing the parenthesis", '"]"'],
    ['AVG:cpu:[a=1)]', 13, "']' closing the tag filter", '")]"'],
    ['AVG:cpu:[a="x]', 12, '" closing the string', 'the end of the query'],
    ['AVG:cpu:[a]', 11, "'=' or '!='", '"]"'],
    ['AVG:cpu:[=1]', 10, 'a tag condition', '"=1]"'],
    ['AVG:cpu:[a=1 AND]', 17, 'a tag condition', '"]"'],
    ['AVG:cpu:[]:[1h]:[0s]', 18, 'greater than zero', '"0s]"'],
    ['AVG:cpu:[]:[1h]:[]', 18, 'a window width', '"]"'],
    ['AVG:cpu:[]:[-5m]', 13, 'without a sign', '"-5m]"'],
    ['AVG:cpu:[]:[yesterday]', 13, "'now', a duration", '"yesterday]"'],
    ['AVG:cpu:[1h]', 12, 'a range goes after the tag filter', '"]"'],
    ['AVG:cpu BY', 11, 'a tag key to group by', 'the end of the query'],
    ['AVG:cpu BY host,host', 17, 'not already in BY', '"host"'],
    ['AVG:cpu:[]:[99999999999999999999]', 13, 'int64 range', '"99999999999999999999]"'],
    ['P0:cpu', 1, 'an op', '"P0"'],
    ['P101:cpu', 1, 'an op', '"P101"'],
  ])('%j', (text, column, expected, found) => {
    const error = parseError(text);
    expect(error.code).toBe('SLUICE_QUERY');
    expect(error.column).toBe(column);
    expect(error.expected).toContain(expected);
    expect(error.found).toBe(found);
    expect(error.message).toContain(`column ${column}`);
  });

  it('refuses filters nested too deep and over-long queries without overflowing the stack', () => {
    expect(parseError(`AVG:s:[${'('.repeat(30_000)}a=1${')'.repeat(30_000)}]`).expected).toContain('nested at most 64');
    expect(parseError(`AVG:s:[${'NOT '.repeat(10_000)}a=1]`).expected).toContain('nested at most 64');
    expect(parseError(`AVG:${'x'.repeat(70_000)}`).expected).toContain('at most 65536 characters');
  });
});

// Arbitrary queries, for the round trip and the fuzz run.
const word = fc.string({ minLength: 1, maxLength: 6 });
const anyFilter: fc.Arbitrary<TagFilter> = fc.letrec<{ filter: TagFilter }>((tie) => ({
  filter: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ kind: fc.constant('match' as const), key: word, value: fc.string({ maxLength: 6 }), negated: fc.boolean() }),
    fc.record({ kind: fc.constant('not' as const), term: tie('filter') }),
    fc.record({ kind: fc.constant('and' as const), terms: fc.array(tie('filter'), { minLength: 2, maxLength: 3 }) }),
    fc.record({ kind: fc.constant('or' as const), terms: fc.array(tie('filter'), { minLength: 2, maxLength: 3 }) }),
  ),
})).filter;
const int64 = fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n);
const bound = fc.oneof(
  fc.constant({ kind: 'now' as const }),
  fc.record({ kind: fc.constant('ago' as const), us: fc.bigInt(1n, 2n ** 62n) }),
  fc.record({ kind: fc.constant('at' as const), us: int64 }),
);
const anyQuery: fc.Arbitrary<Query> = fc.record({
  op: fc.constantFrom('AVG', 'MIN', 'MAX', 'SUM', 'COUNT', 'FIRST', 'LAST', 'STDDEV', 'RATE', 'DELTA', 'P50', 'P99', 'P99.9', 'P1') as fc.Arbitrary<Query['op']>,
  series: fc.array(word, { minLength: 1, maxLength: 3 }),
  filter: fc.option(anyFilter, { nil: null }),
  range: fc.option(
    fc.record({ start: bound, end: bound }).map((range) =>
      range.start.kind === 'at' && range.end.kind === 'at' && range.start.us > range.end.us ? { start: range.end, end: range.start } : range,
    ),
    { nil: null },
  ),
  everyUs: fc.option(fc.bigInt(1n, 2n ** 62n), { nil: null }),
  groupBy: fc.uniqueArray(word, { maxLength: 3 }),
});

describe('query language: properties', () => {
  it('prints every query so that it parses back to the same query', () => {
    fc.assert(
      fc.property(anyQuery, (q) => {
        expect(parseQuery(printQuery(q))).toEqual(q);
      }),
      { numRuns: 2000 },
    );
  });

  function checkOutcome(text: string): void {
    let parsed: Query;
    try {
      parsed = parseQuery(text);
    } catch (error) {
      const e = error as { code?: string; column?: number; expected?: string };
      expect(e.code, String(error)).toBe('SLUICE_QUERY');
      expect(e.column).toBeGreaterThanOrEqual(1);
      expect(e.column).toBeLessThanOrEqual(text.length + 1);
      expect(e.expected).toBeTruthy();
      return;
    }
    expect(parseQuery(printQuery(parsed))).toEqual(parsed);
  }

  it('fuzz: random text never crashes and every refusal is a positioned SLUICE_QUERY', () => {
    const alphabet = fc.constantFrom(...'AVGSUMPX:[]()=!,"\'\\ abNOTANDORBYnow1hms9-.'.split(''));
    fc.assert(fc.property(fc.string({ maxLength: 60 }), checkOutcome), { numRuns: 3000 });
    fc.assert(fc.property(fc.string({ unit: alphabet, maxLength: 60 }), checkOutcome), { numRuns: 5000 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => checkOutcome(Buffer.from(bytes).toString('latin1'))), { numRuns: 2000 });
  });

  it('fuzz: mutated valid queries never crash and every refusal is a positioned SLUICE_QUERY', () => {
    const mutation = fc.record({ at: fc.nat(), drop: fc.nat({ max: 3 }), insert: fc.string({ maxLength: 3 }) });
    fc.assert(
      fc.property(anyQuery, fc.array(mutation, { minLength: 1, maxLength: 4 }), (q, mutations) => {
        let text = printQuery(q);
        for (const { at, drop, insert } of mutations) {
          const position = at % (text.length + 1);
          text = text.slice(0, position) + insert + text.slice(position + drop);
        }
        checkOutcome(text);
      }),
      { numRuns: 3000 },
    );
  });
});
