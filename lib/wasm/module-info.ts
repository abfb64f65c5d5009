// What a Wasm module declares, read from its bytes: the function type of every import (Node's
// WebAssembly.Module.imports() gives names only), the exports, the memory limits and where its
// data segments land. Used at deploy to check a module against the ABI and to adapt host functions
// to its signatures, to cap its memory, and to have it import its memory (so a worker can hand it
// one made ahead of time). Every count and length is bounded; malformed input throws SLUICE_WASM
// with the byte offset, never anything else.
import { SluiceError } from '../errors.js';

export type ValueType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref';
export type ExternalKind = 'function' | 'table' | 'memory' | 'global' | 'tag';

export interface FunctionType {
  params: ValueType[];
  results: ValueType[];
}

export interface MemoryLimits {
  /** In 64 KiB pages. */
  min: number;
  max: number | null;
  shared: boolean;
}

export interface ImportInfo {
  module: string;
  name: string;
  kind: ExternalKind;
  /** For functions. */
  type?: FunctionType;
  /** For memories. */
  memory?: MemoryLimits;
}

export interface ExportInfo {
  name: string;
  kind: ExternalKind;
  index: number;
}

export interface ModuleInfo {
  imports: ImportInfo[];
  exports: ExportInfo[];
  /** Memories the module defines itself (not imported). */
  memories: MemoryLimits[];
  /** Function types of the module's own functions, in function index order after the imports. */
  functionTypes: FunctionType[];
  /**
   * Byte ranges [start, end) of memory 0 that active data segments with constant offsets write at
   * instantiation, sorted and merged. Segments placed by a global are not listed.
   */
  dataRanges: Array<[number, number]>;
  /** A start function runs guest code during instantiation, so such a module is never made ahead. */
  hasStartFunction: boolean;
}

/** The seed caps modules at 64 MiB; so do we. */
export const MAX_MODULE_BYTES = 64 * 2 ** 20;
const MAX_ITEMS = 1_000_000;
const MAX_NAME_BYTES = 64 * 1024;
const MAX_PARAMS = 1000;
const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];
const PAGES_LIMIT_32 = 65536;

const VALUE_TYPES: Record<number, ValueType> = {
  0x7f: 'i32',
  0x7e: 'i64',
  0x7d: 'f32',
  0x7c: 'f64',
  0x7b: 'v128',
  0x70: 'funcref',
  0x6f: 'externref',
};
const KINDS: ExternalKind[] = ['function', 'table', 'memory', 'global', 'tag'];

function malformed(offset: number, what: string): SluiceError {
  const error = new SluiceError('SLUICE_WASM', `not a valid Wasm module: ${what} at byte ${offset}`);
  error.offset = offset;
  return error;
}

/** A cursor over the module's bytes that refuses to read past `end`. */
class Reader {
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {}

  byte(): number {
    if (this.pos >= this.end) throw malformed(this.pos, 'unexpected end');
    return this.bytes[this.pos++]!;
  }

