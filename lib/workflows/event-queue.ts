// The events a worker holds for one live handle until its guest takes them: payload bytes copied
// out of the event ring into one growable buffer, with sequences and offsets in a Float64Array.
// No object or ArrayBuffer per event, so a busy handle leaves the worker's GC almost nothing to do.

import { copyBytes } from '../bytes.js';
import type { EventBytes } from '../wasm/guest.js';

/** Bytes and event slots a queue gets on its first event (and shrinks back to once empty); a
 * handle that never gets an event costs no buffer. */
const INITIAL_BYTES = 4096;
const INITIAL_EVENTS = 64;
/** Per event in #slots: sequence, payload start, payload length. */
const SLOT = 3;

export class EventQueue {
  #bytes = new Uint8Array(0);
  /** Where the next payload goes in #bytes. */
  #bytesEnd = 0;
  #slots = new Float64Array(0);
  /** Oldest event not taken, and one past the newest (event indices into #slots). */
  #head = 0;
  #tail = 0;

  get length(): number {
    return this.#tail - this.#head;
  }

  /** The oldest event's sequence; undefined when the queue is empty. */
  get firstSequence(): number | undefined {
    return this.#head === this.#tail ? undefined : this.#slots[this.#head * SLOT]!;
  }

  /** Appends an event whose payload is `bytes[start, end)`: copied, so the bytes may be reused. */
  push(sequence: number, bytes: Uint8Array, start: number, end: number): void {
    const length = end - start;
    if (this.#head === this.#tail) this.#reset();
    if ((this.#tail + 1) * SLOT > this.#slots.length || this.#bytesEnd + length > this.#bytes.length) this.#makeRoom(length);
    const slot = this.#tail * SLOT;
    this.#slots[slot] = sequence;
    this.#slots[slot + 1] = this.#bytesEnd;
    this.#slots[slot + 2] = length;
    copyBytes(this.#bytes, this.#bytesEnd, bytes, start, end);
    this.#bytesEnd += length;
    this.#tail++;
  }

  /**
   * Removes the oldest event: `into` is set to its payload's place in the queue's memory (valid
   * until the next push; copy it before then) and returned; undefined when the queue is empty.
   * Offsets rather than a view, so taking an event makes no object.
   */
  shiftInto(into: EventBytes): EventBytes | undefined {
    if (this.#head === this.#tail) return undefined;
    const slot = this.#head * SLOT;
    const start = this.#slots[slot + 1]!;
    this.#head++;
    into.bytes = this.#bytes;
    into.start = start;
    into.end = start + this.#slots[slot + 2]!;
    return into;
  }

  /** Empty: start from the beginning again, and give back memory a backlog made it grow to. */
  #reset(): void {
    this.#head = 0;
    this.#tail = 0;
    this.#bytesEnd = 0;
    if (this.#bytes.length > 16 * INITIAL_BYTES) this.#bytes = new Uint8Array(INITIAL_BYTES);
    if (this.#slots.length > 16 * INITIAL_EVENTS * SLOT) this.#slots = new Float64Array(INITIAL_EVENTS * SLOT);
  }

  /** Room for one more event of `payloadLength` bytes: slides the pending events to the front when
   * at least half the space is taken ones, otherwise grows (amortised O(1) per event). */
  #makeRoom(payloadLength: number): void {
    const firstByte = this.#head < this.#tail ? this.#slots[this.#head * SLOT + 1]! : 0;
    if (this.#head > 0 && this.#head * 2 >= this.#tail && firstByte * 2 >= this.#bytesEnd) {
      this.#bytes.copyWithin(0, firstByte, this.#bytesEnd);
      this.#bytesEnd -= firstByte;
      this.#slots.copyWithin(0, this.#head * SLOT, this.#tail * SLOT);
      this.#tail -= this.#head;
      this.#head = 0;
      for (let slot = 1; slot < this.#tail * SLOT; slot += SLOT) this.#slots[slot] = this.#slots[slot]! - firstByte;
    }
    if ((this.#tail + 1) * SLOT > this.#slots.length) {
      const slots = new Float64Array(Math.max(this.#slots.length * 2, INITIAL_EVENTS * SLOT));
      slots.set(this.#slots.subarray(0, this.#tail * SLOT));
      this.#slots = slots;
    }
    if (this.#bytesEnd + payloadLength > this.#bytes.length) {
      const bytes = new Uint8Array(Math.max(this.#bytes.length * 2, INITIAL_BYTES, this.#bytesEnd + payloadLength));
      bytes.set(this.#bytes.subarray(0, this.#bytesEnd));
      this.#bytes = bytes;
    }
  }
}
