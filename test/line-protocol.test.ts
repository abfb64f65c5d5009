import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bindings } from './helpers/sluice.js';

type LineProtocolModule = typeof import('../dist/lib/ingest/line-protocol.js');
const { parseLines } = createRequire(import.meta.url)('../dist/lib/ingest/line-protocol.js') as LineProtocolModule;
const { addon } = bindings.native();

type Precision = 'ns' | 'us' | 'ms' | 's';
type FieldValue =
  | { kind: 'float'; value: number; text: string }
  | { kind: 'int' | 'uint'; value: bigint }
  | { kind: 'bool'; value: boolean; text: string }
  | { kind: 'string'; value: string };
interface Point {
  measurement: string;
  tags: [string, string][];
  fields: [string, FieldValue][];
  timestamp?: bigint;
}
interface Expected {
  seriesKeys: string[];
  keyIndex: number[];
  timestamps: bigint[];
  values: number[];
  skippedStringFields: number;
}

// --- a reference serialiser and the canonical key rules, written independently of the parser ---

const escapeWith = (text: string, special: string) => text.replace(new RegExp(`([${special}])`, 'g'), '\\$1');
const serialiseMeasurement = (text: string) => escapeWith(text, ', ');
const serialiseKey = (text: string) => escapeWith(text, ',= ');
const serialiseString = (text: string) => `"${text.replace(/([\\"])/g, '\\$1')}"`;

function serialiseValue(field: FieldValue): string {
  switch (field.kind) {
    case 'float':
    case 'bool':
      return field.text;
    case 'int':
      return `${field.value}i`;
    case 'uint':
      return `${field.value}u`;
    case 'string':
      return serialiseString(field.value);
  }
}

function serialisePoint(point: Point, separator: string): string {
  const series = serialiseMeasurement(point.measurement) + point.tags.map(([k, v]) => `,${serialiseKey(k)}=${serialiseKey(v)}`).join('');
  const fields = point.fields.map(([k, v]) => `${serialiseKey(k)}=${serialiseValue(v)}`).join(',');
  return `${series}${separator}${fields}${point.timestamp === undefined ? '' : `${separator}${point.timestamp}`}`;
}

/**
 * In line protocol a backslash escapes only the special characters of its element and is literal
 * before anything else, so a run of backslashes directly before a special character or the end of
 * an element cannot be written unless it is of even length (InfluxDB has the same gap).
 */
function representable(text: string, special: string): boolean {
  for (const match of text.matchAll(/\\+/g)) {
    const next = text[match.index + match[0].length];
    if ((next === undefined || special.includes(next)) && match[0].length % 2 === 1) return false;
  }
  return true;
}

const utf8Compare = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const keyEscape = (text: string, equals: boolean) => text.replace(equals ? /([,= \\])/g : /([, \\])/g, '\\$1');

function canonicalKey(name: string, tags: [string, string][]): string {
  const sorted = [...tags].sort(([a], [b]) => utf8Compare(a, b));
  return keyEscape(name, false) + sorted.map(([k, v]) => `,${keyEscape(k, true)}=${keyEscape(v, true)}`).join('');
}

function toMicroseconds(timestamp: bigint, precision: Precision): bigint {
  if (precision === 'ns') {
    const quotient = timestamp / 1000n; // BigInt division truncates; floor for negatives
    return timestamp % 1000n < 0n ? quotient - 1n : quotient;
  }
  return timestamp * { us: 1n, ms: 1000n, s: 1_000_000n }[precision];
}

