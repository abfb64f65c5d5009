// Typed access to scripts/wat-guest.js (shared with bench/): WAT guests for the workflow tests.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface GuestSpec {
  /** 'seed': i64 handles and producer ids, f64 history; 'i32': every argument and result i32. */
  abi?: 'seed' | 'i32';
  /** Strings reachable as (call $str (i32.const N)), N from 1 (0 is series=results). */
  strings?: string[];
  /** The body of `call` (locals declared by `locals`). */
  body: string;
  locals?: string;
  /** More functions, at module level. */
  functions?: string;
  /** Initial pages of memory (default 2). */
  pages?: number;
  /** Host functions to leave out of the imports. */
  without?: string[];
}

export interface EachEventSpec {
  abi?: 'seed' | 'i32';
  query: string;
  strings?: string[];
  locals?: string;
  before?: string;
  onEvent: string;
}

export const { wat, guest, eachEvent, echoGuest, EVENT_VALUE } = require('../../scripts/wat-guest.js') as {
  wat(text: string): Promise<Uint8Array>;
  guest(spec: GuestSpec): Promise<Uint8Array>;
  /** A spec that polls a live query and runs `onEvent` per event (its Region in $e). */
  eachEvent(spec: EachEventSpec): GuestSpec;
  /** A guest writing every event of the query back to the producer in it. */
  echoGuest(query: string): Promise<Uint8Array>;
  /** WAT for the i64 value of the event in $e. */
  EVENT_VALUE: string;
};

/** Counts the events of `query` in durable state (key `count`) and reports the count at index 1. */
export function countingGuest(query: string): Promise<Uint8Array> {
  return guest(
    eachEvent({
      query,
      strings: ['count'],
      locals: '(local $n i64) (local $s i32)',
      before: `
        (local.set $s (call $state_get (call $str (i32.const 2))))
        (if (local.get $s) (then (local.set $n (i64.load (i32.load (local.get $s))))))`,
      onEvent: `
        (local.set $n (i64.add (local.get $n) (i64.const 1)))
        (i64.store (i32.const 3000) (local.get $n))
        (drop (call $state_set (call $str (i32.const 2)) (call $region (i32.const 3000) (i32.const 8))))
        (call $report (i32.const 1) (local.get $n))`,
    }),
  );
}

/** Polls `probe` every 20 ms until it gives a value (not undefined, null or false). */
export async function until<T>(what: string, probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
