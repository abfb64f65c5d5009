// One running workflow instance: its Wasm instance, the host functions shaped to its declared
// signatures, Regions in and out of its memory, minimal WASI, and asyncify stepping: a guest that
// waits in u_poll_handle or u_writeback_http is unwound off the stack (its locals saved in pages the
// host added at the end of its memory), so many guests share one thread and an idle one costs only
// its memory. Bad Regions (out of bounds, too long, bad UTF-8) never reach the host's logic: the
// call fails with its error code and a line in the workflow's log.
import { randomFillSync } from 'node:crypto';
import { copyBytes } from '../bytes.js';
import { adaptToSignature, EXTENSION_FUNCTIONS, SEED_FUNCTIONS, WASI_FUNCTIONS, WASI_MODULE, type AbiReport } from './abi.js';
import type { MemoryPool } from './memory-pool.js';
import type { ModuleInfo } from './module-info.js';
import { ASYNCIFY_PAGES } from './prepare.js';

/** What the guest's host functions do; implemented by the workflow worker. */
export interface GuestHost {
  queryLive(text: string): number;
  queryHistory(text: string): number;
  /**
   * The next event of a handle as JSON bytes: `bytes[start, end)` of the returned object, which the
   * host may reuse for the next event (copy it at once); null when none is pending; undefined:
   * unknown handle.
   */
  takeEvent(handle: number): EventBytes | null | undefined;
  freeHandle(handle: number): boolean;
  /** Each returns null on success or the reason it failed (logged by the guest runtime). */
  writeEvent(timestamp: string, value: string, tags: string): string | null;
  writebackWs(producer: number, data: Uint8Array): string | null;
  /** Resolves with the response body; rejects with the reason. */
  http(url: string, body: Uint8Array, method: number): Promise<Uint8Array>;
  stateGet(key: string): Uint8Array | null;
  stateSet(key: string, value: Uint8Array): string | null;
  stateDelete(key: string): string | null;
  log(line: string): void;
}

/** A range of bytes: events are handed over as offsets into the host's queue, not as new views. */
export interface EventBytes {
  bytes: Uint8Array;
  start: number;
  end: number;
}

export interface GuestOptions {
  env: ReadonlyArray<readonly [string, string]>;
  /** Where the guest's memory comes from (made ahead of time); else it is made at instantiation. */
  memories?: MemoryPool;
  /** Upper bound of one Region the guest passes in (bytes). */
  maxRegionBytes: number;
}

/** Where a guest stands after it ran. */
export type GuestStep =
  | { state: 'polling'; handle: number }
  | { state: 'http'; done: Promise<void> }
  | { state: 'finished' }
  | { state: 'exited'; code: number }
  | { state: 'failed'; error: string };

class GuestExit extends Error {
  constructor(readonly code: number) {
    super(`proc_exit(${code})`);
  }
}

/** A bad Region or argument: the host call fails with its error code; the message is logged. */
class GuestArgumentError extends Error {}

const ERRNO = { SUCCESS: 0, BADF: 8, FAULT: 21, INVAL: 28, NOSYS: 52 } as const;
const MAX_LOG_LINE = 4096;
const MAX_IOVECS = 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/**
 * Stores `micros` × 1000 as a little-endian u64 at `at`, exactly, in two 32-bit halves: guests that
 * read the wall clock per event would otherwise cost two BigInts per call.
 */
function writeNanosFromMicros(view: DataView, at: number, micros: number): void {
  const TWO_32 = 4294967296;
  const microsHigh = Math.floor(micros / TWO_32);
  const lowNanos = (micros - microsHigh * TWO_32) * 1000; // < 2^42: exact
  const carry = Math.floor(lowNanos / TWO_32);
  view.setUint32(at, lowNanos - carry * TWO_32, true);
  view.setUint32(at + 4, microsHigh * 1000 + carry, true);
}

interface AsyncifyExports {
  asyncify_start_unwind(data: number): void;
  asyncify_stop_unwind(): void;
  asyncify_start_rewind(data: number): void;
  asyncify_stop_rewind(): void;
  asyncify_get_state(): number;
}

interface GuestExports extends Partial<AsyncifyExports> {
  memory?: WebAssembly.Memory;
  allocate(len: number): number;
  deallocate(ptr: number, len?: number): void;
  call(): unknown;
  _initialize?: () => void;
}

/** Options of a guest made ahead until bind(): nothing runs before that. */
const UNBOUND: GuestOptions = { env: [], maxRegionBytes: 0 };

