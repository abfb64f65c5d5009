// The Wasm module reader and the ABI check: what modules declare, read from their bytes; bad bytes
// of every kind give SLUICE_WASM with an offset, never another error or a hang.
import fc from 'fast-check';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { guest, wat } from './helpers/guests.js';

const require = createRequire(import.meta.url);
const moduleInfo = require('../dist/lib/wasm/module-info.js') as typeof import('../dist/lib/wasm/module-info.js');
const abi = require('../dist/lib/wasm/abi.js') as typeof import('../dist/lib/wasm/abi.js');

describe('readModuleInfo', () => {
  it('reads import signatures, exports and memory limits as the module declares them', async () => {
    for (const variant of ['seed', 'i32'] as const) {
      const info = moduleInfo.readModuleInfo(await guest({ abi: variant, body: '' }));
      const live = info.imports.find((i) => i.name === 'u_query_live')!;
      const poll = info.imports.find((i) => i.name === 'u_poll_handle')!;
      const history = info.imports.find((i) => i.name === 'u_query_history')!;
      const H = variant === 'seed' ? 'i64' : 'i32';
      expect(live.type).toEqual({ params: ['i32'], results: [H] });
      expect(poll.type).toEqual({ params: [H], results: ['i32'] });
      expect(history.type).toEqual({ params: ['i32'], results: [variant === 'seed' ? 'f64' : 'i32'] });
      expect(info.memories).toEqual([{ min: 2, max: null, shared: false }]);
      expect(info.exports.map((e) => e.name).sort()).toEqual(['allocate', 'call', 'deallocate', 'memory']);
      const report = abi.checkWorkflowModule(info);
      expect(report.problems).toEqual([]);
      expect(report.suspending.sort()).toEqual(['u_poll_handle', 'u_writeback_http']);
    }
  });

  it('caps the memory maximum, keeping a smaller one, and refuses an initial size over the cap', async () => {
    const unbounded = await wat('(module (memory (export "memory") 2) (func (export "f")))');
    const capped = moduleInfo.capMemory(unbounded, 10);
    expect(moduleInfo.readModuleInfo(capped).memories).toEqual([{ min: 2, max: 10, shared: false }]);
    expect(WebAssembly.validate(capped)).toBe(true);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(capped));
    const memory = instance.exports.memory as WebAssembly.Memory;
    expect(memory.grow(8)).toBe(2);
    expect(() => memory.grow(1)).toThrow(RangeError);
    const small = await wat('(module (memory 1 3))');
    expect(moduleInfo.readModuleInfo(moduleInfo.capMemory(small, 10)).memories[0]!.max).toBe(3);
    const big = await wat('(module (memory 20))');
    expect(() => moduleInfo.capMemory(big, 10)).toThrow(/starts at 20 pages/);
  });

  it('names what is wrong with a module that does not follow the ABI', async () => {
    const info = moduleInfo.readModuleInfo(
      await wat(`(module
        (import "env" "u_poll_handle" (func (param i64 i64) (result i32)))
        (import "env" "u_write_event" (func (param i32 i32 i32)))
        (import "env" "table" (table 1 funcref))
        (memory 1)
        (func (export "allocate") (param i64) (result i32) (i32.const 0))
        (func (export "call") (param i32)))`),
    );
    const { problems } = abi.checkWorkflowModule(info);
    expect(problems).toEqual([
      'import env.u_poll_handle: declared (i64, i64) -> (i32), expected (i32|i64) -> i32|i64',
      'import env.table: a table import is not provided (only functions, and env.memory)',
      'export memory: missing (the host reads and writes Regions in it)',
      'export allocate: declared (i64) -> (i32), expected (i32) -> (i32)',
      'export deallocate: missing, expected (i32) or (i32, i32)',
      'export call: declared (i32) -> (), expected a function without parameters',
    ]);
  });

  it('throws SLUICE_WASM with an offset for any malformed input (fuzz)', async () => {
    const valid = await guest({ body: '(drop (call $poll (i64.const 1)))' });
    const check = (bytes: Uint8Array) => {
      try {
        moduleInfo.readModuleInfo(bytes);
        moduleInfo.importOwnMemory(bytes);
      } catch (error) {
        const e = error as { code?: string; offset?: number };
        if (e.code !== 'SLUICE_WASM' && e.code !== 'SLUICE_TOO_LARGE') throw error;
        if (e.code === 'SLUICE_WASM') expect(typeof e.offset).toBe('number');
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => check(Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, ...bytes]))),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.nat(valid.length), (edits, cut) => {
        const bytes = Uint8Array.from(valid);
        for (const [at, value] of edits) bytes[at] = value;
        check(bytes.subarray(0, Math.max(8, cut)));
      }),
      { numRuns: 3000 },
    );
    expect(() => moduleInfo.readModuleInfo(new Uint8Array([1, 2, 3]))).toThrow(/\\0asm header/);
  });
});