function expectedBatch(points: Point[], precision: Precision, defaultTimestampUs: bigint): Expected {
  const expected: Expected = { seriesKeys: [], keyIndex: [], timestamps: [], values: [], skippedStringFields: 0 };
  const indexOf = new Map<string, number>();
  for (const point of points) {
    for (const [fieldKey, field] of point.fields) {
      if (field.kind === 'string') {
        expected.skippedStringFields++;
        continue;
      }
      const name = fieldKey === 'value' ? point.measurement : `${point.measurement}_${fieldKey}`;
      const key = canonicalKey(name, point.tags);
      if (!indexOf.has(key)) {
        indexOf.set(key, expected.seriesKeys.length);
        expected.seriesKeys.push(key);
      }
      expected.keyIndex.push(indexOf.get(key)!);
      expected.timestamps.push(point.timestamp === undefined ? defaultTimestampUs : toMicroseconds(point.timestamp, precision));
      expected.values.push(Number(field.value));
    }
  }
  return expected;
}

function asPlain(batch: ReturnType<typeof parseLines>): Expected {
  return {
    seriesKeys: batch.seriesKeys,
    keyIndex: [...batch.keyIndex],
    timestamps: [...batch.timestamps],
    values: [...batch.values],
    skippedStringFields: batch.skippedStringFields,
  };
}

// --- generators ---

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const nameCharacter = fc.constantFrom('a', 'b', 'z', 'Q', '0', '7', '_', '-', '.', ' ', ',', '=', '\\', '"', "'", 'é', '日', '😀', '#');
const text = (special: string) =>
  fc.array(nameCharacter, { minLength: 1, maxLength: 8 }).map((chars) => chars.join('')).filter((s) => representable(s, special));
const measurement = text(', ').filter((s) => !s.startsWith('#')); // a line starting with '#' is a comment
const tagOrFieldKey = text(',= ');

const floatField: fc.Arbitrary<FieldValue> = fc
  .tuple(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom('plain', 'exponent', 'EXPONENT'))
  .map(([value, style]) => {
    const exponent = value.toExponential();
    const written = style === 'plain' ? String(value) : style === 'exponent' ? exponent : exponent.toUpperCase();
    return { kind: 'float', value, text: Object.is(value, -0) ? '-0' : written };
  });
const fieldValue: fc.Arbitrary<FieldValue> = fc.oneof(
  floatField,
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }).map((value) => ({ kind: 'int' as const, value })),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((value) => ({ kind: 'uint' as const, value })),
  fc
    .constantFrom('t', 'T', 'true', 'True', 'TRUE', 'f', 'F', 'false', 'False', 'FALSE')
    .map((spelling) => ({ kind: 'bool' as const, value: /^t/i.test(spelling), text: spelling })),
  fc
    .array(fc.constantFrom('a', ' ', ',', '=', '"', '\\', '\n', '日', '\\"', 'x y'), { maxLength: 8 })
    .map((parts) => ({ kind: 'string' as const, value: parts.join('') })),
);

const timestampBounds: Record<Precision, bigint> = { ns: INT64_MAX, us: INT64_MAX, ms: INT64_MAX / 1000n, s: INT64_MAX / 1_000_000n };

const batchArbitrary = fc.constantFrom<Precision>('ns', 'us', 'ms', 's').chain((precision) =>
  fc.record({
    precision: fc.constant(precision),
    defaultTimestampUs: fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
    points: fc.array(
      fc.record(
        {
          measurement,
          tags: fc.uniqueArray(fc.tuple(tagOrFieldKey, tagOrFieldKey), { maxLength: 4, selector: ([key]) => key }),
          fields: fc.uniqueArray(fc.tuple(fc.oneof(tagOrFieldKey, fc.constant('value')), fieldValue), {
            minLength: 1,
            maxLength: 4,
            selector: ([key]) => key,
          }),
          timestamp: fc.bigInt({ min: -timestampBounds[precision], max: timestampBounds[precision] }),
        },
        { requiredKeys: ['measurement', 'tags', 'fields'] },
      ),
      { maxLength: 12 },
    ),
    // How lines and sections are laid out: none of it changes the result.
    layout: fc.record({
      newline: fc.constantFrom('\n', '\r\n'),
      separator: fc.constantFrom(' ', '  '),
      trailing: fc.constantFrom('', ' ', '\t '),
      extras: fc.constantFrom('', '\n', '# a comment, with = and "quotes\n', '   \n'),
      finalNewline: fc.boolean(),
    }),
  }),
);