/**
 * The memory an instance of the module gets when it imports one: its declared limits, the maximum
 * capped by the workflow's limit (plus asyncify's pages for a guest that suspends). Undefined when
 * the module defines its own memory.
 */
export function memoryShapeOf(info: ModuleInfo, report: AbiReport, memoryCapPages: number): { initial: number; maximum: number } | undefined {
  const limits = info.imports.find((entry) => entry.kind === 'memory')?.memory;
  if (!limits) return undefined;
  const maximum = Math.min(limits.max ?? 65536, memoryCapPages + (report.suspending.length > 0 ? ASYNCIFY_PAGES : 0));
  return { initial: limits.min, maximum: Math.max(limits.min, maximum) };
}

export class Guest {
  /** Undefined while a guest made ahead waits for bind(). */
  #host: GuestHost | undefined;
  #options: GuestOptions;
  readonly #report: AbiReport;
  readonly #exports: GuestExports;
  readonly #memory: WebAssembly.Memory;
  #bytes: Uint8Array;
  #view: DataView;
  /** The asyncify data structure: [current, end] then the saved stack (0: not asyncified). */
  #asyncifyData = 0;
  #asyncifyEnd = 0;
  #rewinding = false;
  /** Set by a suspending host call while the stack unwinds. */
  #suspension: GuestStep | undefined;
  #httpResult: Uint8Array | null = null;
  readonly #lineBuffers: [string, string] = ['', ''];
  #started = false;

  /**
   * Instantiates `module`. Its memory is `memory` when given (made ahead), else the pool's spare of
   * its shape (options.memories), else a new one. A guest made without a host (see ahead()) runs
   * nothing until bind() gives it one.
   */
  constructor(module: WebAssembly.Module, info: ModuleInfo, report: AbiReport, host: GuestHost | undefined, options: GuestOptions, memoryCapPages: number, memory?: WebAssembly.Memory) {
    this.#host = host;
    this.#options = options;
    this.#report = report;
    const imports: WebAssembly.Imports = { env: {}, [WASI_MODULE]: {} };
    let imported: WebAssembly.Memory | undefined;
    for (const entry of info.imports) {
      if (entry.kind === 'memory') {
        const shape = memoryShapeOf(info, report, memoryCapPages)!;
        imported = memory ?? options.memories?.take(shape.initial, shape.maximum, info.dataRanges) ?? new WebAssembly.Memory(shape);
        imports.env!.memory = imported;
        continue;
      }
      if (entry.kind !== 'function') continue;
      if (entry.module === 'env') imports.env![entry.name] = adaptToSignature(entry.type!, this.#hostFunction(entry.name));
      else imports[WASI_MODULE]![entry.name] = this.#wasiFunction(entry.name, entry.type!.results.length > 0);
    }
    const instance = new WebAssembly.Instance(module, imports);
    this.#exports = instance.exports as unknown as GuestExports;
    this.#memory = imported ?? this.#exports.memory!;
    this.#bytes = new Uint8Array(this.#memory.buffer);
    this.#view = new DataView(this.#memory.buffer);
  }

  /**
   * A guest instantiated ahead of need, on `memory` (made ahead too): everything of a start but
   * the host. No guest code has run (modules with a start function are never made ahead); bind()
   * makes it a workflow's.
   */
  static ahead(module: WebAssembly.Module, info: ModuleInfo, report: AbiReport, memoryCapPages: number, memory: WebAssembly.Memory | undefined): Guest {
    if (info.hasStartFunction) throw new Error('a module with a start function runs guest code when instantiated; it is not made ahead');
    return new Guest(module, info, report, undefined, UNBOUND, memoryCapPages, memory);
  }

  /** Gives a guest made ahead its host and options; once. */
  bind(host: GuestHost, options: GuestOptions): this {
    if (this.#host) throw new Error('a guest is bound once');
    this.#host = host;
    this.#options = options;
    return this;
  }

  /** Runs `_initialize` (if exported) and then `call()` until it returns, fails or suspends. */
  start(): GuestStep {
    if (this.#started) throw new Error('a guest starts once');
    if (!this.#host) throw new Error('a guest made ahead starts after bind()');
    this.#started = true;
    return this.#run(() => {
      this.#exports._initialize?.();
      if (this.#report.suspending.length > 0) this.#reserveAsyncifyData();
      this.#exports.call();
    });
  }

  /** Continues a suspended guest: the host call it waits in returns now (an event or 0). */
  resume(): GuestStep {
    const a = this.#exports as AsyncifyExports;
    this.#rewinding = true;
    return this.#run(() => {
      a.asyncify_start_rewind(this.#asyncifyData);
      this.#exports.call();
    });
  }

  /** Bytes of linear memory (grows with the guest). */
  get memoryBytes(): number {
    return this.#memory.buffer.byteLength;
  }

  #run(body: () => void): GuestStep {
    this.#suspension = undefined;
    try {
      body();
    } catch (error) {
      this.#flushLogs();
      if (error instanceof GuestExit) return { state: 'exited', code: error.code };
      const message = error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error);
      return { state: 'failed', error: message };
    }
    const suspension = this.#suspension;
    if (suspension) {
      (this.#exports as AsyncifyExports).asyncify_stop_unwind();
      this.#suspension = undefined;
      return suspension;
    }
    this.#flushLogs();
    return { state: 'finished' };
  }

  /**
   * Asyncify's saved stack goes in pages added past everything the guest's allocator owns: an
   * allocation first (so a lazily initialising allocator claims its heap), then memory.grow.
   */
  #reserveAsyncifyData(): void {
    const probe = this.#exports.allocate(1);
    if (probe) this.#deallocate(probe, 1);
    const before = this.#memory.grow(ASYNCIFY_PAGES);
    this.#asyncifyData = before * 65536;
    this.#asyncifyEnd = (before + ASYNCIFY_PAGES) * 65536;
    this.#refresh();
  }

