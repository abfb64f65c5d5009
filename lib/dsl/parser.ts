// The query language `OP:SERIES:[TAGS]:[RANGE]` of the seeds, and its superset (docs/query.md):
// a recursive-descent parser over the characters, so every error names the column, what was found
// there and what would have been accepted. Nothing is defaulted silently.
import { SluiceError } from '../errors.js';
import { BASE_OPS, type Query, type QueryOp, type TagFilter, type TimeBound, type TimeRange } from './ast.js';

export const MAX_QUERY_LENGTH = 65_536;
/** How deeply parentheses and NOTs may nest: deeper filters are an error, never a stack overflow. */
export const MAX_FILTER_DEPTH = 64;
export const MAX_SERIES_PER_QUERY = 1_000;
export const MAX_GROUP_KEYS = 32;
const MAX_NAME_LENGTH = 1_024;

export const DURATION_UNITS: Readonly<Record<string, bigint>> = {
  us: 1n,
  ms: 1_000n,
  s: 1_000_000n,
  m: 60_000_000n,
  h: 3_600_000_000n,
  d: 86_400_000_000n,
  w: 604_800_000_000n,
};
const UNIT_LIST = 'us, ms, s, m, h, d or w';
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const OP_LIST = `${BASE_OPS.join(', ')} or a percentile P<q> such as P50, P90, P95, P99`;