  /** Signed LEB128 of at most 32 bits (an i32.const's operand). */
  s32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const start = this.pos;
      const b = this.byte();
      // The fifth byte carries the last 4 bits; its other bits must repeat the sign.
      if (shift === 28 && ((b & 0x80) !== 0 || ((b >> 3) & 0x0f) % 0x0f !== 0)) throw malformed(start, 'signed LEB128 integer too large');
      result += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) return b & 0x40 ? result - 2 ** shift : result;
    }
  }

  /** Unsigned LEB128 of at most 32 bits. */
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const start = this.pos;
      const b = this.byte();
      if (shift === 28 && (b & 0x70) !== 0) throw malformed(start, 'LEB128 integer too large');
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 28) throw malformed(start, 'LEB128 integer too long');
    }
  }

  count(what: string): number {
    const start = this.pos;
    const n = this.u32();
    if (n > MAX_ITEMS) throw malformed(start, `${what} count ${n} is over ${MAX_ITEMS}`);
    return n;
  }

  name(): string {
    const start = this.pos;
    const length = this.u32();
    if (length > MAX_NAME_BYTES) throw malformed(start, `name of ${length} bytes (at most ${MAX_NAME_BYTES})`);
    if (this.pos + length > this.end) throw malformed(start, 'name runs past its section');
    const slice = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(slice);
    } catch {
      throw malformed(start, 'name is not UTF-8');
    }
  }

  valueType(): ValueType {
    const start = this.pos;
    const code = this.byte();
    const type = VALUE_TYPES[code];
    if (!type) throw malformed(start, `unknown value type 0x${code.toString(16)}`);
    return type;
  }

  limits(): MemoryLimits {
    const start = this.pos;
    const flags = this.byte();
    if (flags > 3) throw malformed(start, `memory limits flags 0x${flags.toString(16)} (64-bit memories are not supported)`);
    const min = this.u32();
    const max = flags & 1 ? this.u32() : null;
    if (min > PAGES_LIMIT_32 || (max !== null && (max > PAGES_LIMIT_32 || max < min))) throw malformed(start, 'memory limits out of range');
    return { min, max, shared: (flags & 2) !== 0 };
  }

  skipTableType(): void {
    this.valueType();
    const flags = this.byte();
    this.u32();
    if (flags & 1) this.u32();
  }
}

interface Section {
  id: number;
  /** Offset of the id byte. */
  start: number;
  contentStart: number;
  end: number;
}

function sectionsOf(bytes: Uint8Array): Section[] {
  if (!(bytes instanceof Uint8Array)) throw new SluiceError('SLUICE_INVALID_ARGUMENT', 'a Wasm module must be a Uint8Array or a Buffer');
  if (bytes.length > MAX_MODULE_BYTES) {
    throw new SluiceError('SLUICE_TOO_LARGE', `the Wasm module is ${bytes.length} bytes; at most ${MAX_MODULE_BYTES} (64 MiB) are accepted`);
  }
  if (bytes.length < 8 || WASM_MAGIC.some((b, i) => bytes[i] !== b)) throw malformed(0, 'missing the \\0asm header');
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) throw malformed(4, 'unsupported version (only 1)');
  const reader = new Reader(bytes, 8, bytes.length);
  const sections: Section[] = [];
  while (reader.pos < bytes.length) {
    const start = reader.pos;
    const id = reader.byte();
    const size = reader.u32();
    const contentStart = reader.pos;
    if (contentStart + size > bytes.length) throw malformed(start, `section ${id} of ${size} bytes runs past the end`);
    sections.push({ id, start, contentStart, end: contentStart + size });
    reader.pos = contentStart + size;
  }
  return sections;
}