  #suspend(step: GuestStep): void {
    this.#refresh();
    this.#view.setUint32(this.#asyncifyData, this.#asyncifyData + 8, true);
    this.#view.setUint32(this.#asyncifyData + 4, this.#asyncifyEnd, true);
    (this.#exports as AsyncifyExports).asyncify_start_unwind(this.#asyncifyData);
    this.#suspension = step;
  }

  /** True when this call is the rewind of a suspended one; asyncify is then back to normal. */
  #finishRewind(): boolean {
    if (!this.#rewinding) return false;
    this.#rewinding = false;
    (this.#exports as AsyncifyExports).asyncify_stop_rewind();
    return true;
  }

  #refresh(): void {
    if (this.#bytes.buffer !== this.#memory.buffer || this.#bytes.byteLength !== this.#memory.buffer.byteLength) {
      this.#bytes = new Uint8Array(this.#memory.buffer);
      this.#view = new DataView(this.#memory.buffer);
    }
  }

  #deallocate(ptr: number, length: number): void {
    if (this.#report.deallocateParams === 2) this.#exports.deallocate(ptr, length);
    else this.#exports.deallocate(ptr);
  }

  #readRegion(pointer: number, what: string): Uint8Array {
    this.#refresh();
    const size = this.#bytes.length;
    if (pointer === 0) throw new GuestArgumentError(`${what}: the Region pointer is 0`);
    if (pointer + 12 > size) throw new GuestArgumentError(`${what}: the Region at ${pointer} is outside memory (${size} bytes)`);
    const offset = this.#view.getUint32(pointer, true);
    const length = this.#view.getUint32(pointer + 8, true);
    if (length > this.#options.maxRegionBytes) throw new GuestArgumentError(`${what}: the Region holds ${length} bytes, more than the ${this.#options.maxRegionBytes} accepted`);
    if (offset + length > size) throw new GuestArgumentError(`${what}: the Region's bytes [${offset}, ${offset + length}) are outside memory (${size} bytes)`);
    return this.#bytes.slice(offset, offset + length);
  }

