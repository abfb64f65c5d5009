// The only door to the native addon. lib/ imports this module, never the .node file.
//
// Loading goes through node-gyp-build: a local build (build/Release) first, then the prebuild for
// this platform/arch/libc. The addon is loaded on first use, so parts of sluice that need no native
// code (the CLI's --help, the client) work even where it cannot load, and the error says why.
import fs from 'node:fs';
import path from 'node:path';
import nodeGypBuild from 'node-gyp-build';

/** What the loaded binary reports about itself. */
export interface NativeBuildInfo {
  /** The Node-API level the addon was compiled against (pinned in binding.gyp). */
  napiVersion: number;
  /** Hash of native/ and binding.gyp at build time (scripts/native-source-hash.js). */
  sourceHash: string;
  arch: string;
  compiler: string;
}

/** Timestamp units of line protocol input. */
export type LineProtocolPrecision = 'ns' | 'us' | 'ms' | 's';

/** Parsed line protocol as columns: point i is series seriesKeys[keyIndex[i]] at timestamps[i] (µs). */
export interface LineProtocolBatch {
  /** Unique canonical series keys, in order of first appearance. */
  seriesKeys: string[];
  keyIndex: Uint32Array;
  /** Microseconds since the epoch. */
  timestamps: BigInt64Array;
  values: Float64Array;
  /** String fields are counted, not stored (they are not float values). */
  skippedStringFields: number;
}

/**
 * The addon's functions, one line per native entry point: the C++ side is in native/<feature>.cc.
 * Arguments are validated in lib/ before they get here; the native side checks them again.
 */
export interface NativeAddon {
  /** native/build_info.cc BuildInfo() */
  buildInfo(): NativeBuildInfo;
  /** native/boundary.cc Noop(): the bare cost of a call. */
  noop(): undefined;
  /** native/boundary.cc SumFloat64(): reads the array in place. */
  sumFloat64(values: Float64Array): number;
  /** native/boundary.cc SumBytes(): reads the bytes in place. */
  sumBytes(bytes: Uint8Array): number;
  /** native/boundary.cc FillSequenceInHeap(): a V8-allocated array written once by native code. */
  fillSequence(count: number, start: number, step: number): Float64Array;
  /** native/boundary.cc FillSequenceExternal(): native-owned memory handed to JS with a finalizer. */
  fillSequenceExternal(count: number, start: number, step: number): Float64Array;
  /** native/codec_probe.cc CodecEncodeTimestamps(): the timestamp column of a block (delta-of-delta, bit-packed). */
  codecEncodeTimestamps(timestamps: BigInt64Array): Uint8Array;
  /**
   * native/codec_probe.cc CodecDecodeTimestamps(): exactly `count` timestamps, into a new array or the first `count`
   * elements of `into` (returned); throws code SLUICE_CORRUPT on malformed input.
   */
  codecDecodeTimestamps(bytes: Uint8Array, count: number, into?: BigInt64Array): BigInt64Array;
  /**
   * native/codec_probe.cc CodecEncodeValues(): the value column of a block, the smallest exact codec ('auto') or the
   * one named; throws code SLUICE_INVALID_ARGUMENT if a named codec cannot represent the values exactly.
   */
  codecEncodeValues(values: Float64Array, codec?: ValueCodecChoice): { codec: ValueCodecName; bytes: Uint8Array };
  /**
   * native/codec_probe.cc CodecDecodeValues(): exactly `count` values, into a new array or the first `count` elements
   * of `into` (returned); throws code SLUICE_CORRUPT on malformed input.
   */
  codecDecodeValues(bytes: Uint8Array, count: number, into?: Float64Array): Float64Array;
  /**
   * native/codec_probe.cc CodecDecodeDecimalIntegers(): the scaled integers of a decimal-coded value column
   * (value i === integers[i] / 10 ** exponent), or with `cumulative` their running totals (wrapping in int64), as
   * window aggregates read them; null for the other codecs; throws code SLUICE_CORRUPT on a malformed decimal block.
   */
  codecDecodeDecimalIntegers(
    bytes: Uint8Array,
    count: number,
    cumulative: boolean,
  ): { exponent: number; integers: BigInt64Array; magnitudeBound: number } | null;
  /**
   * native/codec_probe.cc CodecTimestampStride(): for a timestamp column stored as a constant interval (count ≥ 2),
   * its first timestamp and step (timestamp i = first + i * step, wrapping in int64); else null.
   */
  codecTimestampStride(bytes: Uint8Array, count: number): { first: bigint; step: bigint } | null;
  /**
   * native/codec_probe.cc CodecWriteOnePointWindows(): the window writer (native/window_writer.h)
   * with the given stores (0 scalar, 1 AVX2 streamed, 2 AVX-512 streamed) into starts/values; window k
   * reads integers[k], or integers[k + 1] - integers[k] with differences. False when the CPU lacks them.
   */
  codecWriteOnePointWindows(
    integers: BigInt64Array,
    differences: boolean,
    firstBucket: bigint,
    bucketStep: bigint,
    divisor: number,
    stores: number,
    starts: BigInt64Array,
    values: Float64Array,
  ): boolean;
  /**
   * native/line_protocol_binding.cc ParseLineProtocolProbe(): reads the input in place; a parse
   * error throws an Error with code SLUICE_PARSE and numeric `line` and `column`.
   */
  parseLineProtocol(input: Uint8Array, precision: LineProtocolPrecision, defaultTimestampUs: bigint): LineProtocolBatch;
  /** native/event_frame_binding.cc ParseEventFrameProbe(): Slung binary events; SLUICE_FRAME with offset and event. */
  parseEventFrame(input: Uint8Array): EventFrameBatch;
  /**
   * native/remote_write_binding.cc ParseRemoteWriteProbe(): a Prometheus remote_write body (snappy
   * block + protobuf WriteRequest); SLUICE_PARSE with `offset`, or SLUICE_TOO_LARGE when the snappy
   * preamble declares more than maxUncompressedBytes.
   */
  parseRemoteWrite(body: Uint8Array, maxUncompressedBytes: number): EventFrameBatch;
  /** native/remote_write_binding.cc SnappyDecompressProbe(): the snappy block decoder alone; SLUICE_PARSE with `offset`, SLUICE_TOO_LARGE past the maximum. */
  snappyDecompress(input: Uint8Array, maxUncompressedBytes: number): Uint8Array;
  /**
   * native/thread_scheduling.cc SetThreadSlice(): asks Linux for a scheduler slice of `micros` µs (an integer in
   * 100..100000) for the calling thread; null when accepted, else the kernel's reason.
   */
  setThreadSlice(micros: number): string | null;
}