/** Reads the declarations of a Wasm module (see ModuleInfo). */
export function readModuleInfo(bytes: Uint8Array): ModuleInfo {
  const types: FunctionType[] = [];
  const imports: ImportInfo[] = [];
  const exports: ExportInfo[] = [];
  const memories: MemoryLimits[] = [];
  const functionTypes: FunctionType[] = [];
  const dataRanges: Array<[number, number]> = [];
  let hasStartFunction = false;
  for (const section of sectionsOf(bytes)) {
    const reader = new Reader(bytes, section.contentStart, section.end);
    switch (section.id) {
      case 1: {
        for (let n = reader.count('type'); n > 0; n--) {
          const at = reader.pos;
          const form = reader.byte();
          if (form !== 0x60) throw malformed(at, `type form 0x${form.toString(16)} (only function types are supported)`);
          const params: ValueType[] = [];
          for (let p = reader.count('parameter'); p > 0; p--) {
            if (params.length >= MAX_PARAMS) throw malformed(reader.pos, `more than ${MAX_PARAMS} parameters`);
            params.push(reader.valueType());
          }
          const results: ValueType[] = [];
          for (let r = reader.count('result'); r > 0; r--) {
            if (results.length >= MAX_PARAMS) throw malformed(reader.pos, `more than ${MAX_PARAMS} results`);
            results.push(reader.valueType());
          }
          types.push({ params, results });
        }
        break;
      }
      case 2: {
        for (let n = reader.count('import'); n > 0; n--) {
          const module = reader.name();
          const name = reader.name();
          const at = reader.pos;
          const kind = KINDS[reader.byte()];
          if (!kind) throw malformed(at, 'unknown import kind');
          const entry: ImportInfo = { module, name, kind };
          if (kind === 'function') {
            const typeAt = reader.pos;
            const type = types[reader.u32()];
            if (!type) throw malformed(typeAt, `import ${module}.${name} names a type that does not exist`);
            entry.type = type;
          } else if (kind === 'memory') {
            entry.memory = reader.limits();
          } else if (kind === 'table') {
            reader.skipTableType();
          } else if (kind === 'global') {
            reader.valueType();
            reader.byte();
          } else {
            reader.byte();
            reader.u32();
          }
          imports.push(entry);
        }
        break;
      }
      case 3: {
        for (let n = reader.count('function'); n > 0; n--) {
          const at = reader.pos;
          const type = types[reader.u32()];
          if (!type) throw malformed(at, 'a function names a type that does not exist');
          functionTypes.push(type);
        }
        break;
      }
      case 5: {
        for (let n = reader.count('memory'); n > 0; n--) memories.push(reader.limits());
        break;
      }
      case 7: {
        for (let n = reader.count('export'); n > 0; n--) {
          const name = reader.name();
          const at = reader.pos;
          const kind = KINDS[reader.byte()];
          if (!kind) throw malformed(at, 'unknown export kind');
          exports.push({ name, kind, index: reader.u32() });
        }
        break;
      }
      case 8: {
        hasStartFunction = true;
        break;
      }
      case 11: {
        for (let n = reader.count('data segment'); n > 0; n--) {
          const at = reader.pos;
          const flags = reader.u32();
          if (flags > 2) throw malformed(at, `data segment flags ${flags} (0, 1 or 2)`);
          let offset: number | undefined;
          if (flags !== 1) {
            const memoryIndex = flags === 2 ? reader.u32() : 0;
            offset = constantOffset(reader);
            if (memoryIndex !== 0) offset = undefined;
          }
          const lengthAt = reader.pos;
          const length = reader.u32();
          if (reader.pos + length > reader.end) throw malformed(lengthAt, `data segment of ${length} bytes runs past its section`);
          reader.pos += length;
          if (offset !== undefined && length > 0) dataRanges.push([offset, offset + length]);
        }
        break;
      }
      default:
        break;
    }
  }
  return { imports, exports, memories, functionTypes, dataRanges: mergeRanges(dataRanges), hasStartFunction };
}

/**
 * A data segment's offset expression: its address when it is one i32.const, undefined when it
 * reads a global (or computes from one).
 */
function constantOffset(reader: Reader): number | undefined {
  let constant: number | undefined;
  let instructions = 0;
  for (;;) {
    const at = reader.pos;
    const opcode = reader.byte();
    if (opcode === 0x0b) return instructions === 1 ? constant : undefined;
    if (++instructions > 64) throw malformed(at, 'offset expression of more than 64 instructions');
    if (opcode === 0x41) constant = reader.s32() >>> 0;
    else if (opcode === 0x23) reader.u32(); // global.get
    // Otherwise only i32.add, i32.sub and i32.mul (extended constant expressions) may appear.
    else if (opcode < 0x6a || opcode > 0x6c) throw malformed(at, `opcode 0x${opcode.toString(16)} in an offset expression`);
  }
}