  #readText(pointer: number, what: string): string {
    const bytes = this.#readRegion(pointer, what);
    try {
      return utf8.decode(bytes);
    } catch {
      throw new GuestArgumentError(`${what}: not valid UTF-8`);
    }
  }

  /** Copies bytes into memory the guest allocates and returns a Region it owns (and frees). */
  #writeRegion(data: Uint8Array): number {
    return this.#writeRegionOf(data, 0, data.length);
  }

  /** #writeRegion of `data[start, end)`. */
  #writeRegionOf(data: Uint8Array, start: number, end: number): number {
    const length = end - start;
    const pointer = this.#exports.allocate(Math.max(1, length)) >>> 0;
    const region = this.#exports.allocate(12) >>> 0;
    this.#refresh();
    if (pointer === 0 || region === 0) throw new GuestArgumentError(`allocate returned 0 for ${length} bytes`);
    if (pointer + length > this.#bytes.length || region + 12 > this.#bytes.length) throw new GuestArgumentError('allocate returned memory outside the guest memory');
    copyBytes(this.#bytes, pointer, data, start, end);
    this.#view.setUint32(region, pointer, true);
    this.#view.setUint32(region + 4, length, true);
    this.#view.setUint32(region + 8, length, true);
    return region;
  }

  /** The host function `name`, as numbers in and out; argument errors give `failure` and a log line. */
  #hostFunction(name: string): (a?: number, b?: number, c?: number) => number {
    // The host is read at each call, not captured: a guest made ahead is bound to its host later.
    // Three parameters, the most any host function takes: a rest parameter would be an array per
    // call. A function declared with fewer gets undefined for the rest and does not read them.
    const guarded =
      (failure: number, body: (a?: number, b?: number, c?: number) => number) =>
      (a?: number, b?: number, c?: number): number => {
        try {
          return body(a, b, c);
        } catch (error) {
          if (!(error instanceof GuestArgumentError)) throw error;
          this.#host!.log(`${name}: ${error.message}`);
          return failure;
        }
      };
    const status = (failure: string | null): number => {
      if (failure === null) return 0;
      this.#host!.log(`${name}: ${failure}`);
      return 1;
    };
    switch (name) {
      case 'u_query_live':
        return guarded(0, (filter) => this.#host!.queryLive(this.#readText(filter!, 'filter')));
      case 'u_query_history':
        return guarded(0, (filter) => this.#host!.queryHistory(this.#readText(filter!, 'filter')));
      case 'u_poll_handle':
        return guarded(0, (handle) => {
          if (this.#finishRewind()) {
            const event = this.#host!.takeEvent(handle!);
            return event ? this.#writeRegionOf(event.bytes, event.start, event.end) : 0;
          }
          const event = this.#host!.takeEvent(handle!);
          if (event) return this.#writeRegionOf(event.bytes, event.start, event.end);
          if (event === undefined) this.#host!.log(`u_poll_handle: unknown handle ${handle}`);
          // Nothing pending (or a handle that will never have anything): wait off the stack
          // rather than let the guest spin; the worker resumes it on an event or after a while.
          if (this.#asyncifyData !== 0) this.#suspend({ state: 'polling', handle: handle! });
          return 0;
        });
      case 'u_free_handle':
        return guarded(1, (handle) => (this.#host!.freeHandle(handle!) ? 0 : status(`unknown handle ${handle}`)));
      case 'u_write_event':
        return guarded(1, (ts, value, tags) => status(this.#host!.writeEvent(this.#readText(ts!, 'timestamp'), this.#readText(value!, 'value'), this.#readText(tags!, 'tags'))));
      case 'u_writeback_ws':
        return guarded(1, (producer, data) => status(this.#host!.writebackWs(producer!, this.#readRegion(data!, 'data'))));
      case 'u_writeback_http':
        return guarded(0, (url, body, method) => {
          if (this.#finishRewind()) {
            const result = this.#httpResult;
            this.#httpResult = null;
            return result ? this.#writeRegion(result) : 0;
          }
          const target = this.#readText(url!, 'url');
          const payload = body === 0 ? new Uint8Array(0) : this.#readRegion(body!, 'body');
          if (method! > 3) throw new GuestArgumentError(`method ${method} is not one of 0 GET, 1 POST, 2 PUT, 3 DELETE`);
          const done = this.#host!.http(target, payload, method!).then(
            (response) => {
              this.#httpResult = response;
            },
            (error: unknown) => {
              this.#httpResult = null;
              this.#host!.log(`u_writeback_http: ${error instanceof Error ? error.message : String(error)}`);
            },
          );
          this.#suspend({ state: 'http', done });
          return 0;
        });
      case 'u_state_get':
        return guarded(0, (key) => {
          const value = this.#host!.stateGet(this.#readText(key!, 'key'));
          return value ? this.#writeRegion(value) : 0;
        });
      case 'u_state_set':
        return guarded(1, (key, value) => status(this.#host!.stateSet(this.#readText(key!, 'key'), this.#readRegion(value!, 'value'))));
      case 'u_state_delete':
        return guarded(1, (key) => status(this.#host!.stateDelete(this.#readText(key!, 'key'))));
      case 'u_log':
        return guarded(1, (message) => {
          this.#host!.log(this.#readText(message!, 'message').slice(0, MAX_LOG_LINE));
          return 0;
        });
      default:
        // checkWorkflowModule() refuses any other name before a guest is made.
        throw new Error(`no host function ${name} (known: ${[...Object.keys(SEED_FUNCTIONS), ...Object.keys(EXTENSION_FUNCTIONS)].join(', ')})`);
    }
  }

  #wasiFunction(name: string, returnsErrno: boolean): (...args: unknown[]) => unknown {
    if (!(name in WASI_FUNCTIONS)) return () => (returnsErrno ? ERRNO.NOSYS : undefined);
    const inBounds = (pointer: number, length: number) => pointer + length <= this.#bytes.length;
    switch (name) {
      case 'fd_write':
        return (fd, iovs, count, written) => {
          this.#refresh();
          if (fd !== 1 && fd !== 2) return ERRNO.BADF;
          const stream = fd === 1 ? 0 : 1;
          if ((count as number) > MAX_IOVECS || !inBounds(iovs as number, (count as number) * 8) || !inBounds(written as number, 4)) return ERRNO.FAULT;
          let total = 0;
          for (let i = 0; i < (count as number); i++) {
            const base = this.#view.getUint32((iovs as number) + i * 8, true);
            const length = this.#view.getUint32((iovs as number) + i * 8 + 4, true);
            if (!inBounds(base, length)) return ERRNO.FAULT;
            this.#appendOutput(stream, this.#bytes.subarray(base, base + length));
            total += length;
          }
          this.#view.setUint32(written as number, total, true);
          return ERRNO.SUCCESS;
        };
      case 'environ_sizes_get':
        return (countPointer, sizePointer) => {
          this.#refresh();
          if (!inBounds(countPointer as number, 4) || !inBounds(sizePointer as number, 4)) return ERRNO.FAULT;
          const entries = this.#environment();
          this.#view.setUint32(countPointer as number, entries.length, true);
          this.#view.setUint32(sizePointer as number, entries.reduce((n, e) => n + e.length, 0), true);
          return ERRNO.SUCCESS;
        };
      case 'environ_get':
        return (pointers, buffer) => {
          this.#refresh();
          const entries = this.#environment();
          const size = entries.reduce((n, e) => n + e.length, 0);
          if (!inBounds(pointers as number, entries.length * 4) || !inBounds(buffer as number, size)) return ERRNO.FAULT;
          let at = buffer as number;
          entries.forEach((entry, i) => {
            this.#view.setUint32((pointers as number) + i * 4, at, true);
            this.#bytes.set(entry, at);
            at += entry.length;
          });
          return ERRNO.SUCCESS;
        };
      case 'proc_exit':
        return (code) => {
          throw new GuestExit(code as number);
        };
      case 'clock_time_get':
        return (clock, _precision, out) => {
          this.#refresh();
          if (!inBounds(out as number, 8)) return ERRNO.FAULT;
          if (clock === 0) {
            writeNanosFromMicros(this.#view, out as number, Math.round((performance.timeOrigin + performance.now()) * 1000));
            return ERRNO.SUCCESS;
          }
          if (clock !== 1 && clock !== 2 && clock !== 3) return ERRNO.INVAL;
          this.#view.setBigUint64(out as number, process.hrtime.bigint(), true);
          return ERRNO.SUCCESS;
        };
      case 'random_get':
        return (buffer, length) => {
          this.#refresh();
          if (!inBounds(buffer as number, length as number)) return ERRNO.FAULT;
          randomFillSync(this.#bytes, buffer as number, length as number);
          return ERRNO.SUCCESS;
        };
      default:
        return () => ERRNO.NOSYS;
    }
  }

  #environmentCache: Uint8Array[] | undefined;
  #environment(): Uint8Array[] {
    return (this.#environmentCache ??= this.#options.env.map(([k, v]) => encoder.encode(`${k}=${v}\0`)));
  }

  /** stdout and stderr become log lines (a line at a time; a very long line is cut). */
  #appendOutput(stream: 0 | 1, bytes: Uint8Array): void {
    let text = this.#lineBuffers[stream] + new TextDecoder().decode(bytes);
    let newline = text.indexOf('\n');
    while (newline >= 0) {
      this.#host!.log(text.slice(0, Math.min(newline, MAX_LOG_LINE)));
      text = text.slice(newline + 1);
      newline = text.indexOf('\n');
    }
    if (text.length > MAX_LOG_LINE) {
      this.#host!.log(text.slice(0, MAX_LOG_LINE));
      text = '';
    }
    this.#lineBuffers[stream] = text;
  }

  #flushLogs(): void {
    for (const stream of [0, 1] as const) {
      if (this.#lineBuffers[stream]) this.#host!.log(this.#lineBuffers[stream]);
      this.#lineBuffers[stream] = '';
    }
  }
}