// --- helpers for error expectations ---

function parseError(run: () => unknown): { code: string; line: number; column: number; message: string } {
  try {
    run();
  } catch (error) {
    return error as { code: string; line: number; column: number; message: string };
  }
  throw new Error('expected a parse error, but the input was accepted');
}

describe('line protocol parser: property', () => {
  it('parses serialised random points into the expected columns and canonical keys', () => {
    fc.assert(
      fc.property(batchArbitrary, ({ precision, defaultTimestampUs, points, layout }) => {
        const lines = points.map((point) => layout.extras + serialisePoint(point, layout.separator) + layout.trailing);
        const input = lines.join(layout.newline) + (layout.finalNewline ? layout.newline : '');
        const batch = parseLines(input, { precision, defaultTimestampUs });
        expect(asPlain(batch)).toEqual(expectedBatch(points, precision, defaultTimestampUs));
        // The same bytes through the native probe directly, as a Uint8Array view into a larger buffer.
        const bytes = Buffer.from(`xx${input}yy`).subarray(2, 2 + Buffer.byteLength(input));
        expect(asPlain(addon.parseLineProtocol(bytes, precision, defaultTimestampUs))).toEqual(asPlain(batch));
      }),
      { numRuns: 400 },
    );
  });
});

describe('line protocol parser: accepted forms', () => {
  const T = 1_700_000_000_000_000_000n;
  const cases: [string, string, Precision, Partial<Expected> & { points?: [string, bigint, number][] }][] = [
    ['single field named value', `cpu,host=a value=1.5 ${T}`, 'ns', { points: [['cpu,host=a', T / 1000n, 1.5]] }],
    ['other fields get measurement_field', 'cpu usage=2,value=3 5', 'us', { points: [['cpu_usage', 5n, 2], ['cpu', 5n, 3]] }],
    ['tags are sorted into the key', 'm,z=1,a=2 value=1 0', 'ns', { points: [['m,a=2,z=1', 0n, 1]] }],
    ['same series spelled two ways shares one key', 'm,a=1,b=2 value=1 1\nm,b=2,a=1 value=2 2', 'us', { seriesKeys: ['m,a=1,b=2'], keyIndex: [0, 0] }],
    ['escapes in measurement', 'c\\ p\\,u\\=x value=1 1', 'us', { points: [['c\\ p\\,u\\\\=x', 1n, 1]] }],
    ['escapes in tags and field keys', 'm,t\\ k\\=\\,=v\\ 1\\,\\= f\\ \\=\\,k=1 1', 'us', { points: [['m_f\\ =\\,k,t\\ k\\=\\,=v\\ 1\\,\\=', 1n, 1]] }],
    ['backslash before another character is literal', 'm\\x,t=a\\b value=1 1', 'us', { points: [['m\\\\x,t=a\\\\b', 1n, 1]] }],
    ['quoted strings with spaces, commas, equals, quotes, newlines are skipped', 'm s="a b,c=d \\"q\\" \\\\",v=1,s2="line\nnext" 1', 'us', { points: [['m_v', 1n, 1]], skippedStringFields: 2 }],
    ['a line of only string fields yields no point', 'm s="x" 1', 'us', { points: [], skippedStringFields: 1 }],
    ['integers, negative integers and int64 bounds', 'm a=123i,b=-5i,c=9223372036854775807i,d=-9223372036854775808i 1', 'us', { values: [123, -5, 2 ** 63, -(2 ** 63)] }],
    ['unsigned integers up to 2^64-1', 'm a=123u,b=18446744073709551615u 1', 'us', { values: [123, 2 ** 64] }],
    ['booleans in every spelling', 'm a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE 1', 'us', { values: [1, 1, 1, 1, 1, 0, 0, 0, 0, 0] }],
    ['float forms', 'm a=1,b=-1.5,c=1e3,d=1.5E-3,e=.5,f=1.,g=-0,h=1e+2 1', 'us', { values: [1, -1.5, 1000, 0.0015, 0.5, 1, -0, 100] }],
    ['floats too small for a double become zero, keeping the sign', 'm a=1e-400,b=-0.0000001e-320,c=5e-324,d=1.7976931348623157e308 1', 'us', { values: [0, -0, 5e-324, 1.7976931348623157e308] }],
    ['missing timestamp takes the default', 'm value=1', 'ns', { timestamps: [42n] }],
    ['precision ns floors to microseconds', 'm value=1 1999\nm value=2 -1\nm value=3 -1000\nm value=4 -1001', 'ns', { timestamps: [1n, -1n, -1n, -2n] }],
    ['precision us', 'm value=1 -7', 'us', { timestamps: [-7n] }],
    ['precision ms', 'm value=1 -7', 'ms', { timestamps: [-7000n] }],
    ['precision s', 'm value=1 1700000000', 's', { timestamps: [1_700_000_000_000_000n] }],
    ['CRLF, comments, blank lines, leading and trailing whitespace', '# header\r\n\r\n  m value=1 1  \r\n\t\n   # indented comment\nm value=2 2\t\r\n', 'us', { values: [1, 2], timestamps: [1n, 2n] }],
    ['no final newline, several spaces between sections', 'm  value=1   3', 'us', { timestamps: [3n] }],
    ['duplicate fields give one point each, in order', 'm value=1,value=2 1', 'us', { seriesKeys: ['m'], keyIndex: [0, 0], values: [1, 2] }],
    ['an empty buffer yields an empty batch', '', 'ns', { seriesKeys: [], values: [] }],
    ['unicode names', 'température,lieu=Zürich_日 value=1 1', 'us', { seriesKeys: ['température,lieu=Zürich_日'] }],
  ];
  for (const [name, input, precision, expected] of cases) {
    it(name, () => {
      const batch = asPlain(parseLines(input, { precision, defaultTimestampUs: 42n }));
      if (expected.points) {
        expect(batch.keyIndex.map((i) => batch.seriesKeys[i])).toEqual(expected.points.map(([key]) => key));
        expect(batch.timestamps).toEqual(expected.points.map(([, ts]) => ts));
        expect(batch.values).toEqual(expected.points.map(([, , value]) => value));
      }
      for (const field of ['seriesKeys', 'keyIndex', 'timestamps', 'values', 'skippedStringFields'] as const) {
        if (expected[field] !== undefined) expect(batch[field], field).toEqual(expected[field]);
      }
    });
  }

  it('accepts 64 tags and 256 fields, and a line just under 1 MiB', () => {
    const tags = Array.from({ length: 64 }, (_, i) => `,t${i}=v`).join('');
    const fields = Array.from({ length: 256 }, (_, i) => `f${i}=${i}`).join(',');
    expect(parseLines(`m${tags} ${fields} 1`).values.length).toBe(256);
    const padding = 'x'.repeat((1 << 20) - 'm s="" value=1'.length);
    expect(parseLines(`m s="${padding}",value=1`).values).toEqual(Float64Array.from([1]));
  });

  it('gives each call only its own series, in order of first appearance, whatever earlier calls held', () => {
    // The parser remembers series across calls (per thread): what it remembers must not leak into a batch.
    expect(parseLines('a,h=1 value=1 1\nb,h=2 value=2 2\nc,h=3 x=3 3', { precision: 'us' }).seriesKeys).toEqual(['a,h=1', 'b,h=2', 'c_x,h=3']);
    const batch = parseLines('c,h=3 x=4 4\nnew value=5 5\nb,h=2 value=6 6\nc,h=3 x=7 7', { precision: 'us' });
    expect(batch.seriesKeys).toEqual(['c_x,h=3', 'new', 'b,h=2']);
    expect([...batch.keyIndex]).toEqual([0, 1, 2, 0]);
    expect(() => parseLines('b,h=2 value=8 8\nb,h=2 value=y 9')).toThrow(/^line 2/);
    const after = parseLines('z value=1 1\nb,h=2 value=9 9\nb,h=2,g=0 value=1 1', { precision: 'us' });
    expect(after.seriesKeys).toEqual(['z', 'b,h=2', 'b,g=0,h=2']);
    expect([...after.keyIndex]).toEqual([0, 1, 2]);
    // Two spellings of one series still share a key when only one of them was seen before.
    parseLines('s,a=1,b=2 value=1 1', { precision: 'us' });
    expect(parseLines('s,b=2,a=1 value=1 1\ns,a=1,b=2 value=2 2', { precision: 'us' }).seriesKeys).toEqual(['s,a=1,b=2']);
  });
});

