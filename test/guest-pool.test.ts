// The worker's pool of guests made ahead: one per module lately started, instantiated while idle on
// a memory made ahead, unbound until a start takes it; never for a module with a start function.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { guest } from './helpers/guests.js';

const require = createRequire(import.meta.url);
const { GuestPool } = require('../dist/lib/wasm/guest-pool.js') as typeof import('../dist/lib/wasm/guest-pool.js');
const { MemoryPool } = require('../dist/lib/wasm/memory-pool.js') as typeof import('../dist/lib/wasm/memory-pool.js');
const { Guest, memoryShapeOf } = require('../dist/lib/wasm/guest.js') as typeof import('../dist/lib/wasm/guest.js');
const { prepareModule } = require('../dist/lib/wasm/prepare.js') as typeof import('../dist/lib/wasm/prepare.js');
const { readModuleInfo } = require('../dist/lib/wasm/module-info.js') as typeof import('../dist/lib/wasm/module-info.js');

type Host = ConstructorParameters<typeof Guest>[3] & object;

/** A host that records the values the guest writes; every other host function does nothing. */
function recordingHost(into: string[]): Host {
  return new Proxy(
    {
      writeEvent: (_timestamp: string, value: string) => {
        into.push(value);
        return null;
      },
    },
    { get: (target, name) => (target as Record<string | symbol, unknown>)[name] ?? (() => null) },
  ) as unknown as Host;
}

/**
 * Reports the byte at 8192 (past its data), then marks it and traps: a guest that saw an earlier
 * guest's memory reports that mark.
 */
async function markingRecipe(functions = '') {
  const prepared = await prepareModule(
    await guest({
      without: ['u_poll_handle', 'u_writeback_http'],
      functions,
      body: `
        (call $report (i32.const 1) (i64.extend_i32_u (i32.load8_u (i32.const 8192))))
        (i32.store8 (i32.const 8192) (i32.const 0x5a))
        unreachable`,
    }),
    { memoryPages: 16 },
  );
  return { module: new WebAssembly.Module(prepared.bytes), info: readModuleInfo(prepared.bytes), report: prepared.report, memoryPages: 16 };
}

function refillSteps(pool: InstanceType<typeof GuestPool>): number {
  let steps = 0;
  while (pool.refill()) steps++;
  return steps;
}

const options = { env: [], maxRegionBytes: 1 << 20 };

describe('GuestPool', () => {
  it('instantiates the next guest of a module while idle; a start binds it and runs it on a fresh memory', async () => {
    const recipe = await markingRecipe();
    const memories = new MemoryPool();
    const pool = new GuestPool(memories);
    expect(pool.refill()).toBe(false); // nothing started yet
    const reported: string[] = [];
    const first = pool.take('marking', recipe);
    expect(first).toBeUndefined();
    expect(new Guest(recipe.module, recipe.info, recipe.report, recordingHost(reported), { ...options, memories }, 16).start().state).toBe('failed');
    for (let run = 0; run < 3; run++) {
      // The memory is made and its data pages written, then the guest instantiated on it.
      expect(refillSteps(pool)).toBeGreaterThanOrEqual(2);
      const ahead = pool.take('marking', recipe)!;
      expect(ahead).toBeInstanceOf(Guest);
      expect(() => ahead.start()).toThrow(/starts after bind/);
      expect(ahead.bind(recordingHost(reported), options).start().state).toBe('failed');
      expect(() => ahead.bind(recordingHost(reported), options)).toThrow(/bound once/);
    }
    // Each guest saw a zero where the one before had left its mark.
    expect(reported).toEqual(['0', '0', '0', '0']);
    expect(pool.stats).toEqual({ taken: 3, made: 1, modules: 1 });
  });

  it('holds one spare per module: the memory pool keeps none of its own for a guest made ahead', async () => {
    const recipe = await markingRecipe();
    const memories = new MemoryPool();
    const pool = new GuestPool(memories);
    pool.take('marking', recipe);
    new Guest(recipe.module, recipe.info, recipe.report, recordingHost([]), { ...options, memories }, 16);
    refillSteps(pool);
    const shape = memoryShapeOf(recipe.info, recipe.report, 16)!;
    expect(memories.takeReady(shape.initial, shape.maximum, recipe.info.dataRanges)).toBeUndefined();
    expect(pool.take('marking', recipe)).toBeInstanceOf(Guest);
  });

  it('never makes ahead a module with a start function (it would run guest code at instantiation)', async () => {
    const recipe = await markingRecipe('(func $init (global.set $heap (i32.const 65536))) (start $init)');
    expect(recipe.info.hasStartFunction).toBe(true);
    const pool = new GuestPool(new MemoryPool());
    expect(pool.take('starts', recipe)).toBeUndefined();
    expect(pool.refill()).toBe(false);
    expect(pool.take('starts', recipe)).toBeUndefined();
    expect(pool.stats).toEqual({ taken: 0, made: 2, modules: 0 });
    expect(() => Guest.ahead(recipe.module, recipe.info, recipe.report, 16, undefined)).toThrow(/start function/);
  });

  it('forgets a module whose workflows were stopped: its spare is dropped and not made again', async () => {
    const recipe = await markingRecipe();
    const pool = new GuestPool(new MemoryPool());
    pool.take('stopped', recipe);
    refillSteps(pool);
    pool.forget('stopped');
    expect(pool.stats.modules).toBe(0);
    expect(pool.refill()).toBe(false);
    expect(pool.take('stopped', recipe)).toBeUndefined();
  });

  it('keeps 16 modules, dropping the least recently started', async () => {
    const recipe = await markingRecipe();
    const pool = new GuestPool(new MemoryPool());
    for (let key = 1; key <= 17; key++) pool.take(`m${key}`, recipe);
    expect(pool.stats.modules).toBe(16);
    refillSteps(pool);
    expect(pool.take('m1', recipe)).toBeUndefined(); // dropped: no spare
    expect(pool.take('m17', recipe)).toBeInstanceOf(Guest);
  });
});