describe('importOwnMemory and data ranges', () => {
  const segmentsWat = (segments: Array<[number, number[]]>) =>
    segments.map(([offset, bytes]) => `(data (i32.const ${offset}) "${bytes.map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('')}")`).join(' ');

  it('gives the same memory contents, limits and exports as the module that defined its memory (property)', async () => {
    const modules = fc.record({
      min: fc.integer({ min: 1, max: 4 }),
      extra: fc.option(fc.integer({ min: 0, max: 6 }), { nil: null }),
      withImport: fc.boolean(),
      withTypes: fc.boolean(),
      segments: fc.array(fc.tuple(fc.nat(65536 - 64), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 40 })), { maxLength: 6 }),
    });
    const cases = fc.sample(modules, { numRuns: 60, seed: 6 });
    for (const c of cases) {
      const max = c.extra === null ? '' : String(c.min + c.extra);
      const source = `(module
        ${c.withImport ? '(import "env" "u_log" (func $log (param i32 i32) (result i32)))' : ''}
        (memory (export "memory") ${c.min} ${max})
        ${c.withTypes ? '(func (export "call") (result i32) (i32.load (i32.const 0)))' : ''}
        ${segmentsWat(c.segments)})`;
      const original = await wat(source);
      const rewritten = moduleInfo.importOwnMemory(original);
      expect(WebAssembly.validate(rewritten)).toBe(true);
      const info = moduleInfo.readModuleInfo(rewritten);
      const limits = { min: c.min, max: c.extra === null ? null : c.min + c.extra, shared: false };
      expect(info.memories).toEqual([]);
      expect(info.imports.filter((i) => i.kind === 'memory')).toEqual([{ module: 'env', name: 'memory', kind: 'memory', memory: limits }]);
      expect(info.exports).toEqual(moduleInfo.readModuleInfo(original).exports);
      // Data ranges: the segments' bytes, sorted and merged.
      const covered = new Set<number>();
      for (const [offset, bytes] of c.segments) for (let i = 0; i < bytes.length; i++) covered.add(offset + i);
      const fromRanges = new Set<number>();
      for (const [start, end] of info.dataRanges) for (let i = start; i < end; i++) fromRanges.add(i);
      expect(fromRanges).toEqual(covered);
      for (let i = 1; i < info.dataRanges.length; i++) expect(info.dataRanges[i]![0]).toBeGreaterThan(info.dataRanges[i - 1]![1]);
      // Instantiated with a memory of those limits, it holds what the original holds.
      const imports = { env: { u_log: () => 0 } };
      const before = new WebAssembly.Instance(new WebAssembly.Module(original), imports).exports.memory as WebAssembly.Memory;
      const memory = new WebAssembly.Memory({ initial: c.min, ...(limits.max === null ? {} : { maximum: limits.max }) });
      const after = new WebAssembly.Instance(new WebAssembly.Module(rewritten), { env: { ...imports.env, memory } });
      expect(after.exports.memory).toBe(memory);
      expect(Buffer.from(memory.buffer).equals(Buffer.from(before.buffer))).toBe(true);
    }
  });

  it('leaves modules that import a memory, or define none or two, as they are', async () => {
    const imported = await wat('(module (import "env" "memory" (memory 1)) (data (i32.const 8) "x"))');
    expect(moduleInfo.importOwnMemory(imported)).toBe(imported);
    const none = await wat('(module (func (export "f")))');
    expect(moduleInfo.importOwnMemory(none)).toBe(none);
  });

  it('lists only active segments of memory 0 placed by a constant', async () => {
    const info = moduleInfo.readModuleInfo(
      await wat(`(module (import "env" "base" (global $base i32)) (memory 1)
        (data (i32.const 100) "abc") (data (i32.const 103) "de") (data (global.get $base) "zz") (data $passive "pp")
        (data (i32.const 5000) "f"))`),
    );
    expect(info.dataRanges).toEqual([
      [100, 105],
      [5000, 5001],
    ]);
  });

  it('every prepared module imports its memory; the ABI still accepts it', async () => {
    const prepare = require('../dist/lib/wasm/prepare.js') as typeof import('../dist/lib/wasm/prepare.js');
    for (const variant of ['seed', 'i32'] as const) {
      const prepared = await prepare.prepareModule(await guest({ abi: variant, body: '' }), { memoryPages: 16 });
      const info = moduleInfo.readModuleInfo(prepared.bytes);
      expect(info.memories).toEqual([]);
      expect(info.imports.find((i) => i.kind === 'memory')?.memory).toEqual({ min: 2, max: 16 + prepare.ASYNCIFY_PAGES, shared: false });
      expect(abi.checkWorkflowModule(info).problems).toEqual([]);
    }
  });
});