/** What a network batch write returns; `batch` only when asked for (native/engine_binding.cc WriteParsed). */
export interface NetworkWriteResult {
  points: number;
  skippedStringFields: number;
  batch?: EventFrameBatch;
}

/** The points of one WebSocket binary message (native/event_frame.h) or remote_write body (native/remote_write.h). */
export interface EventFrameBatch {
  seriesKeys: string[];
  keyIndex: Uint32Array;
  timestamps: BigInt64Array;
  values: Float64Array;
}

/** The value codecs of a segment block (docs/codecs.md). */
export type ValueCodecName = 'gorilla' | 'decimal' | 'decimal-entropy' | 'raw';
/** A codec to force, or 'auto' for the smallest exact one. */
export type ValueCodecChoice = 'auto' | ValueCodecName;

/** An open engine, as the addon hands it out (a type-tagged external). */
export type EngineHandle = { readonly __engineHandle: unique symbol };

export interface NativeAggregate {
  count: number;
  /** NaN when there is no point and the op needs one. */
  value: number;
  /** The whole summary, whatever the op, so results of several series merge exactly
   * (sum 0, the others NaN / 0n when count is 0). */
  sum: number;
  min: number;
  max: number;
  first: number;
  last: number;
  firstTime: bigint;
  lastTime: bigint;
}

export interface NativeEngineStats {
  /** Points accepted by writes since the engine opened (recovered points not counted). */
  pointsWritten: number;
  /** Distinct series keys known (segments, log, writes). */
  series: number;
  memtablePoints: number;
  memtableBytes: number;
  memtableSeries: number;
  segments: number;
  segmentBytes: number;
  segmentPoints: number;
  walBytesWritten: number;
  walUnsyncedBytes: number;
  flushes: number;
  compactions: number;
  segmentsDroppedByRetention: number;
  recoveredPoints: number;
  recoveredTruncatedBytes: number;
  unreadableSegments: string[];
  backgroundError: string | null;
  dir: string;
}

/** The storage engine's entry points: native/engine_binding.cc. Tags travel as [k1, v1, k2, v2, ...]. */
/** engineAggregateWindows' arguments before the optional output columns. */
type WindowArguments = [handle: EngineHandle, series: string, tags: string[], start: bigint, end: bigint, everyUs: bigint, op: number];

