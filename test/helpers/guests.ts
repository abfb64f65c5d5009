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

export const { wat, guest } = require('../../scripts/wat-guest.js') as {
  wat(text: string): Promise<Uint8Array>;
  guest(spec: GuestSpec): Promise<Uint8Array>;
};
