// A single-producer, single-consumer ring of byte records in a SharedArrayBuffer: live events go
// from the main thread (where live queries run) to a workflow worker without a postMessage copy
// per event, and the worker sleeps on the ring's signal word (Atomics.waitAsync) while idle.
// A full ring refuses the record: the producer keeps it in its backlog and tries again later.

const WRITE = 0;
const READ = 1;
/** Bumped after each batch of pushes; the consumer waits on it. */
const SIGNAL = 2;
/** 1 while the consumer waits: the producer calls Atomics.notify (a cross-thread wake) only then. */
const SLEEPING = 3;
const HEADER_INTS = 4;
/** Record header: instance u32, handle u32, sequence f64, length u32, padding u32. */
const RECORD_HEADER = 24;
const WRAP_MARK = 0xffffffff;

/**
 * Receives one record in EventRing.drain: its payload is `bytes[start, end)`, the ring's own memory
 * (no copy, no view object per record). Valid only during the call: the producer reuses the bytes
 * once the read position moves, so copy what you keep.
 */
export type RecordHandler = (instance: number, handle: number, sequence: number, bytes: Uint8Array, start: number, end: number) => void;

const encoder = new TextEncoder();

function align8(n: number): number {
  return (n + 7) & ~7;
}

export class EventRing {
  readonly buffer: SharedArrayBuffer;
  readonly #header: Int32Array;
  readonly #data: Uint8Array;
  readonly #view: DataView;
  readonly #capacity: number;
  /** Producer: the record reserve() made room for (-1: none), where WRITE goes, its payload room. */
  #reservedAt = -1;
  #reservedNext = 0;
  #reservedRoom = 0;
  #wakes = 0;

  /** A new ring of `capacity` bytes (a power of two), or a view of an existing one's buffer. */
  constructor(capacityOrBuffer: number | SharedArrayBuffer) {
    if (typeof capacityOrBuffer === 'number') {
      const capacity = capacityOrBuffer;
      if (!Number.isInteger(capacity) || capacity < 1024 || (capacity & (capacity - 1)) !== 0 || capacity > 2 ** 30) {
        throw new RangeError(`ring capacity must be a power of two in 1 KiB..1 GiB, got ${capacity}`);
      }
      this.buffer = new SharedArrayBuffer(HEADER_INTS * 4 + capacity);
    } else {
      this.buffer = capacityOrBuffer;
    }
    this.#capacity = this.buffer.byteLength - HEADER_INTS * 4;
    this.#header = new Int32Array(this.buffer, 0, HEADER_INTS);
    this.#data = new Uint8Array(this.buffer, HEADER_INTS * 4, this.#capacity);
    this.#view = new DataView(this.buffer, HEADER_INTS * 4, this.#capacity);
  }

  /** The largest payload a record may carry. */
  get maxPayload(): number {
    return this.#capacity / 2 - RECORD_HEADER;
  }

  /** Producer: appends one record; false when it does not fit now (nothing is written). */
  push(instance: number, handle: number, sequence: number, payload: Uint8Array): boolean {
    if (payload.length > this.maxPayload) throw new RangeError(`a ring record holds at most ${this.maxPayload} bytes, got ${payload.length}`);
    const at = this.reserve(payload.length);
    if (at < 0) return false;
    this.#data.set(payload, at);
    this.commit(instance, handle, sequence, payload.length);
    return true;
  }

