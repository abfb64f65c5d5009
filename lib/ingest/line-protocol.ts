// InfluxDB line protocol to a columnar batch of float points (docs/line-protocol.md). Arguments
// are checked here; the parsing is native (native/line_protocol.cc).
import { native, type LineProtocolBatch, type LineProtocolPrecision } from '../../bindings/index.js';

export type { LineProtocolBatch, LineProtocolPrecision };

export interface ParseLinesOptions {
  /** Unit of the timestamps in the input; default 'ns', as InfluxDB. */
  precision?: LineProtocolPrecision;
  /** Timestamp (µs since the epoch) of lines without one; default the current time. */
  defaultTimestampUs?: bigint;
}

const PRECISIONS: readonly string[] = ['ns', 'us', 'ms', 's'];
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function invalidArgument<E extends Error>(ErrorType: new (message: string) => E, message: string): E {
  return Object.assign(new ErrorType(message), { code: 'SLUICE_INVALID_ARGUMENT' as const });
}

/**
 * Parses line protocol. The batch is all or nothing: a malformed line throws an Error with
 * `code: 'SLUICE_PARSE'` and 1-based `line` and `column`, and nothing of the input is returned.
 */
export function parseLines(input: string | Uint8Array, options: ParseLinesOptions = {}): LineProtocolBatch {
  const { bytes, precision, defaultTimestampUs } = lineArguments(input, options);
  return native().addon.parseLineProtocol(bytes, precision, defaultTimestampUs);
}

/** Checks parseLines-style arguments and gives them in the form the native side takes. */
export function lineArguments(
  input: string | Uint8Array,
  options: ParseLinesOptions = {},
): { bytes: Uint8Array; precision: LineProtocolPrecision; defaultTimestampUs: bigint } {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw invalidArgument(TypeError, `input must be a string, a Uint8Array or a Buffer, got ${describe(input)}`);
  }
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument(TypeError, `options must be an object, got ${describe(options)}`);
  }
  const { precision = 'ns', defaultTimestampUs = BigInt(Date.now()) * 1000n } = options;
  if (typeof precision !== 'string' || !PRECISIONS.includes(precision)) {
    const ErrorType = typeof precision === 'string' ? RangeError : TypeError;
    throw invalidArgument(ErrorType, `options.precision must be one of 'ns', 'us', 'ms', 's', got ${describe(precision)}`);
  }
  if (typeof defaultTimestampUs !== 'bigint') {
    const got = describe(defaultTimestampUs);
    throw invalidArgument(TypeError, `options.defaultTimestampUs must be a bigint (µs since the epoch), got ${got}`);
  }
  if (defaultTimestampUs < INT64_MIN || defaultTimestampUs > INT64_MAX) {
    const message = `options.defaultTimestampUs must fit a signed 64-bit integer, got ${defaultTimestampUs}`;
    throw invalidArgument(RangeError, message);
  }
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  return { bytes, precision: precision as LineProtocolPrecision, defaultTimestampUs };
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  return value.constructor?.name ?? 'an object';
}