// Unquoted words. Series names stop at ':' (the part separator); tag keys and values may hold ':'
// because brackets delimit them.
const SERIES_CHAR = /[^\s:,[\]()"'=!]/;
const TAG_CHAR = /[^\s,()[\]"'=!]/;

/** Parses a query; throws SluiceError SLUICE_QUERY with column, found and expected. */
export function parseQuery(text: string): Query {
  if (typeof text !== 'string') {
    throw new SluiceError('SLUICE_INVALID_ARGUMENT', `the query must be a string such as "AVG:temp:[sensor=1]:[1h]", got ${typeof text}`);
  }
  if (text.length > MAX_QUERY_LENGTH) {
    throw queryError(text, MAX_QUERY_LENGTH, `a query of at most ${MAX_QUERY_LENGTH} characters`, `${text.length} characters`);
  }
  return new Parser(text).query();
}

function queryError(text: string, position: number, expected: string, found?: string): SluiceError {
  const what = found ?? describeAt(text, position);
  const error = new SluiceError('SLUICE_QUERY', `invalid query at column ${position + 1}: expected ${expected}, found ${what}`);
  return Object.assign(error, { column: position + 1, found: what, expected });
}

function describeAt(text: string, position: number): string {
  if (position >= text.length) return 'the end of the query';
  const rest = text.slice(position);
  const word = /^[^\s]{1,24}/.exec(rest)?.[0] ?? rest[0]!;
  return JSON.stringify(word.length < rest.length && word.length === 24 ? `${word}…` : word);
}

class Parser {
  private pos = 0;
  constructor(private readonly text: string) {}

  query(): Query {
    this.space();
    const op = this.op();
    this.space();
    this.expect(':', `':' after the op`);
    const series = this.seriesList();
    let filter: TagFilter | null = null;
    let range: TimeRange | null = null;
    let everyUs: bigint | null = null;
    let expected = `':' and a tag filter such as [host=a], 'BY' and tag keys, or the end of the query`;
    this.space();
    if (this.eat(':')) {
      filter = this.tags();
      expected = `':' and a range such as [1h], 'BY' and tag keys, or the end of the query`;
      this.space();
      if (this.eat(':')) {
        range = this.range();
        expected = `':' and a window such as [1m], 'BY' and tag keys, or the end of the query`;
        this.space();
        if (this.eat(':')) {
          everyUs = this.window();
          expected = `'BY' and tag keys, or the end of the query`;
        }
      }
    }
    this.space();
    const groupBy: string[] = [];
    if (this.keyword('BY', SERIES_CHAR)) {
      do {
        this.space();
        if (groupBy.length === MAX_GROUP_KEYS) this.fail(`at most ${MAX_GROUP_KEYS} group keys`);
        const key = this.word(TAG_CHAR, 'a tag key to group by');
        if (groupBy.includes(key)) this.fail(`a tag key not already in BY`, this.pos - key.length);
        groupBy.push(key);
        this.space();
      } while (this.eat(','));
      expected = `',' and another tag key, or the end of the query`;
    }
    if (this.pos < this.text.length) this.fail(expected);
    return { op, series, filter, range, everyUs, groupBy };
  }

  private op(): QueryOp {
    const start = this.pos;
    while (this.pos < this.text.length && /[A-Za-z0-9.]/.test(this.text[this.pos]!)) this.pos++;
    const word = this.text.slice(start, this.pos).toUpperCase();
    if ((BASE_OPS as readonly string[]).includes(word)) return word as QueryOp;
    const percentile = /^P(\d{1,3}(?:\.\d{1,6})?)$/.exec(word);
    if (percentile) {
      const q = Number(percentile[1]);
      if (q > 0 && q <= 100) return `P${q}`;
    }
    return this.fail(`an op: ${OP_LIST}`, start, this.pos > start ? JSON.stringify(this.text.slice(start, this.pos)) : undefined);
  }

  private seriesList(): string[] {
    const names: string[] = [];
    do {
      this.space();
      if (names.length === MAX_SERIES_PER_QUERY) this.fail(`at most ${MAX_SERIES_PER_QUERY} series`);
      names.push(this.word(SERIES_CHAR, 'a series name'));
      this.space();
    } while (this.eat(','));
    return names;
  }

  private tags(): TagFilter | null {
    this.space();
    this.expect('[', `'[' opening the tag filter, such as [host=a] or [] for all`);
    this.space();
    if (this.eat(']')) return null;
    const filter = this.or(0);
    this.space();
    this.expect(']', `AND, OR, ',' or ']' closing the tag filter`);
    return filter;
  }

  private or(depth: number): TagFilter {
    const terms = [this.and(depth)];
    for (;;) {
      this.space();
      if (!this.keyword('OR', TAG_CHAR)) break;
      terms.push(this.and(depth));
    }
    return terms.length === 1 ? terms[0]! : { kind: 'or', terms };
  }

  private and(depth: number): TagFilter {
    const terms = [this.not(depth)];
    for (;;) {
      this.space();
      if (!this.eat(',') && !this.keyword('AND', TAG_CHAR)) break;
      terms.push(this.not(depth));
    }
    return terms.length === 1 ? terms[0]! : { kind: 'and', terms };
  }

  private not(depth: number): TagFilter {
    if (depth >= MAX_FILTER_DEPTH) this.fail(`a filter nested at most ${MAX_FILTER_DEPTH} levels deep`);
    this.space();
    if (this.keyword('NOT', TAG_CHAR)) return { kind: 'not', term: this.not(depth + 1) };
    if (this.eat('(')) {
      const inner = this.or(depth + 1);
      this.space();
      this.expect(')', `AND, OR, ',' or ')' closing the parenthesis`);
      return inner;
    }
    const key = this.word(TAG_CHAR, `a tag condition such as host=a, NOT or '('`);
    this.space();
    let negated = false;
    if (this.text.startsWith('!=', this.pos)) {
      negated = true;
      this.pos += 2;
    } else {
      const looksLikeTime = /^(-?\d+[A-Za-z]*|now)$/i.test(key);
      this.expect(
        '=',
        `'=' or '!=' after the tag key ${JSON.stringify(key)}${looksLikeTime ? ' (a range goes after the tag filter: OP:SERIES:[TAGS]:[RANGE], with [] for all tags)' : ''}`,
      );
    }
    this.space();
    const value = this.word(TAG_CHAR, 'a tag value (quote it if it has spaces or any of , ( ) [ ] = ! " \')', true);
    return { kind: 'match', key, value, negated };
  }

  private range(): TimeRange | null {
    this.space();
    this.expect('[', `'[' opening the range, such as [1h], [5m,now], [start_us,end_us] or [] for all time`);
    this.space();
    if (this.eat(']')) return null;
    const rangeStart = this.pos;
    const start = this.bound();
    this.space();
    let end: TimeBound = { kind: 'now' };
    if (this.eat(',')) {
      this.space();
      end = this.bound();
      this.space();
    }
    this.expect(']', `',' or ']' closing the range`);
    if (start.kind === 'at' && end.kind === 'at' && start.us > end.us) {
      this.fail(`a range whose start is not after its end`, rangeStart, `start ${start.us} > end ${end.us}`);
    }
    return { start, end };
  }

  private bound(): TimeBound {
    const start = this.pos;
    if (this.keyword('NOW', /[A-Za-z0-9]/)) return { kind: 'now' };
    const match = /^(-?)(\d{1,20})([A-Za-z]*)/.exec(this.text.slice(this.pos, this.pos + 32));
    if (!match) return this.fail(`'now', a duration such as 5m (${UNIT_LIST}) or microseconds since the epoch`);
    const [whole, sign, digits, unit] = match as unknown as [string, string, string, string];
    if (unit === '') {
      const us = BigInt(sign + digits);
      if (us < INT64_MIN || us > INT64_MAX) this.fail('microseconds within the int64 range', start);
      this.pos += whole.length;
      return { kind: 'at', us };
    }
    if (sign) this.fail('a duration without a sign (a range goes back from now)', start);
    this.pos += whole.length;
    return { kind: 'ago', us: this.duration(digits, unit, start) };
  }

  private window(): bigint {
    this.space();
    this.expect('[', `'[' opening the window width, such as [1m]`);
    this.space();
    const start = this.pos;
    const match = /^(\d{1,20})([A-Za-z]*)/.exec(this.text.slice(this.pos, this.pos + 32));
    if (!match || match[2] === '') this.fail(`a window width such as 1m (${UNIT_LIST})`);
    this.pos += match[0].length;
    const us = this.duration(match[1]!, match[2]!, start);
    this.space();
    this.expect(']', `']' closing the window width`);
    return us;
  }

  private duration(digits: string, unit: string, start: number): bigint {
    const scale = DURATION_UNITS[unit.toLowerCase()];
    if (scale === undefined) this.fail(`a unit: ${UNIT_LIST}`, start + digits.length, JSON.stringify(unit));
    const us = BigInt(digits) * scale;
    if (us === 0n) this.fail('a duration greater than zero', start);
    if (us > INT64_MAX) this.fail('a duration within the int64 range of microseconds', start);
    return us;
  }

  /** An unquoted word of `chars`, or a quoted string ('…' or "…", backslash escapes the next char). */
  private word(chars: RegExp, what: string, emptyAllowed = false): string {
    const start = this.pos;
    const quote = this.text[this.pos];
    let value: string;
    if (quote === '"' || quote === "'") {
      let out = '';
      this.pos++;
      for (;;) {
        if (this.pos >= this.text.length) this.fail(`${quote} closing the string opened here`, start, 'the end of the query');
        const ch = this.text[this.pos++]!;
        if (ch === quote) break;
        if (ch === '\\') {
          if (this.pos >= this.text.length) continue;
          out += this.text[this.pos++]!;
        } else {
          out += ch;
        }
      }
      value = out;
      if (value === '' && !emptyAllowed) this.fail(`${what}, not an empty string`, start);
    } else {
      while (this.pos < this.text.length && chars.test(this.text[this.pos]!)) this.pos++;
      if (this.pos === start) this.fail(what);
      value = this.text.slice(start, this.pos);
    }
    if (value.length > MAX_NAME_LENGTH) this.fail(`${what} of at most ${MAX_NAME_LENGTH} characters`, start);
    return value;
  }

  /** Consumes `word` (any case) when it stands alone here: not followed by another `wordChar`. */
  private keyword(word: string, wordChar: RegExp): boolean {
    const end = this.pos + word.length;
    if (this.text.slice(this.pos, end).toUpperCase() !== word) return false;
    if (end < this.text.length && wordChar.test(this.text[end]!)) return false;
    this.pos = end;
    return true;
  }

  private space(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  private eat(ch: string): boolean {
    if (this.text[this.pos] !== ch) return false;
    this.pos++;
    return true;
  }

  private expect(ch: string, expected: string): void {
    if (!this.eat(ch)) this.fail(expected);
  }

  private fail(expected: string, at = this.pos, found?: string): never {
    throw queryError(this.text, at, expected, found);
  }
}
