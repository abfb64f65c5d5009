// The Wasm workflow runtime end to end: real guests (WAT assembled by wabt) in real worker
// threads, against a real database on disk.
import fc from 'fast-check';
import fs from 'node:fs';
import http from 'node:http';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { countingGuest, eachEvent, echoGuest, EVENT_VALUE, guest, until } from './helpers/guests.js';
import { makeTempDir } from './helpers/paths.js';
import { sluice } from './helpers/sluice.js';

type Database = Awaited<ReturnType<typeof sluice.open>>;
type Runtime = Awaited<ReturnType<typeof sluice.startWorkflows>>;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: Parameters<typeof sluice.startWorkflows>[1] = {}): Promise<{ db: Database; runtime: Runtime; dir: string }> {
  const temp = makeTempDir();
  cleanups.push(temp.cleanup);
  const db = await sluice.open({ dir: temp.dir });
  cleanups.push(() => db.close());
  const runtime = await sluice.startWorkflows(db, { pollWaitMs: 100, restartBackoffMs: [50, 200], ...options });
  cleanups.push(() => runtime.close());
  return { db, runtime, dir: temp.dir };
}

/** Writes `count` points to `ingest`, one every 5 ms, while a misbehaving guest runs. */
async function ingestPaced(db: Database, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    db.write('ingest', {}, BigInt(i), i);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** results{} points written by the guest's $report: index → value. */
function results(db: Database): Map<number, number> {
  const out = new Map<number, number>();
  for (const [t, v] of db.scan({ series: 'results', tags: {}, start: 0n, end: 1_000_000n })) out.set(Number(t), v);
  return out;
}

const internals = createRequire(import.meta.url);
const { EventRing } = internals('../dist/lib/workflows/event-ring.js') as typeof import('../dist/lib/workflows/event-ring.js');
const { EventQueue } = internals('../dist/lib/workflows/event-queue.js') as typeof import('../dist/lib/workflows/event-queue.js');
const { eventJson, eventJsonRoom, writeEventJson } = internals('../dist/lib/workflows/event-json.js') as typeof import('../dist/lib/workflows/event-json.js');
type LiveEvent = Parameters<typeof eventJson>[0];

/** Events of the documented shape: any tags and series text (multi-byte UTF-8 included), any value. */
const arbitraryEvent = fc.record(
  {
    timestamp: fc.oneof(fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }), fc.integer({ min: 0, max: 10 ** 6 })),
    value: fc.option(fc.oneof(fc.double(), fc.integer(), fc.constantFrom(-0, 2 ** 53, 1e21, -1e-7, 5e-324)), { nil: null }),
    tags: fc.dictionary(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), { maxKeys: 4 }),
    producers: fc.array(fc.nat(), { maxLength: 3 }),
    series: fc.string({ unit: 'grapheme', maxLength: 20 }),
    window: fc.record({ start: fc.integer(), end: fc.integer() }),
  },
  { requiredKeys: ['timestamp', 'value', 'tags', 'producers', 'series'] },
);

function documentedJson(event: LiveEvent): string {
  return JSON.stringify({
    timestamp: event.timestamp,
    value: event.value,
    tags: Object.entries(event.tags).map(([k, v]) => `${k}=${v}`),
    producers: event.producers,
    series: event.series,
    ...(event.window ? { window: event.window } : {}),
  });
}

