// Memories made before the instances that need them. Most of a new instance's start is not V8
// building the instance but the kernel giving its fresh memory pages: V8 writes the module's data
// segments at instantiation, and the first write to each page of a new memory faults. In a VM a
// fault costs several microseconds (on the 2-core test VM, docs/benchmarks.md).
// So a worker keeps, per memory shape, one memory made and with its data pages written while the
// worker has nothing else to do, and a new instance takes it. A memory serves one instance only:
// nothing but the pool has touched it, and nothing of an ended instance is ever handed on.

/** Pages written ahead are 4 KiB (the smallest page size of the platforms we build for). */
const OS_PAGE = 4096;
const WASM_PAGE = 65536;
/** At most this much of a spare memory is written ahead; data past it faults as before. */
const MAX_TOUCH_BYTES = 4 * 2 ** 20;
/** Shapes remembered; the least recently used one (and its spare) goes first. */
const MAX_SHAPES = 16;
/** Pages one call of refill() writes at most, so a refill never holds the worker for long. */
const TOUCH_PAGES_PER_STEP = 16;

interface Spare {
  memory: WebAssembly.Memory;
  /** Index into the shape's pages of the next page to write. */
  next: number;
}

interface Shape {
  initial: number;
  maximum: number;
  /** Byte offsets of the OS pages the module's data segments write. */
  pages: number[];
  ready: WebAssembly.Memory | undefined;
  filling: Spare | undefined;
  /**
   * Whether refill() makes a spare of this shape. A memory taken by take() wants its successor;
   * one taken by takeReady() (for a guest made ahead, lib/wasm/guest-pool.ts) does not: the next
   * guest made ahead asks again, so a shape holds one spare, in a guest or here, not two.
   */
  wanted: boolean;
}

export interface MemoryPoolStats {
  /** Instances that got a memory made ahead. */
  taken: number;
  /** Instances that got a memory made when they started (no spare was ready). */
  made: number;
  shapes: number;
}

export class MemoryPool {
  readonly #shapes = new Map<string, Shape>();
  #taken = 0;
  #made = 0;

  /**
   * A memory for a new instance of `initial`..`maximum` pages whose data segments cover
   * `dataRanges`: the spare of that shape when one is ready (the pool makes the next one in
   * refill()), else a new one.
   */
  take(initial: number, maximum: number, dataRanges: ReadonlyArray<readonly [number, number]>): WebAssembly.Memory {
    const shape = this.#shape(initial, maximum, dataRanges);
    shape.wanted = true;
    const ready = shape.ready;
    if (ready) {
      shape.ready = undefined;
      this.#taken++;
      return ready;
    }
    this.#made++;
    return new WebAssembly.Memory({ initial, maximum });
  }

  /**
   * The spare of that shape if one is ready, without asking for another; else undefined, and
   * refill() makes one.
   */
  takeReady(initial: number, maximum: number, dataRanges: ReadonlyArray<readonly [number, number]>): WebAssembly.Memory | undefined {
    const shape = this.#shape(initial, maximum, dataRanges);
    const ready = shape.ready;
    shape.wanted = !ready;
    if (!ready) return undefined;
    shape.ready = undefined;
    this.#taken++;
    return ready;
  }

  /** The shape's entry, made if new, and moved to the most recently used end. */
  #shape(initial: number, maximum: number, dataRanges: ReadonlyArray<readonly [number, number]>): Shape {
    const key = `${initial}/${maximum}/${dataRanges.map(([s, e]) => `${s}-${e}`).join(',')}`;
    let shape = this.#shapes.get(key);
    if (shape) {
      this.#shapes.delete(key); // re-inserted: most recently used last
    } else {
      shape = { initial, maximum, pages: pagesOf(dataRanges, initial * WASM_PAGE), ready: undefined, filling: undefined, wanted: false };
      if (this.#shapes.size >= MAX_SHAPES) this.#shapes.delete(this.#shapes.keys().next().value!);
    }
    this.#shapes.set(key, shape);
    return shape;
  }

  /**
   * One bounded step towards a spare for every shape that wants one: makes a memory or writes up to
   * 16 of its pages. Returns false when there was nothing to do. Called when the worker is idle.
   */
  refill(): boolean {
    for (const shape of this.#shapes.values()) {
      if (shape.ready || !shape.wanted) continue;
      const spare = shape.filling;
      if (!spare) {
        shape.filling = { memory: new WebAssembly.Memory({ initial: shape.initial, maximum: shape.maximum }), next: 0 };
        return true;
      }
      const bytes = new Uint8Array(spare.memory.buffer);
      const end = Math.min(shape.pages.length, spare.next + TOUCH_PAGES_PER_STEP);
      for (; spare.next < end; spare.next++) bytes[shape.pages[spare.next]!] = 0;
      if (spare.next === shape.pages.length) {
        shape.ready = spare.memory;
        shape.filling = undefined;
      }
      return true;
    }
    return false;
  }

  get stats(): MemoryPoolStats {
    return { taken: this.#taken, made: this.#made, shapes: this.#shapes.size };
  }
}

/** The OS pages (byte offsets) that `ranges` cover below `limit`, at most MAX_TOUCH_BYTES of them. */
function pagesOf(ranges: ReadonlyArray<readonly [number, number]>, limit: number): number[] {
  const pages: number[] = [];
  let last = -1;
  for (const [start, end] of ranges) {
    for (let page = Math.floor(start / OS_PAGE) * OS_PAGE; page < Math.min(end, limit); page += OS_PAGE) {
      if (page <= last) continue;
      if (pages.length * OS_PAGE >= MAX_TOUCH_BYTES) return pages;
      pages.push(page);
      last = page;
    }
  }
  return pages;
}
