// The worker's pool of guest memories made ahead: a spare per shape, made in bounded steps while
// idle, each memory handed to one instance only, fresh (zero but for the instance's own data).
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { guest } from './helpers/guests.js';

const require = createRequire(import.meta.url);
const { MemoryPool } = require('../dist/lib/wasm/memory-pool.js') as typeof import('../dist/lib/wasm/memory-pool.js');
const { Guest } = require('../dist/lib/wasm/guest.js') as typeof import('../dist/lib/wasm/guest.js');
const { prepareModule } = require('../dist/lib/wasm/prepare.js') as typeof import('../dist/lib/wasm/prepare.js');
const { readModuleInfo } = require('../dist/lib/wasm/module-info.js') as typeof import('../dist/lib/wasm/module-info.js');

const KiB = 1024;

function refillSteps(pool: InstanceType<typeof MemoryPool>): number {
  let steps = 0;
  while (pool.refill()) steps++;
  return steps;
}

describe('MemoryPool', () => {
  it('makes a spare after a take, in steps of at most 16 written pages, and hands it to the next take', () => {
    const pool = new MemoryPool();
    const ranges: Array<[number, number]> = [[1000, 1000 + 40 * 4 * KiB]]; // 41 pages of 4 KiB
    expect(pool.refill()).toBe(false); // nothing taken yet: nothing to make
    const first = pool.take(3, 10, ranges);
    expect(pool.stats).toEqual({ taken: 0, made: 1, shapes: 1 });
    expect(refillSteps(pool)).toBe(1 + Math.ceil(41 / 16)); // make, then three steps of writes
    const second = pool.take(3, 10, ranges);
    expect(pool.stats).toEqual({ taken: 1, made: 1, shapes: 1 });
    expect(second).not.toBe(first);
    expect(second.buffer.byteLength).toBe(3 * 65536);
    expect(new Uint8Array(second.buffer).every((b) => b === 0)).toBe(true);
    expect(() => second.grow(8)).toThrow(RangeError); // its maximum is the shape's
    expect(second.grow(7)).toBe(3);
    // A memory goes to one instance only: the next take without a refill gets a new one.
    const third = pool.take(3, 10, ranges);
    expect(third).not.toBe(second);
    expect(pool.stats.made).toBe(2);
  });

  it('keeps 16 shapes, dropping the least recently used', () => {
    const pool = new MemoryPool();
    for (let shape = 1; shape <= 17; shape++) pool.take(1, shape, []);
    expect(pool.stats.shapes).toBe(16);
    refillSteps(pool);
    pool.take(1, 1, []); // the first shape was dropped: no spare for it
    expect(pool.stats.taken).toBe(0);
    pool.take(1, 17, []);
    expect(pool.stats.taken).toBe(1);
  });

  it('gives each guest a memory of zeros past its data, never what an earlier guest wrote there', async () => {
    // The guest reports how many bytes past its data (8 KiB up to the end of its 2 pages) are not
    // zero, then writes its mark over all of them and traps.
    const prepared = await prepareModule(
      await guest({
        without: ['u_poll_handle', 'u_writeback_http'],
        locals: '(local $at i32) (local $dirty i64)',
        body: `
          (local.set $at (i32.const 8192))
          (loop $count
            (if (i32.load8_u (local.get $at)) (then (local.set $dirty (i64.add (local.get $dirty) (i64.const 1)))))
            (local.set $at (i32.add (local.get $at) (i32.const 1)))
            (br_if $count (i32.lt_u (local.get $at) (i32.const 131072))))
          (call $report (i32.const 1) (local.get $dirty))
          (local.set $at (i32.const 8192))
          (loop $fill
            (i32.store8 (local.get $at) (i32.const 0x5a))
            (local.set $at (i32.add (local.get $at) (i32.const 1)))
            (br_if $fill (i32.lt_u (local.get $at) (i32.const 131072))))
          unreachable`,
      }),
      { memoryPages: 16 },
    );
    const module = new WebAssembly.Module(prepared.bytes);
    const info = readModuleInfo(prepared.bytes);
    const pool = new MemoryPool();
    const reported: string[] = [];
    const host = new Proxy(
      {
        writeEvent: (_timestamp: string, value: string) => {
          reported.push(value);
          return null;
        },
      },
      { get: (target, name) => (target as Record<string | symbol, unknown>)[name] ?? (() => null) },
    ) as unknown as ConstructorParameters<typeof Guest>[3];
    const options = { env: [], maxRegionBytes: 1 << 20, memories: pool };
    for (let run = 0; run < 4; run++) {
      refillSteps(pool);
      const step = new Guest(module, info, prepared.report, host, options, 16).start();
      expect(step.state).toBe('failed');
    }
    expect(reported).toEqual(['0', '0', '0', '0']);
    expect(pool.stats).toEqual({ taken: 3, made: 1, shapes: 1 });
  });
});