  /**
   * Producer: appends one record whose payload is `text` in UTF-8, encoded straight into the ring
   * (no intermediate bytes); false when it may not fit now (room for 3 bytes per UTF-16 unit).
   */
  pushText(instance: number, handle: number, sequence: number, text: string): boolean {
    const worst = text.length * 3;
    if (worst > this.maxPayload) return this.push(instance, handle, sequence, Buffer.from(text, 'utf8'));
    const at = this.reserve(worst);
    if (at < 0) return false;
    const { written } = encoder.encodeInto(text, this.#data.subarray(at, at + worst));
    this.commit(instance, handle, sequence, written);
    return true;
  }

  /** The ring's payload memory: a producer writes a reserved payload here, at reserve()'s offset. */
  get bytes(): Uint8Array {
    return this.#data;
  }

  /**
   * Producer: makes room for a payload of up to `room` bytes (at most maxPayload) and returns the
   * offset in `bytes` to write it at, or -1 when it may not fit now. Nothing is visible to the
   * consumer until commit(); a second reserve() before it replaces the first.
   */
  reserve(room: number): number {
    if (room > this.maxPayload) throw new RangeError(`a ring record holds at most ${this.maxPayload} bytes, asked for ${room}`);
    const write = Atomics.load(this.#header, WRITE) >>> 0;
    const read = Atomics.load(this.#header, READ) >>> 0;
    const used = (write - read) >>> 0;
    const size = align8(RECORD_HEADER + room);
    let at = write % this.#capacity;
    const tail = this.#capacity - at;
    if (used + (size <= tail ? size : tail + size) > this.#capacity) return -1;
    let next = write;
    if (size > tail) {
      // The record would straddle the end: it starts over at 0 (commit marks the tail skipped).
      next = (next + tail) >>> 0;
      at = 0;
    }
    this.#reservedAt = at;
    this.#reservedNext = next;
    this.#reservedRoom = room;
    return at + RECORD_HEADER;
  }

  /** Producer: publishes the payload of `length` bytes written after the last reserve(). */
  commit(instance: number, handle: number, sequence: number, length: number): void {
    const at = this.#reservedAt;
    if (at < 0 || length > this.#reservedRoom) throw new RangeError(`commit of ${length} bytes without a reserve() of that much room`);
    this.#reservedAt = -1;
    const write = Atomics.load(this.#header, WRITE) >>> 0;
    if (this.#reservedNext !== write) this.#view.setUint32(write % this.#capacity, WRAP_MARK, true);
    this.#view.setUint32(at, instance, true);
    this.#view.setUint32(at + 4, handle, true);
    this.#view.setFloat64(at + 8, sequence, true);
    this.#view.setUint32(at + 16, length, true);
    Atomics.store(this.#header, WRITE, (this.#reservedNext + align8(RECORD_HEADER + length)) | 0);
  }

  /** Producer: wakes the consumer after one or more pushes. */
  signal(): void {
    Atomics.add(this.#header, SIGNAL, 1);
    // Sequentially consistent: a consumer that set SLEEPING after this exchange sees the new SIGNAL
    // in its wait and does not sleep. SLEEPING is cleared by the one signal that notifies: the
    // others of a burst, made before the woken consumer runs, need not notify again.
    if (Atomics.compareExchange(this.#header, SLEEPING, 1, 0) === 1) {
      Atomics.notify(this.#header, SIGNAL);
      this.#wakes++;
    }
  }

  /** Producer: how many times signal() woke a sleeping consumer (cross-thread wakes). */
  get wakes(): number {
    return this.#wakes;
  }

  /** Consumer: the signal value to wait on. */
  get signalValue(): number {
    return Atomics.load(this.#header, SIGNAL);
  }

  /**
   * Consumer: blocks this thread until the signal moves past `seen`, for at most `timeoutMs`, without
   * asking the producer for a wake: the producer does not notify, so the wait ends by its own
   * timeout, on the consumer's core, and the producer never pays for a cross-thread wake.
   */
  napForSignal(seen: number, timeoutMs: number): void {
    Atomics.wait(this.#header, SIGNAL, seen, timeoutMs);
  }

  /**
   * Consumer: the producer need not notify, the consumer looks for itself (it runs, spins or
   * naps). A waitForSignal still pending then ends only by a later rearm() and notify, or its timeout.
   */
  markAwake(): void {
    Atomics.store(this.#header, SLEEPING, 0);
  }

  /**
   * Consumer: asks for notifies again for a waitForSignal still pending. False when the signal
   * already moved past `seen` while nobody was notified: do not sleep then.
   */
  rearm(seen: number): boolean {
    Atomics.store(this.#header, SLEEPING, 1);
    // Sequentially consistent with signal(): it saw SLEEPING, or this sees its SIGNAL.
    return Atomics.load(this.#header, SIGNAL) === seen;
  }

  /** Consumer: resolves when the signal moves past `seen`, or after `timeoutMs`. */
  waitForSignal(seen: number, timeoutMs: number): Promise<unknown> {
    Atomics.store(this.#header, SLEEPING, 1);
    const result = Atomics.waitAsync(this.#header, SIGNAL, seen, timeoutMs);
    const awake = () => Atomics.store(this.#header, SLEEPING, 0);
    if (!result.async) {
      awake();
      return Promise.resolve(result.value);
    }
    return result.value.finally(awake);
  }

  /** Consumer: hands every record written so far to `onRecord`, oldest first; returns how many. */
  drain(onRecord: RecordHandler): number {
    const write = Atomics.load(this.#header, WRITE) >>> 0;
    let read = Atomics.load(this.#header, READ) >>> 0;
    let count = 0;
    while (read !== write) {
      const at = read % this.#capacity;
      const instance = this.#view.getUint32(at, true);
      if (instance === WRAP_MARK) {
        read = (read + (this.#capacity - at)) >>> 0;
        continue;
      }
      const length = this.#view.getUint32(at + 16, true);
      // Offsets, not a copy: a copy per record would be an ArrayBuffer per event for the GC to sweep.
      onRecord(instance, this.#view.getUint32(at + 4, true), this.#view.getFloat64(at + 8, true), this.#data, at + RECORD_HEADER, at + RECORD_HEADER + length);
      read = (read + align8(RECORD_HEADER + length)) >>> 0;
      count++;
    }
    Atomics.store(this.#header, READ, read | 0);
    return count;
  }
}
