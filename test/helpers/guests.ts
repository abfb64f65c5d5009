// Workflow guests for the tests, written in WAT and assembled with wabt. `guest()` wraps a body in
// a module that imports the host functions with either ABI variant (the seed's i64 handles and f64
// history, or everything as i32), a bump allocator, and helpers:
//   (call $str (i32.const N))       a Region of the N-th string of `strings`
//   (call $itoa (i64 ...))          a Region holding the decimal text of a number
//   (call $report (i32 index) (i64 value))   writes the point results{} at time=index, value
// so a test reads what the guest saw from the database.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const wabtInit = require('wabt') as () => Promise<{ parseWat(name: string, text: string): { toBinary(o: object): { buffer: Uint8Array }; destroy(): void } }>;
let wabt: Awaited<ReturnType<typeof wabtInit>> | undefined;

export async function wat(text: string): Promise<Uint8Array> {
  wabt ??= await wabtInit();
  const module = wabt.parseWat('guest.wat', text);
  try {
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

export interface GuestSpec {
  /** 'seed': i64 handles and producer ids, f64 history; 'i32': every argument and result i32. */
  abi?: 'seed' | 'i32';
  strings?: string[];
  /** The body of `call` (locals declared by `locals`). */
  body: string;
  locals?: string;
  /** More functions, at module level. */
  functions?: string;
  /** Initial pages of memory (default 2). */
  pages?: number;
  /** Leave imports out (e.g. to test a module that never suspends). */
  without?: string[];
}

function escape(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('');
}

export async function guest(spec: GuestSpec): Promise<Uint8Array> {
  const H = spec.abi === 'i32' ? 'i32' : 'i64';
  const F = spec.abi === 'i32' ? 'i32' : 'f64';
  const strings = ['series=results', ...(spec.strings ?? [])];
  let at = 1024;
  const table: string[] = [];
  const data: string[] = [];
  for (const text of strings) {
    const length = Buffer.byteLength(text);
    data.push(`(data (i32.const ${at}) "${escape(text)}")`);
    table.push(`(i32.const ${at}) (i32.const ${length})`);
    at += length + 8;
  }
  if (at > 60_000) throw new Error('test strings too long');
  const imports: Record<string, string> = {
    u_query_live: `(func $live (param i32) (result ${H}))`,
    u_query_history: `(func $history (param i32) (result ${F}))`,
    u_poll_handle: `(func $poll (param ${H}) (result i32))`,
    u_free_handle: `(func $free (param ${H}) (result i32))`,
    u_write_event: '(func $write (param i32 i32 i32) (result i32))',
    u_writeback_ws: `(func $wb_ws (param ${H} i32) (result i32))`,
    u_writeback_http: '(func $wb_http (param i32 i32 i32) (result i32))',
    u_state_get: '(func $state_get (param i32) (result i32))',
    u_state_set: '(func $state_set (param i32 i32) (result i32))',
    u_state_delete: '(func $state_delete (param i32) (result i32))',
    u_log: '(func $log (param i32) (result i32))',
  };
  const importText = Object.entries(imports)
    .filter(([name]) => !(spec.without ?? []).includes(name))
    .map(([name, fn]) => `(import "env" "${name}" ${fn})`)
    .join('\n  ');
  const stringCases = table.map((args, i) => `(if (i32.eq (local.get $i) (i32.const ${i})) (then (return (call $region ${args}))))`).join('\n      ');
  return wat(`(module
  ${importText}
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") ${spec.pages ?? 2})
  (global $heap (mut i32) (i32.const 65536))
  ${data.join('\n  ')}
  (func $alloc (export "allocate") (param $n i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.and (i32.add (i32.add (local.get $p) (local.get $n)) (i32.const 7)) (i32.const -8)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then (if (i32.lt_s (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1))) (i32.const 0))
        (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $p))
  (func (export "deallocate") (param i32))
  (func $region (param $ptr i32) (param $len i32) (result i32)
    (local $r i32)
    (local.set $r (call $alloc (i32.const 12)))
    (i32.store (local.get $r) (local.get $ptr))
    (i32.store offset=4 (local.get $r) (local.get $len))
    (i32.store offset=8 (local.get $r) (local.get $len))
    (local.get $r))
  (func $str (param $i i32) (result i32)
      ${stringCases}
      (unreachable))
  (func $itoa (param $v i64) (result i32)
    (local $buf i32) (local $p i32) (local $neg i32)
    (local.set $buf (call $alloc (i32.const 24)))
    (local.set $p (i32.add (local.get $buf) (i32.const 24)))
    (if (i64.lt_s (local.get $v) (i64.const 0)) (then (local.set $neg (i32.const 1)) (local.set $v (i64.sub (i64.const 0) (local.get $v)))))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $v) (i64.const 10)))))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $v) (i64.const 0))))
    (if (local.get $neg) (then
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.const 45))))
    (call $region (local.get $p) (i32.sub (i32.add (local.get $buf) (i32.const 24)) (local.get $p))))
  (func $report (param $index i32) (param $value i64)
    (drop (call $write (call $itoa (i64.extend_i32_u (local.get $index))) (call $itoa (local.get $value)) (call $str (i32.const 0)))))
  ;; The number after the first occurrence of the 4 bytes b0..b3 in the Region's text (0 if none).
  (func $number_after (param $region i32) (param $b0 i32) (param $b1 i32) (param $b2 i32) (param $b3 i32) (result i64)
    (local $p i32) (local $end i32) (local $v i64) (local $c i32)
    (local.set $p (i32.load (local.get $region)))
    (local.set $end (i32.add (local.get $p) (i32.load offset=8 (local.get $region))))
    (block $found
      (loop $scan
        (br_if $found (i32.ge_u (i32.add (local.get $p) (i32.const 4)) (local.get $end)))
        (if (i32.and (i32.and (i32.eq (i32.load8_u (local.get $p)) (local.get $b0)) (i32.eq (i32.load8_u offset=1 (local.get $p)) (local.get $b1)))
                     (i32.and (i32.eq (i32.load8_u offset=2 (local.get $p)) (local.get $b2)) (i32.eq (i32.load8_u offset=3 (local.get $p)) (local.get $b3))))
          (then
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (loop $skip
              (local.set $c (i32.load8_u (local.get $p)))
              (if (i32.and (i32.lt_u (local.get $p) (local.get $end)) (i32.or (i32.lt_u (local.get $c) (i32.const 48)) (i32.gt_u (local.get $c) (i32.const 57))))
                (then (local.set $p (i32.add (local.get $p) (i32.const 1))) (br $skip))))
            (loop $digits
              (local.set $c (i32.load8_u (local.get $p)))
              (if (i32.and (i32.lt_u (local.get $p) (local.get $end)) (i32.and (i32.ge_u (local.get $c) (i32.const 48)) (i32.le_u (local.get $c) (i32.const 57))))
                (then
                  (local.set $v (i64.add (i64.mul (local.get $v) (i64.const 10)) (i64.extend_i32_u (i32.sub (local.get $c) (i32.const 48)))))
                  (local.set $p (i32.add (local.get $p) (i32.const 1)))
                  (br $digits))))
            (return (local.get $v))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $scan)))
    (i64.const 0))
  ${spec.functions ?? ''}
  (func (export "call") ${spec.locals ?? ''}
    ${spec.body}))`);
}

/** The ABI's handle type for a variant, to write `(${H}.const 0)` in bodies. */
export const handleType = (abi: 'seed' | 'i32' = 'seed') => (abi === 'i32' ? 'i32' : 'i64');