describe('event ring', () => {
  it('hands records over in order, whole, across wrap-arounds, refusing what does not fit (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 120 }), fc.constant(null)), { maxLength: 300 }), fc.boolean(), (steps, asBytes) => {
        const producer = new EventRing(1024);
        const consumer = new EventRing(producer.buffer);
        const expected: string[] = [];
        const got: string[] = [];
        const take = (instance: number, handle: number, sequence: number, bytes: Uint8Array, start: number, end: number) =>
          got.push(`${instance}/${handle}/${sequence}/${Buffer.from(bytes.subarray(start, end)).toString('utf8')}`);
        let sequence = 0;
        for (const step of steps) {
          if (step === null) {
            consumer.drain(take);
            continue;
          }
          sequence++;
          const ok = asBytes ? producer.push(7, 9, sequence, Buffer.from(step, 'utf8')) : producer.pushText(7, 9, sequence, step);
          if (ok) expected.push(`7/9/${sequence}/${step}`);
        }
        consumer.drain(take);
        expect(got).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('carries event JSON written in place (reserve, writeEventJson, commit) through wrap-arounds into a worker queue (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(arbitraryEvent, fc.constant(null)), { maxLength: 200 }), (steps) => {
        const producer = new EventRing(4096);
        const consumer = new EventRing(producer.buffer);
        const queue = new EventQueue();
        const expected: Array<[number, string]> = [];
        const got: Array<[number, string]> = [];
        const range = { bytes: new Uint8Array(0), start: 0, end: 0 };
        const take = () => {
          queue.shiftInto(range);
          return Buffer.from(range.bytes.subarray(range.start, range.end)).toString('utf8');
        };
        const takeAll = () => {
          consumer.drain((_instance, _handle, sequence, bytes, start, end) => queue.push(sequence, bytes, start, end));
          // Take only some of them, so that the queue holds events across drains.
          while (queue.length > got.length % 3) {
            const sequence = queue.firstSequence!;
            got.push([sequence, take()]);
          }
        };
        let sequence = 0;
        for (const step of steps) {
          if (step === null) {
            takeAll();
            continue;
          }
          sequence++;
          const at = producer.reserve(eventJsonRoom(step));
          if (at < 0) continue;
          producer.commit(1, 2, sequence, writeEventJson(step, producer.bytes, at));
          expected.push([sequence, documentedJson(step)]);
        }
        takeAll();
        while (queue.length > 0) got.push([queue.firstSequence!, take()]);
        expect(got).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});

describe('worker event queue', () => {
  it('gives back what was pushed, in order, whatever the sizes and interleaving (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 2000 }), fc.constant(null)), { maxLength: 400 }), (steps) => {
        const queue = new EventQueue();
        const range = { bytes: new Uint8Array(0), start: 0, end: 0 };
        const model: Array<[number, Uint8Array]> = [];
        let sequence = 0;
        for (const step of steps) {
          if (step === null) {
            const first = model.shift();
            expect(queue.firstSequence).toBe(first?.[0]);
            // Offsets in one reused object, as the worker takes events.
            const taken = queue.shiftInto(range)?.bytes.subarray(range.start, range.end);
            expect(taken === undefined ? undefined : [...taken]).toEqual(first === undefined ? undefined : [...first[1]]);
          } else {
            // The payload sits inside larger bytes, as it does in the ring.
            const bytes = new Uint8Array(step.length + 10);
            bytes.set(step, 5);
            queue.push(++sequence, bytes, 5, 5 + step.length);
            bytes.fill(0xff); // the queue copied it
            model.push([sequence, step]);
          }
          expect(queue.length).toBe(model.length);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('event JSON', () => {
  it('is what JSON.stringify gives for the documented shape, as a string and written as bytes (property)', () => {
    fc.assert(
      fc.property(arbitraryEvent, fc.integer({ min: 0, max: 64 }), (event, offset) => {
        const expected = documentedJson(event);
        expect(eventJson(event)).toBe(expected);
        const target = new Uint8Array(offset + eventJsonRoom(event)).fill(0xee);
        const length = writeEventJson(event, target, offset);
        expect(Buffer.from(target.subarray(offset, offset + length)).toString('utf8')).toBe(expected);
        expect(Buffer.byteLength(expected)).toBe(length);
      }),
      { numRuns: 3000 },
    );
  });

  it('follows tag sets by content, not by object: changed tags on one object and many tag sets per series', () => {
    const tags: Record<string, string> = { sensor: 'a' };
    const event = (t: Record<string, string>, series = 'temp'): LiveEvent => ({ timestamp: 1, value: 2, tags: t, series, producers: [] });
    const bytesOf = (e: LiveEvent) => {
      const target = new Uint8Array(eventJsonRoom(e));
      return Buffer.from(target.subarray(0, writeEventJson(e, target, 0))).toString('utf8');
    };
    expect(bytesOf(event(tags))).toBe(documentedJson(event(tags)));
    tags.sensor = 'b';
    expect(bytesOf(event(tags))).toBe(documentedJson(event({ sensor: 'b' })));
    tags.room = 'kitchen';
    expect(bytesOf(event(tags))).toContain('"tags":["sensor=b","room=kitchen"]');
    for (let i = 0; i < 100; i++) expect(bytesOf(event({ sensor: `${i % 40}` }))).toBe(documentedJson(event({ sensor: `${i % 40}` })));
    expect(bytesOf(event({ sensor: 'b' }, 'other'))).toContain('"series":"other"');
  });
});

describe('live events to a guest', () => {
  it('arrive as the documented JSON, multi-byte tags included, while the ring wraps around many times', async () => {
    const received: string[] = [];
    const { db, runtime } = await setup({ writeback: (_producer, data) => received.push(Buffer.from(data).toString('utf8')) > 0 });
    await runtime.deploy({ name: 'echo', module: await echoGuest('LAST:echoed:[]') });
    await until('the guest registered its query', () => runtime.status('echo').handles[0]?.handle);
    // ~1.2 KB per event: 6000 events go round the 4 MiB ring about twice.
    const tags = { place: 'Zürich 東京 😀'.repeat(40), kind: 'ü' };
    const expected: string[] = [];
    for (let i = 0; i < 6000; i++) {
      db.write('echoed', tags, 1_000_000 + i, i + 0.5, { producer: 7 });
      expected.push(JSON.stringify({ timestamp: 1_000_000 + i, value: i + 0.5, tags: ['place=' + tags.place, 'kind=ü'], producers: [7], series: 'echoed' }));
      if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve));
    }
    await until('every event came back', () => received.length >= expected.length);
    expect(received).toEqual(expected);
    expect(runtime.status('echo').handles[0]!.dropped).toBe(0);
  });
});

describe('live events to a guest, in time', () => {
  it('are handed to the workflow inside the write that made them, not after the writing turn', async () => {
    const { db, runtime } = await setup();
    await runtime.deploy({ name: 'echo', module: await echoGuest('LAST:inside:[]') });
    await until('the guest registered its query', () => runtime.status('echo').handles[0]?.handle);
    const pending = () => runtime.status('echo').handles[0]!.pending;
    const before = pending();
    db.write('inside', {}, 1_000_000n, 1, { producer: 7 });
    // Still the same turn: acknowledgements cannot have come back yet.
    expect(pending()).toBe(before + 1);
    db.write('inside', {}, 1_000_001n, 2, { producer: 7 });
    expect(pending()).toBe(before + 2);
    await until('both acknowledged', () => runtime.status('echo').handles[0]!.delivered >= 2 && pending() === 0);
  });
});

describe('host functions', () => {
  for (const abi of ['seed', 'i32'] as const) {
    it(`answer good and bad Regions with their error codes (${abi} signatures)`, async () => {
      const { db, runtime } = await setup();
      db.write('temp', { sensor: '1' }, 1_000_000_000n, 20);
      db.write('temp', { sensor: '1' }, 1_000_000_001n, 30);
      const H = abi === 'i32' ? 'i32' : 'i64';
      const history = abi === 'i32' ? '(i64.extend_i32_s (call $history (call $str (i32.const 1))))' : '(i64.trunc_f64_s (f64.mul (call $history (call $str (i32.const 1))) (f64.const 10)))';
      const bad = (n: number) => `(call $region (i32.const ${n}) (i32.const 5))`;
      const module = await guest({
        abi,
        strings: ['AVG:temp:[sensor=1]', 'series=ok,k=v', '1000', '2.5', 'not a query', '\u00ff', 'series=', 'key', 'value', 'k'.repeat(1100)],
        locals: '(local $r i32) (local $huge i32) (local $oob i32) (local $utf i32)',
        body: `
          ;; a Region whose length is huge, one whose bytes run past memory, one of bad UTF-8
          (local.set $huge (call $alloc (i32.const 12)))
          (i32.store (local.get $huge) (i32.const 1024)) (i32.store offset=8 (local.get $huge) (i32.const 0x7fffffff))
          (local.set $oob (call $region (i32.const 0x7fff0000) (i32.const 5000)))
          (local.set $utf (call $alloc (i32.const 12)))
          (i32.store (local.get $utf) (i32.const 50000)) (i32.store offset=8 (local.get $utf) (i32.const 2))
          (i32.store8 (i32.const 50000) (i32.const 0xc3)) (i32.store8 (i32.const 50001) (i32.const 0x28))
          (call $report (i32.const 1) ${history})
          (call $report (i32.const 2) (i64.extend_i32_u (call $write (call $str (i32.const 3)) (call $str (i32.const 4)) (call $str (i32.const 2)))))
          (call $report (i32.const 3) (i64.extend_i32_u (call $write (local.get $oob) (call $str (i32.const 4)) (call $str (i32.const 2)))))
          (call $report (i32.const 4) (i64.extend_i32_u (call $write (call $str (i32.const 3)) (local.get $huge) (call $str (i32.const 2)))))
          (call $report (i32.const 5) (i64.extend_i32_u (call $write (call $str (i32.const 3)) (call $str (i32.const 4)) (local.get $utf))))
          (call $report (i32.const 6) (i64.extend_i32_u (call $write (call $str (i32.const 3)) (call $str (i32.const 4)) (call $str (i32.const 7)))))
          (call $report (i32.const 7) (i64.extend_i32_u (call $write (i32.const 0xfffffff0) (call $str (i32.const 4)) (call $str (i32.const 2)))))
          (call $report (i32.const 8) (i64.extend_i32_u (${H}.eqz (call $live (call $str (i32.const 5))))))
          (call $report (i32.const 9) (i64.extend_i32_u (${H}.eqz (call $live (local.get $oob)))))
          (call $report (i32.const 10) (i64.extend_i32_u (call $free (${H}.const 999))))
          (call $report (i32.const 11) (i64.extend_i32_u (call $wb_ws (${H}.const 42) (local.get $huge))))
          (call $report (i32.const 12) (i64.extend_i32_u (call $wb_http (local.get $utf) (call $str (i32.const 4)) (i32.const 0))))
          (call $report (i32.const 13) (i64.extend_i32_u (call $state_set (call $str (i32.const 8)) (call $str (i32.const 9)))))
          (local.set $r (call $state_get (call $str (i32.const 8))))
          (call $report (i32.const 14) (i64.extend_i32_u (i32.load offset=8 (local.get $r))))
          (call $report (i32.const 15) (i64.extend_i32_u (call $state_get (local.get $oob))))
          (call $report (i32.const 16) (i64.extend_i32_u (call $poll (${H}.const 77))))
          (call $report (i32.const 17) (i64.extend_i32_u (${H}.eqz (call $live (call $str (i32.const 1))))))
          (call $report (i32.const 18) (i64.extend_i32_u (call $free (${H}.const 1))))
          (call $report (i32.const 19) (i64.extend_i32_u (call $state_delete (call $str (i32.const 8)))))
          (call $report (i32.const 20) (i64.extend_i32_u (call $state_get (call $str (i32.const 8)))))
          (call $report (i32.const 21) (i64.extend_i32_u (call $log (call $str (i32.const 2)))))
          (call $report (i32.const 22) (i64.extend_i32_u (call $log (local.get $oob))))
          (call $report (i32.const 23) (i64.extend_i32_u (call $state_set (call $str (i32.const 10)) (call $str (i32.const 9)))))
          (call $report (i32.const 99) (i64.const 1))`,
      });
      await runtime.deploy({ name: 'regions', module });
      const seen = await until('the guest to finish', () => results(db).get(99) === 1 && results(db));
      const expected: Record<number, number> = {
        1: abi === 'i32' ? 25 : 250, // AVG(20, 30); an i32 result is rounded toward zero
        2: 0, // written
        3: 1, // timestamp Region outside memory
        4: 1, // value Region of 2 GiB
        5: 1, // tags not UTF-8
        6: 1, // series= empty
        7: 1, // Region pointer past the end of memory
        8: 1, // not a query: handle 0
        9: 1, // u_query_live with a bad Region: handle 0
        10: 1, // unknown handle
        11: 1, // writeback with a huge Region
        12: 0, // http with a bad URL Region: 0 (no Region)
        13: 0, // state stored
        14: 5, // 'value' read back: 5 bytes
        15: 0, // state_get with a bad Region: 0
        16: 0, // poll of an unknown handle: 0 after the wait
        17: 0, // a good live query: a handle
        18: 0, // freed
        19: 0, // state deleted
        20: 0, // and gone
        21: 0, // logged
        22: 1, // log with a bad Region
        23: 1, // a state key over 1 KiB
      };
      for (const [index, value] of Object.entries(expected)) expect([index, seen.get(Number(index))]).toEqual([index, value]);
      expect(db.query('COUNT:ok:[k=v]')).toBe(1);
      expect(db.query('AVG:ok:[]')).toBe(2.5);
      const logs = runtime.logs('regions').join('\n');
      expect(logs).toMatch(/u_write_event: timestamp: the Region's bytes \[2147418112, 2147423112\) are outside memory/);
      expect(logs).toMatch(/u_write_event: value: the Region holds 2147483647 bytes/);
      expect(logs).toMatch(/u_write_event: tags: not valid UTF-8/);
      expect(logs).toMatch(/u_write_event: series= is empty/);
      expect(logs).toMatch(/u_query_live: .*column/i);
      expect(logs).toMatch(/u_free_handle: unknown handle 999/);
      expect(logs).toMatch(/u_poll_handle: unknown handle 77/);
      expect(logs).toMatch(/Z series=ok,k=v\n/);
      expect(logs).toMatch(/u_log: message: the Region's bytes/);
      expect(logs).toMatch(/u_state_set: a state key must be 1\.\.1024 bytes, got 1100/);
      await until('finished state', () => runtime.status('regions').state === 'finished');
    });
  }

  it('refuses modules that do not follow the ABI, naming every problem', async () => {
    const { runtime, dir } = await setup();
    const module = await guest({ body: '', without: [] });
    // A module without allocate, with a wrong signature and an unknown import.
    const broken = await (await import('./helpers/guests.js')).wat(`(module
      (import "env" "u_query_live" (func (param f64) (result i64)))
      (import "env" "u_teleport" (func (param i32)))
      (import "other" "x" (func))
      (memory (export "memory") 1)
      (func (export "call")))`);
    await expect(runtime.deploy({ name: 'broken', module: broken })).rejects.toThrow(
      /u_query_live: declared \(f64\) -> \(i64\)[\s\S]*u_teleport: unknown host function[\s\S]*unknown import module "other"[\s\S]*export allocate: missing[\s\S]*export deallocate: missing/,
    );
    await expect(runtime.deploy({ name: 'junk', module: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 200]) })).rejects.toMatchObject({ code: 'SLUICE_WASM' });
    await expect(runtime.deploy({ name: '../x', module })).rejects.toThrow(/workflow name/);
    await expect(runtime.deploy({ name: 'ok', module, env: { 'A-B': '1' } })).rejects.toThrow(/env name/);
    await expect(runtime.deploy({ name: 'ok', module, memoryBytes: 100_000 })).rejects.toThrow(/memoryBytes must be a multiple of 65536/);
    await expect(runtime.deploy({ name: 'ok', module, cpuBudgetMs: 1 })).rejects.toThrow(/cpuBudgetMs must be an integer in 10\.\.600000, got 1/);
    const unanswerable = await (await import('./helpers/guests.js')).wat(`(module
      (import "wasi_snapshot_preview1" "path_open" (func (param i32) (result i64)))
      (memory (export "memory") 1)
      (func (export "allocate") (param i32) (result i32) (i32.const 0))
      (func (export "deallocate") (param i32))
      (func (export "call")))`);
    await expect(runtime.deploy({ name: 'ok', module: unanswerable })).rejects.toThrow(/path_open: not implemented, and its signature \(i32\) -> \(i64\) cannot answer ENOSYS/);
    await expect(sluice.startWorkflows(await sluice.open({ dir: makeTempDir().dir }), { pollWaitMs: -1 })).rejects.toThrow(/pollWaitMs must be an integer in 0\.\.60000/);
    // Nothing of a refused deploy is kept: no workflow, no module file.
    expect(runtime.list()).toEqual([]);
    expect(fs.readdirSync(path.join(dir, 'workflows', 'modules'))).toEqual([]);
  });
});

describe('live events', () => {
  it('wakes suspended guests, many on one worker, and feeds their own writes to other workflows', async () => {
    const { db, runtime } = await setup();
    // Each copy reports the value of every event it gets, then writes its output series (value × 2).
    const listener = (query: string, output: string) =>
      guest(
        eachEvent({
          query,
          strings: [output],
          locals: '(local $n i32) (local $v i64)',
          onEvent: `
            (local.set $v ${EVENT_VALUE})
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (call $report (i32.mul (local.get $n) (i32.const 1000)) (local.get $v))
            (drop (call $write (call $itoa (i64.const 5)) (call $itoa (i64.mul (local.get $v) (i64.const 2))) (call $str (i32.const 2))))`,
        }),
      );
    await runtime.deploy({ name: 'source', module: await listener('LAST:temp:[sensor=1]', 'series=derived,from=wasm') });
    // 20 more listen to what the first one derives (u_write_event feeds live queries).
    const downstream = await listener('LAST:derived:[from=wasm]', 'series=echo');
    for (let i = 0; i < 20; i++) await runtime.deploy({ name: `down${i}`, module: downstream });
    await until('handles registered', () => runtime.list().every((w) => w.handles.length === 1 && w.handles[0]!.handle > 0));
    db.write('temp', { sensor: '1' }, 10n, 21);
    await until('the derived point', () => db.query('LAST:derived:[]') === 42).catch((error) => {
      throw new Error(`${error.message}: ${JSON.stringify(runtime.status('source'))} ${runtime.logs('source').join('\n')} results ${[...results(db)]} derived ${db.query('LAST:derived:[]')}`);
    });
    await until('an echo', () => db.query('LAST:echo:[]') === 84);
    // Every downstream copy got the event (their reports share one point, so count deliveries).
    await until('every copy to acknowledge', () => runtime.list().filter((w) => w.name.startsWith('down')).every((w) => w.handles[0]!.delivered + w.handles[0]!.pending >= 1));
    expect(runtime.list().every((w) => w.state === 'running')).toBe(true);
    expect(runtime.status('source').handles[0]!.dropped).toBe(0);
  });

  it('redelivers unacknowledged events after a stop and start (at-least-once)', async () => {
    const { db, runtime } = await setup();
    // The running count of events survives restarts in durable state.
    const module = await countingGuest('COUNT:ticks:[]');
    await runtime.deploy({ name: 'counter', module });
    await until('handle', () => runtime.status('counter').handles[0]?.handle);
    for (let i = 0; i < 3; i++) db.write('ticks', {}, BigInt(i + 1), i);
    await until('3 events', () => results(db).get(1) === 3);
    await runtime.stop('counter');
    expect(runtime.status('counter').state).toBe('stopped');
    for (let i = 3; i < 8; i++) db.write('ticks', {}, BigInt(i + 1), i);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(results(db).get(1)).toBe(3);
    expect(runtime.status('counter').handles[0]!.pending).toBeGreaterThanOrEqual(5);
    await runtime.start('counter');
    await until('8 events after the restart', () => results(db).get(1) === 8);
  });
});

describe('limits', () => {
  it('stops a runaway guest within its CPU budget while ingest and its worker neighbours go on', async () => {
    const { db, runtime, dir } = await setup({ workers: 1 });
    // Descriptors of this process open on a workflow's state file: a worker the watchdog
    // terminates must not leave its state files open (Node closes the descriptors a worker opened
    // through fs when it ends).
    const openOn = (name: string) =>
      fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`) === fs.realpathSync(path.join(dir, 'workflows', name, 'state.log'));
        } catch {
          return false;
        }
      }).length;
    const neighbour = await guest(eachEvent({ query: 'LAST:beat:[]', onEvent: `(call $report (i32.const 7) ${EVENT_VALUE})` }));
    await runtime.deploy({ name: 'neighbour', module: neighbour });
    await until('neighbour handle', () => runtime.status('neighbour').handles[0]?.handle);
    const spinner = await guest({ body: '(loop $forever (br $forever))' });
    const started = Date.now();
    await runtime.deploy({ name: 'spinner', module: spinner, cpuBudgetMs: 200 });
    // Ingest goes on in the main thread while the guest spins in the worker.
    await ingestPaced(db, 50);
    expect(db.query('COUNT:ingest:[]')).toBe(50);
    const status = await until('the watchdog', () => {
      const s = runtime.status('spinner');
      return s.lastError?.includes('CPU budget') ? s : undefined;
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(status.lastError).toMatch(/exceeded its CPU budget: ran \d+ ms without waiting \(budget 200 ms\)/);
    // The neighbour shared the worker: it was restarted and still gets its events.
    await until('neighbour back', () => runtime.status('neighbour').handles[0]?.handle);
    db.write('beat', {}, 1n, 17);
    await until('neighbour event', () => results(db).get(7) === 17);
    expect(runtime.status('neighbour').lastError).toBeNull();
    // The neighbour's state is open once (its new worker's), not twice.
    await until('the old worker\'s descriptors closed', () => openOn('neighbour') === 1);
    await runtime.stop('spinner');
    await until('the spinner\'s state closed', () => openOn('spinner') === 0);
    // (The spinner may have been restarted beside the neighbour and stopped again meanwhile, so
    // the neighbour may be between workers: open once or not at all, never left open twice.)
    expect(openOn('neighbour')).toBeLessThanOrEqual(1);
  });

  it('keeps a memory bomb under its cap: memory.grow fails inside the guest', async () => {
    const { db, runtime } = await setup();
    const bomb = await guest({
      locals: '(local $pages i32)',
      body: `
        (block $full (loop $grow
          (br_if $full (i32.lt_s (memory.grow (i32.const 16)) (i32.const 0)))
          (br $grow)))
        (call $report (i32.const 1) (i64.extend_i32_u (memory.size)))
        (unreachable)`,
    });
    await runtime.deploy({ name: 'bomb', module: bomb, memoryBytes: 4 * 2 ** 20 });
    await ingestPaced(db, 20);
    expect(db.query('COUNT:ingest:[]')).toBe(20);
    const status = await until('the bomb to fail', () => {
      const s = runtime.status('bomb');
      return s.lastError ? s : undefined;
    });
    expect(status.lastError).toMatch(/unreachable/);
    // 64 pages (4 MiB) of its own plus the runtime's asyncify pages at most.
    expect(results(db).get(1)).toBeLessThanOrEqual(64 + 4);
    expect(results(db).get(1)).toBeGreaterThan(64 + 4 - 16);
    await runtime.stop('bomb');
  });
});

describe('WASI and HTTP', () => {
  it('logs stdout, reads its environment, and exits with a code', async () => {
    const { db, runtime } = await setup();
    const module = await guest({
      strings: ['hello from the guest\n'],
      locals: '(local $iov i32)',
      body: `
        (local.set $iov (call $alloc (i32.const 8)))
        (i32.store (local.get $iov) (i32.load (call $str (i32.const 1))))
        (i32.store offset=4 (local.get $iov) (i32.const 21))
        (drop (call $fd_write (i32.const 1) (local.get $iov) (i32.const 1) (i32.const 3100)))
        (drop (call $environ_sizes_get (i32.const 3000) (i32.const 3004)))
        (call $report (i32.const 1) (i64.load32_u (i32.const 3000)))
        (call $report (i32.const 2) (i64.load32_u (i32.const 3004)))
        (call $proc_exit (i32.const 3))`,
    });
    await runtime.deploy({ name: 'wasi', module, env: { THRESHOLD: '80', MODE: 'x' } });
    await until('exit', () => runtime.status('wasi').lastError);
    expect(results(db).get(1)).toBe(2);
    expect(results(db).get(2)).toBe('THRESHOLD=80\0MODE=x\0'.length);
    expect(runtime.logs('wasi').join('\n')).toMatch(/hello from the guest[\s\S]*exited with code 3[\s\S]*restarting in/);
    await runtime.stop('wasi');
  });

  it('u_writeback_http reaches allowed hosts only, within its timeout', async () => {
    let requests = 0;
    const server = http.createServer((request, response) => {
      requests++;
      if (request.url === '/slow') return; // never answers
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => response.end(`${request.method} ${request.url} ${body}`));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    server.unref();
    const port = (server.address() as { port: number }).port;
    const { db, runtime } = await setup({ httpAllow: [`127.0.0.1:${port}`], httpTimeoutMs: 300 });
    const module = await guest({
      strings: [`http://127.0.0.1:${port}/enrich`, 'payload!', `http://127.0.0.1:${port}/slow`, 'http://localhost:1/denied'],
      locals: '(local $r i32)',
      body: `
        (local.set $r (call $wb_http (call $str (i32.const 1)) (call $str (i32.const 2)) (i32.const 1)))
        (call $report (i32.const 1) (i64.extend_i32_u (i32.load offset=8 (local.get $r))))
        (call $report (i32.const 2) (i64.extend_i32_u (call $wb_http (call $str (i32.const 3)) (call $str (i32.const 2)) (i32.const 0))))
        (call $report (i32.const 3) (i64.extend_i32_u (call $wb_http (call $str (i32.const 4)) (call $str (i32.const 2)) (i32.const 0))))`,
    });
    await runtime.deploy({ name: 'http', module });
    await until('three calls', () => results(db).size === 3 && results(db), 5000);
    expect(results(db).get(1)).toBe('POST /enrich payload!'.length);
    expect(results(db).get(2)).toBe(0);
    expect(results(db).get(3)).toBe(0);
    const logs = runtime.logs('http').join('\n');
    expect(logs).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/slow timed out after 300 ms/);
    expect(logs).toMatch(/localhost:1 is not in the HTTP allow-list/);
    expect(requests).toBe(2);
  });
});

describe('guests made ahead', () => {
  it('a restarted workflow starts on a guest its worker instantiated while idle', async () => {
    const { runtime } = await setup();
    // Traps at once: restarted after 50 ms, then 100, 200, …
    await runtime.deploy({ name: 'crashes', module: await guest({ body: 'unreachable', without: ['u_poll_handle', 'u_writeback_http'] }) });
    await until('three restarts', () => runtime.status('crashes').restarts >= 3);
    await until('the worker reported its spares', () => (runtime.workers()[0]?.guests.madeAhead ?? 0) >= 2);
    const { memories, guests } = runtime.workers()[0]!;
    // Only the first instance, deployed on a worker that had nothing ready, was instantiated as it
    // started, and made its memory; each guest made ahead took a memory made ahead.
    expect(guests.madeAtStart).toBe(1);
    expect(guests.madeAhead).toBeGreaterThanOrEqual(2);
    expect(memories.madeAtStart).toBe(1);
    expect(memories.madeAhead).toBeGreaterThanOrEqual(guests.madeAhead);
  });
});

describe('spinning and napping workers', () => {
  it.each([
    ['spinning (spinUs 10000)', { spinUs: 10_000 }],
    ['napping (the default)', {}],
  ])('a worker %s through a stream of events still turns its event loop: an HTTP call completes', async (_, waiting) => {
    // The HTTP service runs in another process, so that this thread can write without yielding.
    const service = spawn(
      process.execPath,
      ['-e', "const s = require('http').createServer((q, r) => setTimeout(() => r.end('answered ' + q.url), 300)); s.listen(0, '127.0.0.1', () => console.log(s.address().port));"],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    cleanups.push(() => void service.kill('SIGKILL'));
    const port = await new Promise<number>((resolve, reject) => {
      service.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
      service.once('exit', (code) => reject(new Error(`the HTTP service exited with ${code}`)));
    });
    const { db, runtime } = await setup({ ...waiting, httpAllow: [`127.0.0.1:${port}`] });
    // The guest reports when its HTTP response came (WASI clock, µs) and the body's length.
    const module = await guest({
      strings: ['LAST:stream:[]', `http://127.0.0.1:${port}/enrich`],
      locals: '(local $body i32)',
      body: `
        (drop (call $live (call $str (i32.const 1))))
        (local.set $body (call $wb_http (call $str (i32.const 2)) (i32.const 0) (i32.const 0)))
        (call $report (i32.const 1) (call $now_us))
        (call $report (i32.const 2) (i64.extend_i32_u (i32.load offset=8 (local.get $body))))`,
    });
    await runtime.deploy({ name: 'waits', module });
    await until('the guest registered its query', () => runtime.status('waits').handles[0]?.handle);
    await new Promise((resolve) => setTimeout(resolve, 20)); // the guest is in its HTTP call
    // Events for its handle every ~20 µs for 1.5 s, this thread never yielding: the worker always
    // finds its ring signalled within its spin or its nap (a rate it naps at), so only the turns
    // of its event loop it makes on purpose let the response in.
    const until1500 = performance.now() + 1500;
    let i = 0;
    while (performance.now() < until1500) {
      db.write('stream', {}, 1_000_000 + i++, i);
      const next = performance.now() + 0.02;
      while (performance.now() < next);
    }
    const loopEnd = Date.now() * 1000;
    await until('the guest reports', () => results(db).has(2));
    expect(results(db).get(2)).toBe('answered /enrich'.length);
    expect(results(db).get(1)).toBeLessThan(loopEnd);
    expect(i).toBeGreaterThan(10_000);
  });

  it('refuses a spinUs that is not an integer in 0..10000', async () => {
    const { db } = await setup();
    await expect(sluice.startWorkflows(db, { spinUs: 10_001 })).rejects.toThrow(/spinUs must be an integer in 0\.\.10000, got 10001/);
  });
});

describe('napping workers', () => {
  // Counts its events and reports the count as results{} at time 1.
  const streamCounter = () =>
    guest(
      eachEvent({
        query: 'LAST:stream:[]',
        locals: '(local $n i64)',
        onEvent: '(local.set $n (i64.add (local.get $n) (i64.const 1))) (call $report (i32.const 1) (local.get $n))',
      }),
    );

  it('a worker naps through a dense stream and finds its events itself; with napUs 0, or a sparse stream, the writer wakes it', async () => {
    // `perTurn` points per timer turn (~1 ms apart), 100 turns: the writer's wakes of the worker.
    const wakesFor = async (napUs: number, perTurn: number) => {
      const { db, runtime } = await setup({ napUs });
      await runtime.deploy({ name: 'stream', module: await streamCounter() });
      await until('the guest registered its query', () => runtime.status('stream').handles[0]?.handle);
      await until('the worker reported its scheduler slice', () => runtime.workers()[0]?.schedulerSlice);
      const before = runtime.workers()[0]!.wakes;
      let i = 0;
      for (let turn = 0; turn < 100; turn++) {
        for (let k = 0; k < perTurn; k++) db.write('stream', {}, BigInt(++i), i);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await until(`${i} events`, () => results(db).get(1) === i);
      return runtime.workers()[0]!.wakes - before;
    };
    // 50 points a turn is a rate at which the worker naps (50 or more events in 5 ms): the gaps
    // between turns are well inside the 5 ms it naps after events.
    expect(await wakesFor(50, 50)).toBeLessThanOrEqual(25);
    expect(await wakesFor(0, 50)).toBeGreaterThanOrEqual(75);
    // One point a turn is too sparse to nap for: each wakes the worker, as without naps.
    expect(await wakesFor(50, 1)).toBeGreaterThanOrEqual(75);
  });

  it('describes its workers: instances, the scheduler slice their thread got, wakes', async () => {
    const { runtime } = await setup({ workers: 2 });
    expect(runtime.workers()).toEqual([]);
    await runtime.deploy({ name: 'a', module: await streamCounter() });
    await runtime.deploy({ name: 'b', module: await streamCounter() });
    await until('both workers reported their slice', () => runtime.workers().every((w) => w.schedulerSlice !== null));
    const workers = runtime.workers();
    expect(workers.map((w) => w.instances)).toEqual([1, 1]);
    // Linux takes a slice request from any thread (kernels before 6.12 take it and ignore it).
    for (const worker of workers) expect(worker.schedulerSlice).toBe(process.platform === 'linux' ? '200 µs' : expect.stringMatching(/^the kernel's default \(/));
  });

  it('refuses a napUs that is not an integer in 0..1000', async () => {
    const { db } = await setup();
    for (const napUs of [-1, 1001, 2.5, Number.NaN]) {
      await expect(sluice.startWorkflows(db, { napUs })).rejects.toThrow(/napUs must be an integer in 0\.\.1000/);
    }
  });
});

describe('durability', () => {
  it('restarts deployments with their handles, state and undelivered points after a restart', async () => {
    const { db, runtime, dir } = await setup();
    const module = await countingGuest('SUM:orders:[]');
    await runtime.deploy({ name: 'orders', module });
    await until('handle', () => runtime.status('orders').handles[0]?.handle);
    const now = BigInt(Date.now()) * 1000n;
    for (let i = 0; i < 3; i++) db.write('orders', {}, now + BigInt(i), 1);
    await until('3 events', () => results(db).get(1) === 3);
    await runtime.close();
    // Written while no runtime runs: delivered when it is back (the cursor is in point time).
    for (let i = 3; i < 5; i++) db.write('orders', {}, now + BigInt(i), 1);
    const again = await sluice.startWorkflows(db, { pollWaitMs: 100 });
    cleanups.push(() => again.close());
    expect(again.list().map((w) => w.name)).toEqual(['orders']);
    await until('5 events after the restart', () => results(db).get(1) === 5).catch((error) => {
      throw new Error(`${error.message}: ${JSON.stringify(again.status('orders'))} ${again.logs('orders').join('\n')} results ${[...results(db)]}`);
    });
    expect(again.status('orders').handles).toHaveLength(1);
    expect(dir).toBeTruthy();
  });
});