describe('line protocol parser: errors name line, column, what was found and what was expected', () => {
  const cases: [string, string, number, number, RegExp, Precision?][] = [
    ['missing field set', 'cpu,host=a', 1, 11, /expected a space and a field set .* found end of input/],
    ['missing field set before a newline', 'ok value=1\ncpu \nok value=2', 2, 5, /expected a field set .* found end of line/],
    ['missing =', 'm value=1\nm value=1\nm,host=a usage 1', 3, 15, /expected '=' after field key "usage", found ' '/],
    ['empty field key', 'm =1', 1, 3, /expected a field key, found '='/],
    ['empty field value', 'm value= 1', 1, 9, /expected a field value after '=' for field "value", found ' '/],
    ['trailing comma in the field set', 'm value=1, 1', 1, 11, /expected a field key, found ' '/],
    ['bad number', 'm value=1.2.3', 1, 12, /invalid field value "1.2.3" .*expected a number/],
    ['bad exponent', 'm value=1e', 1, 11, /expected the digits of the exponent .* found end of input/],
    ['leading plus', 'm value=+1', 1, 9, /leading '\+' is not accepted/],
    ['unterminated string', 'm value=1\nm s="abc, value=2 3\n', 2, 5, /never closed: expected '"'/],
    ['text after a closing quote', 'm s="a"x=1', 1, 8, /expected ',', a space or the end of the line after the field value, found 'x'/],
    ['bad boolean', 'm b=tru', 1, 5, /invalid boolean "tru" .*expected t, T, true/],
    ['integer overflow', 'm value=9223372036854775808i', 1, 9, /integer "9223372036854775808i" .*outside the range \[-9223372036854775808, 9223372036854775807\]/],
    ['integer underflow', 'm value=-9223372036854775809i', 1, 9, /outside the range/],
    ['unsigned overflow', 'm value=18446744073709551616u', 1, 9, /unsigned integer .*outside the range \[0, 18446744073709551615\]/],
    ['negative unsigned', 'm value=-1u', 1, 9, /unsigned integer cannot be negative/],
    ['bad integer', 'm value=1.5i', 1, 10, /invalid integer for field "value": expected digits before 'i', found '\.'/],
    ['float out of range', 'm value=1e400', 1, 9, /outside the range of a 64-bit float/],
    ['float out of range, with digits before the point', 'm value=-1800.0e305', 1, 9, /outside the range of a 64-bit float/],
    ['NaN', 'm value=NaN', 1, 9, /NaN and infinity are not accepted/],
    ['negative infinity', 'm value=-inf', 1, 9, /NaN and infinity are not accepted/],
    ['Infinity', 'm a=1,b=Infinity', 1, 9, /NaN and infinity are not accepted/],
    ['timestamp out of int64', 'm value=1 9223372036854775808', 1, 11, /timestamp "9223372036854775808" \(ns\) is out of range/],
    ['timestamp out of range after conversion', 'm value=1 9223372036854776', 1, 11, /\(ms\) is out of range/, 'ms'],
    ['timestamp out of range in seconds', 'm value=1 -9223372036855', 1, 11, /\(s\) is out of range/, 's'],
    ['trailing garbage after the timestamp', 'm value=1 123 x', 1, 15, /expected the end of the line after the timestamp, found 'x'/],
    ['garbage inside the timestamp', 'm value=1 12a', 1, 13, /expected a timestamp \(an integer in ns\) or the end of the line, found 'a'/],
    ['a lone carriage return', 'm value=1\r2', 1, 10, /found byte 0x0D/],
    ['duplicate tag key (from the series key rules)', 'm,a=1,a=2 value=1', 1, 1, /tag key "a" is given twice/],
    ['empty tag value', 'm,a= value=1', 1, 5, /expected a value for tag "a" after '=', found ' '/],
    ['tag without =', 'm,a value=1', 1, 4, /expected '=' after tag key "a", found ' '/],
    ['unescaped = in a tag value', 'm,a=b=c value=1', 1, 6, /write it as \\= inside a tag value/],
    ['empty measurement', ',a=b value=1', 1, 1, /expected a measurement name, found ','/],
    ['control character in a key', 'm\x01 value=1', 1, 1, /control character/],
    ['series name too long', `m ${'f'.repeat(300)}=1`, 1, 3, /at most 256 are accepted/],
  ];
  for (const [name, input, line, column, message, precision] of cases) {
    it(name, () => {
      const error = parseError(() => parseLines(input, { precision: precision ?? 'ns' }));
      expect(error.code).toBe('SLUICE_PARSE');
      expect(error).toBeInstanceOf(Error);
      expect([error.line, error.column]).toEqual([line, column]);
      expect(error.message).toMatch(new RegExp(`^line ${line}, column ${column}: `));
      expect(error.message).toMatch(message);
    });
  }

  it('rejects invalid UTF-8 in keys where it starts', () => {
    const error = parseError(() => addon.parseLineProtocol(Buffer.from([0x6d, 0x2c, 0x61, 0x3d, 0xc3, 0x28, 0x20, 0x76, 0x3d, 0x31]), 'ns', 0n));
    expect([error.code, error.line, error.column]).toEqual(['SLUICE_PARSE', 1, 5]);
    expect(error.message).toMatch(/must be UTF-8; found invalid byte 0xC3/);
  });

  it('enforces the 64-tag, 256-field and 1 MiB line bounds with clear messages', () => {
    const tags = Array.from({ length: 65 }, (_, i) => `,t${i}=v`).join('');
    expect(parseError(() => parseLines(`m${tags} value=1`)).message).toMatch(/more than 64 tags/);
    const fields = Array.from({ length: 257 }, (_, i) => `f${i}=${i}`).join(',');
    expect(parseError(() => parseLines(`m ${fields}`)).message).toMatch(/more than 256 fields/);
    const long = parseError(() => parseLines(`ok value=1\nm s="${'x'.repeat(1 << 20)}"`));
    expect([long.line, long.column]).toEqual([2, (1 << 20) + 1]);
    expect(long.message).toMatch(/longer than 1048576 bytes/);
  });

  it('rejects the whole batch: an error on the last line returns nothing of the others', () => {
    expect(() => parseLines('m value=1\nm value=2\nm value=x')).toThrow(/^line 3, column 9/);
  });
});

