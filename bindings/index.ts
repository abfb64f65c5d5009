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
  /**
   * native/line_protocol_binding.cc ParseLineProtocolProbe(): reads the input in place; a parse
   * error throws an Error with code SLUICE_PARSE and numeric `line` and `column`.
   */
  parseLineProtocol(input: Uint8Array, precision: LineProtocolPrecision, defaultTimestampUs: bigint): LineProtocolBatch;
}

export interface LoadedNative {
  addon: NativeAddon;
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
  let addon: NativeAddon;
  try {
    file = nodeGypBuild.resolve(root);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require(file) as NativeAddon;
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