export interface NativeEngineAddon {
  /** EngineOpen(): durability 0 none, 1 batch, 2 sync; retentionUs 0 keeps everything. */
  engineOpen(
    dir: string,
    durability: 0 | 1 | 2,
    syncIntervalMs: number,
    memtableBytes: number,
    retentionUs: bigint,
    compactionTrigger: number,
    downsample: { series: string; everyUs: bigint; label: string; opsMask: number }[],
    queryThreads: number,
    /** 1: log records copied into a mapped, preallocated file; 0: one writev each. */
    walMapped: 0 | 1,
  ): EngineHandle;
  /** EngineWrite(): one series, many points. */
  engineWrite(handle: EngineHandle, series: string, tags: string[], timestamps: BigInt64Array | Float64Array, values: Float64Array): void;
  /** EngineWritePoint() */
  engineWritePoint(handle: EngineHandle, series: string, tags: string[], timestamp: bigint | number, value: number): void;
  /** EngineWriteLines(): parses line protocol whole, then writes it (nothing on a parse error);
   * with `withPoints` the parsed columns come back too (for live queries). */
  engineWriteLines(
    handle: EngineHandle,
    input: Uint8Array,
    precision: LineProtocolPrecision,
    defaultTimestampUs: bigint,
    withPoints?: boolean,
  ): NetworkWriteResult;
  /** EngineWriteEventFrame(): parses a WebSocket binary message whole, then writes it. */
  engineWriteEventFrame(handle: EngineHandle, input: Uint8Array, withPoints?: boolean): NetworkWriteResult;
  /** EngineWriteRemoteWrite(): decodes a Prometheus remote_write body whole, then writes it. */
  engineWriteRemoteWrite(handle: EngineHandle, body: Uint8Array, maxUncompressedBytes: number, withPoints?: boolean): NetworkWriteResult;
  /** EngineAggregate(): op 0 count, 1 sum, 2 avg, 3 min, 4 max, 5 first, 6 last. */
  engineAggregate(handle: EngineHandle, series: string, tags: string[], start: bigint, end: bigint, op: number): NativeAggregate;
  /** EngineAggregateWindows(): epoch-aligned tumbling windows of everyUs; only windows with points.
   * With intoStarts/intoValues large enough, written there at [first, first + count). */
  engineAggregateWindows(...args: WindowArguments): { starts: BigInt64Array; values: Float64Array };
  engineAggregateWindows(
    ...args: [...WindowArguments, intoStarts: BigInt64Array | undefined, intoValues: Float64Array | undefined]
  ): { starts: BigInt64Array; values: Float64Array } | { first: number; count: number };
  /** EngineScan(): up to `limit` points with start <= t <= end, in time order. */
  engineScan(
    handle: EngineHandle,
    series: string,
    tags: string[],
    start: bigint,
    end: bigint,
    limit: number,
  ): { timestamps: BigInt64Array; values: Float64Array };
  /** EngineFlush(): memtable to a segment, on a worker thread. */
  engineFlush(handle: EngineHandle): Promise<void>;
  /** EngineCompact(): merges every segment into one, on a worker thread. */
  engineCompact(handle: EngineHandle): Promise<void>;
  /** EngineApplyRetention(): drops segments entirely older than now - retention; returns how many. */
  engineApplyRetention(handle: EngineHandle, nowUs: bigint): number;
  /** EngineClose(): waits for this handle's pending work, then releases it. */
  engineClose(handle: EngineHandle): Promise<void>;
  /** EngineStatsValue() */
  engineStats(handle: EngineHandle): NativeEngineStats;
  /** EngineMoments(): population moments (Welford) over every point of these canonical keys. */
  engineMoments(handle: EngineHandle, keys: string[], start: bigint, end: bigint): { count: number; mean: number; m2: number };
  /** EngineQuantiles(): exact quantiles (each in [0, 1]) over the points of these keys; NaN ignored;
   * SLUICE_LIMIT past maxValues points. */
  engineQuantiles(
    handle: EngineHandle,
    keys: string[],
    start: bigint,
    end: bigint,
    quantiles: Float64Array,
    maxValues: number,
  ): { count: number; values: Float64Array };
  /** EngineWindowKernel(): per-window STDDEV (0), quantile (1), FIRST (2), LAST (3), DELTA (4), RATE (5)
   * over these keys' points merged per window; only windows with points. */
  engineWindowKernel(
    handle: EngineHandle,
    keys: string[],
    start: bigint,
    end: bigint,
    everyUs: bigint,
    op: number,
    quantile: number,
    maxValues: number,
  ): { starts: BigInt64Array; values: Float64Array };
  /** EngineWalPositions(): bytes appended to the log and bytes fsynced (cheap; for durable acks). */
  engineWalPositions(handle: EngineHandle): { written: number; synced: number };
  /** EngineSeriesKeys(): every series key seen, in first-seen order, from position `from` on. */
  engineSeriesKeys(handle: EngineHandle, from: number): string[];
  /** SeriesKey(): the canonical series key (native/series_key.h). */
  seriesKey(series: string, tags: string[]): string;
}

