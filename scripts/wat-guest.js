'use strict';
// Workflow guests for the tests and benchmarks, written in WAT and assembled with wabt. `guest()`
// wraps a body in a module that imports the host functions with either ABI variant (the seed's i64
// handles and f64 history, or everything as i32), a bump allocator, and helpers:
//   (call $str (i32.const N))       a Region of the N-th string of `strings` (0 is series=results)
//   (call $itoa (i64 ...))          a Region holding the decimal text of a number
//   (call $report (i32 index) (i64 value))   writes the point results{} at time=index, value
//   (call $number_after (region) b0 b1 b2 b3)  the integer after 4 given bytes in a Region's text
//   (call $now_us)                  the wall clock in µs (WASI clock_time_get; uses bytes 8..16)
// so a test reads what the guest saw from the database.
const wabtInit = require('wabt');
let wabt;

async function wat(text) {
  wabt ??= await wabtInit();
  const module = wabt.parseWat('guest.wat', text);
  try {
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

function escape(text) {
  return [...Buffer.from(text, 'utf8')].map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('');
}

async function guest(spec) {
  const H = spec.abi === 'i32' ? 'i32' : 'i64';
  const F = spec.abi === 'i32' ? 'i32' : 'f64';
  const strings = ['series=results', ...(spec.strings ?? [])];
  let at = 1024;
  const table = [];
  const data = [];
  for (const text of strings) {
    const length = Buffer.byteLength(text);
    data.push(`(data (i32.const ${at}) "${escape(text)}")`);
    table.push(`(i32.const ${at}) (i32.const ${length})`);
    at += length + 8;
  }
  if (at > 60_000) throw new Error('test strings too long');
  const imports = {
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
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
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
  ;; Microseconds since the epoch (WASI realtime clock).
  (func $now_us (result i64)
    (drop (call $clock_time_get (i32.const 0) (i64.const 1000) (i32.const 8)))
    (i64.div_u (i64.load (i32.const 8)) (i64.const 1000)))
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


/**
 * A guest spec that registers `query` as a live query and runs `onEvent` for every event, with
 * the event's Region in $e; `before` runs first. `strings` come after the query (from index 2).
 */
function eachEvent({ query, strings = [], locals = '', before = '', onEvent, abi }) {
  return {
    abi,
    strings: [query, ...strings],
    locals: `(local $h i64) (local $e i32) ${locals}`,
    body: `${before}
      (local.set $h (call $live (call $str (i32.const 1))))
      (loop $next
        (local.set $e (call $poll (local.get $h)))
        (if (local.get $e) (then ${onEvent}))
        (br $next))`,
  };
}

/** Writes every event of `query` back, verbatim, to the first producer in it (u_writeback_ws). */
function echoGuest(query) {
  return guest(
    eachEvent({
      query,
      // "producers":[N] — the number after the bytes rs":
      onEvent: `(drop (call $wb_ws (call $number_after (local.get $e) (i32.const 114) (i32.const 115) (i32.const 34) (i32.const 58)) (local.get $e)))
        ${FREE_ALL}`,
    }),
  );
}

/** Frees everything allocated so far (the bump allocator starts over): for guests that keep nothing. */
const FREE_ALL = '(global.set $heap (i32.const 65536))';

/** The value of an event (the number after the bytes lue"), as i64. */
const EVENT_VALUE = '(call $number_after (local.get $e) (i32.const 108) (i32.const 117) (i32.const 101) (i32.const 34))';

/** The timestamp of an event (the number after the bytes amp"), as i64. */
const EVENT_TIMESTAMP = '(call $number_after (local.get $e) (i32.const 97) (i32.const 109) (i32.const 112) (i32.const 34))';

module.exports = { wat, guest, eachEvent, echoGuest, EVENT_VALUE, EVENT_TIMESTAMP, FREE_ALL };