describe('line protocol parser: arguments', () => {
  it('validates in TypeScript with SLUICE_INVALID_ARGUMENT TypeErrors and RangeErrors', () => {
    const bad: [unknown, unknown, typeof TypeError | typeof RangeError, RegExp][] = [
      [42, {}, TypeError, /input must be a string, a Uint8Array or a Buffer, got 42/],
      [[1, 2], {}, TypeError, /got Array/],
      ['m value=1', null, TypeError, /options must be an object/],
      ['m value=1', { precision: 'h' }, RangeError, /options.precision must be one of 'ns', 'us', 'ms', 's', got "h"/],
      ['m value=1', { precision: 9 }, TypeError, /options.precision must be one of .* got 9/],
      ['m value=1', { defaultTimestampUs: 5 }, TypeError, /options.defaultTimestampUs must be a bigint/],
      ['m value=1', { defaultTimestampUs: 2n ** 63n }, RangeError, /must fit a signed 64-bit integer/],
    ];
    for (const [input, options, type, message] of bad) {
      const call = () => (parseLines as (...args: unknown[]) => unknown)(input, options);
      expect(call).toThrow(type);
      expect(call).toThrow(message);
      expect(parseError(call).code).toBe('SLUICE_INVALID_ARGUMENT');
    }
  });

  it('defaults to ns precision and the current time', () => {
    const before = BigInt(Date.now()) * 1000n;
    const batch = parseLines(new TextEncoder().encode('m value=1\nm value=2 1000'));
    expect(batch.timestamps[0]).toBeGreaterThanOrEqual(before);
    expect(batch.timestamps[1]).toBe(1n);
  });

  it('checks arguments again natively', () => {
    const unchecked = addon as unknown as Record<string, (...args: unknown[]) => unknown>;
    const bad: unknown[][] = [
      [],
      ['m value=1', 'ns', 0n],
      [new Uint16Array(2), 'ns', 0n],
      [Buffer.from('m value=1'), 'h', 0n],
      [Buffer.from('m value=1'), 1, 0n],
      [Buffer.from('m value=1'), 'ns', 0],
      [Buffer.from('m value=1'), 'ns', 2n ** 64n],
    ];
    for (const args of bad) {
      const error = parseError(() => unchecked.parseLineProtocol!(...args));
      expect(error.code, String(args)).toBe('SLUICE_INVALID_ARGUMENT');
      expect(error.message).toMatch(/^argument \d must/);
    }
  });
});