export interface LoadedNative {
  addon: NativeAddon & NativeEngineAddon;
  /** Absolute path of the .node file that was loaded. */
  file: string;
  /** True when the file came from prebuilds/ rather than a local build. */
  prebuilt: boolean;
}

/** Thrown when no binary loads; `code` is SLUICE_NATIVE_LOAD or SLUICE_NATIVE_STALE. */
export class NativeLoadError extends Error {
  readonly code: 'SLUICE_NATIVE_LOAD' | 'SLUICE_NATIVE_STALE';
  constructor(code: NativeLoadError['code'], message: string) {
    super(message);
    this.name = 'NativeLoadError';
    this.code = code;
  }
}

/** The nearest folder above `from` holding a package.json: the package root, from bindings/ or dist/bindings/. */
function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** The package's root folder. */
export const packageRoot = findPackageRoot(__dirname);

const buildFromSourceHint =
  'Build it from source with `npm rebuild sluice` (in a clone of sluice: `npm run build:native`); ' +
  'that needs python3, make and a C++20 compiler (Debian: apt-get install -y python3 make g++).';

function libcName(): string {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const glibc = report?.header?.glibcVersionRuntime;
  return glibc ? `glibc ${glibc}` : 'non-glibc (musl?)';
}

/** Every file node-gyp-build could have picked, for the error message. */
function candidateFiles(root: string): string[] {
  const candidates = [path.join(root, 'build', 'Release', 'sluice.node'), path.join(root, 'build', 'Debug', 'sluice.node')];
  const prebuildDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const prebuilds = fs.existsSync(prebuildDir) ? fs.readdirSync(prebuildDir).filter((name) => name.endsWith('.node')) : [];
  if (prebuilds.length === 0) candidates.push(path.join(prebuildDir, '*.node'));
  for (const name of prebuilds) candidates.push(path.join(prebuildDir, name));
  return candidates.map((file) => `${file}${fs.existsSync(file) ? '' : ' (absent)'}`);
}

function loadFailure(root: string, cause: unknown): NativeLoadError {
  const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
  return new NativeLoadError(
    'SLUICE_NATIVE_LOAD',
    [
      `sluice's native addon did not load on ${process.platform}-${process.arch}, ${libcName()}, ` +
        `Node ${process.version} (Node-API ${process.versions.napi}): ${reason}`,
      `Tried${process.env.PREBUILDS_ONLY ? ' (PREBUILDS_ONLY=1: prebuilds only)' : ''}:`,
      ...candidateFiles(root).map((file) => `  ${file}`),
      buildFromSourceHint,
    ].join('\n'),
  );
}

/** The hash of the native sources shipped beside the binary, or undefined where they are absent. */
function shippedSourceHash(root: string): string | undefined {
  const script = path.join(root, 'scripts', 'native-source-hash.js');
  if (!fs.existsSync(script) || !fs.existsSync(path.join(root, 'native'))) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { nativeSourceHash } = require(script) as { nativeSourceHash(): string };
  return nativeSourceHash();
}

/** Loads the addon found under `root`; throws NativeLoadError with what was tried and how to fix it. */
export function loadNativeFrom(root: string): LoadedNative {
  let file: string;
  let addon: NativeAddon & NativeEngineAddon;
  try {
    file = nodeGypBuild.resolve(root);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require(file) as NativeAddon & NativeEngineAddon;
  } catch (cause) {
    throw loadFailure(root, cause);
  }
  const expected = shippedSourceHash(root);
  const built = addon.buildInfo().sourceHash;
  if (expected !== undefined && built !== expected) {
    throw new NativeLoadError(
      'SLUICE_NATIVE_STALE',
      `${file} was built from other native sources (${built}) than the ones beside it (${expected}). ` +
        'Rebuild it: `npm run build:native` for the local build, `npm run prebuilds` for prebuilds/.',
    );
  }
  return { addon, file, prebuilt: file.includes(`${path.sep}prebuilds${path.sep}`) };
}

let loaded: LoadedNative | undefined;

/** The addon of this package, loaded once on first use. */
export function native(): LoadedNative {
  loaded ??= loadNativeFrom(packageRoot);
  return loaded;
}