function mergeRanges(ranges: Array<[number, number]>): Array<[number, number]> {
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const [start, end] of ranges) {
    const last = merged[merged.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

function leb(value: number): number[] {
  const out: number[] = [];
  do {
    let b = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) b |= 0x80;
    out.push(b);
  } while (value !== 0);
  return out;
}

/**
 * The module with the maximum of its own memory lowered to `maxPages` (set when it had none), so
 * that `memory.grow` past the cap fails inside the guest instead of taking the host's memory.
 * Throws SLUICE_LIMIT when the module's initial memory is already over the cap.
 */
export function capMemory(bytes: Uint8Array, maxPages: number): Uint8Array {
  if (!Number.isInteger(maxPages) || maxPages < 1 || maxPages > PAGES_LIMIT_32) {
    throw new SluiceError('SLUICE_INVALID_ARGUMENT', `maxPages must be an integer in 1..${PAGES_LIMIT_32}, got ${String(maxPages)}`);
  }
  const section = sectionsOf(bytes).find((s) => s.id === 5);
  if (!section) return bytes;
  const reader = new Reader(bytes, section.contentStart, section.end);
  const content: number[] = [];
  const n = reader.count('memory');
  content.push(...leb(n));
  for (let i = 0; i < n; i++) {
    const limits = reader.limits();
    if (limits.min > maxPages) {
      throw new SluiceError('SLUICE_LIMIT', `the module's memory starts at ${limits.min} pages (${limits.min * 64} KiB), over the cap of ${maxPages} pages (${maxPages * 64} KiB)`);
    }
    const max = limits.max === null ? maxPages : Math.min(limits.max, maxPages);
    content.push(1 | (limits.shared ? 2 : 0), ...leb(limits.min), ...leb(max));
  }
  if (reader.pos !== section.end) throw malformed(reader.pos, 'trailing bytes in the memory section');
  const head = [5, ...leb(content.length)];
  const out = new Uint8Array(section.start + head.length + content.length + (bytes.length - section.end));
  out.set(bytes.subarray(0, section.start), 0);
  out.set(head, section.start);
  out.set(content, section.start + head.length);
  out.set(bytes.subarray(section.end), section.start + head.length + content.length);
  return out;
}

const ENV = [3, 0x65, 0x6e, 0x76]; // "env"
const MEMORY = [6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79]; // "memory"

/**
 * The module with the memory it defines turned into an import of env.memory with the same limits
 * (an exported memory stays exported): the host can then give it a memory made before the
 * instance is needed. Modules that import a memory already, or define none or several, are
 * returned as they are.
 */
export function importOwnMemory(bytes: Uint8Array): Uint8Array {
  const sections = sectionsOf(bytes);
  const memorySection = sections.find((s) => s.id === 5);
  if (!memorySection) return bytes;
  const memoryReader = new Reader(bytes, memorySection.contentStart, memorySection.end);
  if (memoryReader.count('memory') !== 1) return bytes;
  const limits = memoryReader.limits();
  if (memoryReader.pos !== memorySection.end) throw malformed(memoryReader.pos, 'trailing bytes in the memory section');
  if (readModuleInfo(bytes).imports.some((i) => i.kind === 'memory')) return bytes;
  const entry = [...ENV, ...MEMORY, 2, (limits.max === null ? 0 : 1) | (limits.shared ? 2 : 0), ...leb(limits.min), ...(limits.max === null ? [] : leb(limits.max))];
  const importSection = sections.find((s) => s.id === 2);
  let imports: number[];
  if (importSection) {
    const reader = new Reader(bytes, importSection.contentStart, importSection.end);
    const count = reader.count('import');
    imports = [...leb(count + 1), ...bytes.subarray(reader.pos, importSection.end), ...entry];
  } else {
    imports = [1, ...entry];
  }
  const importBytes = [2, ...leb(imports.length), ...imports];
  // The import section goes where it was, or else after the type section (sections keep their order).
  const typeSection = sections.find((s) => s.id === 1);
  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  if (!importSection && !typeSection) parts.push(Uint8Array.from(importBytes));
  for (const section of sections) {
    if (section.id === 5) continue;
    if (section === importSection) parts.push(Uint8Array.from(importBytes));
    else parts.push(bytes.subarray(section.start, section.end));
    if (!importSection && section === typeSection) parts.push(Uint8Array.from(importBytes));
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
