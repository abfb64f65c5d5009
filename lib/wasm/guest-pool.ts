// Guests made before the starts that need them. After a garbage collection, or after the worker
// slept, instantiation runs with cold caches and on heap pages the kernel must give again, and
// took several times as long as in a warm loop (docs/benchmarks.md). So for each module it started
// lately, a worker keeps one guest instantiated while it had nothing else to do, on a memory made
// ahead (lib/wasm/memory-pool.ts), and a start takes it and binds it to its workflow.
// A guest made ahead has run no guest code (modules with a start function are never made ahead),
// serves one start only, and its host functions reach nothing until it is bound.
import type { AbiReport } from './abi.js';
import { Guest, memoryShapeOf } from './guest.js';
import type { MemoryPool } from './memory-pool.js';
import type { ModuleInfo } from './module-info.js';

/** Modules remembered; the least recently started one (and its spare) goes first. */
const MAX_MODULES = 16;

/** What a guest is made from. */
export interface GuestRecipe {
  module: WebAssembly.Module;
  info: ModuleInfo;
  report: AbiReport;
  memoryPages: number;
}

interface Entry {
  recipe: GuestRecipe;
  ready: Guest | undefined;
}

export interface GuestPoolStats {
  /** Starts that took a guest made ahead. */
  taken: number;
  /** Starts that instantiated their guest (none was ready, or the module cannot be made ahead). */
  made: number;
  modules: number;
}

export class GuestPool {
  readonly #memories: MemoryPool;
  readonly #entries = new Map<string, Entry>();
  #taken = 0;
  #made = 0;

  constructor(memories: MemoryPool) {
    this.#memories = memories;
  }

  /**
   * The guest made ahead for `key` (one compiled module with one memory cap), unbound, if one is
   * ready; else undefined, and the caller instantiates. Either way the pool makes the next one of
   * `recipe` in refill().
   */
  take(key: string, recipe: GuestRecipe): Guest | undefined {
    if (recipe.info.hasStartFunction) {
      this.#made++;
      return undefined;
    }
    let entry = this.#entries.get(key);
    if (entry) {
      this.#entries.delete(key); // re-inserted: most recently used last
      entry.recipe = recipe;
    } else {
      entry = { recipe, ready: undefined };
      if (this.#entries.size >= MAX_MODULES) this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(key, entry);
    const ready = entry.ready;
    entry.ready = undefined;
    if (ready) this.#taken++;
    else this.#made++;
    return ready;
  }

  /**
   * One bounded step: instantiates one guest whose memory is ready, or else takes one step of the
   * memory pool's. Returns false when there was nothing to do. Called when the worker is idle.
   */
  refill(): boolean {
    for (const [key, entry] of this.#entries) {
      if (entry.ready) continue;
      const { module, info, report, memoryPages } = entry.recipe;
      const shape = memoryShapeOf(info, report, memoryPages);
      const memory = shape && this.#memories.takeReady(shape.initial, shape.maximum, info.dataRanges);
      if (shape && !memory) continue; // the memory pool makes it below
      try {
        entry.ready = Guest.ahead(module, info, report, memoryPages, memory);
      } catch {
        // Out of memory or address space, most likely: the start instantiates, and reports why.
        this.#entries.delete(key);
      }
      return true;
    }
    return this.#memories.refill();
  }

  /** Drops the module's spare and recipe (its workflows were stopped or removed). */
  forget(key: string): void {
    this.#entries.delete(key);
  }

  get stats(): GuestPoolStats {
    return { taken: this.#taken, made: this.#made, modules: this.#entries.size };
  }
}