describe('line protocol parser: fuzz', () => {
  function checkNeverCrashes(bytes: Uint8Array): void {
    try {
      const batch = addon.parseLineProtocol(bytes, 'ns', 0n);
      expect(batch.timestamps.length).toBe(batch.values.length);
      expect(batch.keyIndex.length).toBe(batch.values.length);
      for (const index of batch.keyIndex) expect(index).toBeLessThan(batch.seriesKeys.length);
    } catch (error) {
      const { code, line, column } = error as { code?: string; line?: number; column?: number };
      expect(code, String(error)).toBe('SLUICE_PARSE');
      expect(Number.isInteger(line) && line! >= 1 && Number.isInteger(column) && column! >= 1).toBe(true);
    }
  }

  it('returns or throws SLUICE_PARSE for random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => checkNeverCrashes(bytes)),
      { numRuns: 3000 },
    );
  });

  it('returns or throws SLUICE_PARSE for mutated valid input', () => {
    const valid = Buffer.from(
      'cpu,host=a\\ b,region=eu usage=1.5,idle=2i,up=t,s="x \\" y" 1700000000000000000\r\n' +
        '# comment\nmem,host=b free=18446744073709551615u,value=-1e-3\n',
    );
    const mutation = fc.record({
      position: fc.nat(valid.length - 1),
      byte: fc.constantFrom(0x00, 0x0a, 0x0d, 0x20, 0x22, 0x2c, 0x3d, 0x5c, 0x23, 0x2d, 0x69, 0x75, 0x74, 0x80, 0xc3, 0xff),
      action: fc.constantFrom('replace', 'insert', 'delete', 'truncate'),
    });
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        let bytes = Buffer.from(valid);
        for (const { position, byte, action } of mutations) {
          const at = Math.min(position, bytes.length);
          if (action === 'replace' && at < bytes.length) bytes[at] = byte;
          if (action === 'insert') bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([byte]), bytes.subarray(at)]);
          if (action === 'delete') bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
          if (action === 'truncate') bytes = bytes.subarray(0, at);
        }
        checkNeverCrashes(bytes);
      }),
      { numRuns: 3000 },
    );
  });
});
