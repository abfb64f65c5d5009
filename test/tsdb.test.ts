import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir, repoRoot } from './helpers/paths.js';
import { ReferenceSeries } from './helpers/reference.js';
import { sluice } from './helpers/sluice.js';

type Database = Awaited<ReturnType<typeof sluice.open>>;
type WindowOutput = Parameters<Database['aggregateWindows']>[1] & object;
const OPS = ['count', 'sum', 'avg', 'min', 'max', 'first', 'last'] as const;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const temp = makeTempDir('sluice-db-');
  cleanups.push(temp.cleanup);
  return temp.dir;
}

async function openDb(dir: string, options: Parameters<typeof sluice.open>[0] = {}): Promise<Database> {
  const db = await sluice.open({ dir, ...options });
  cleanups.push(() => db.close());
  return db;
}

function expectClose(actual: number | null, expected: number | null, what: string): void {
  if (expected === null || actual === null) {
    expect(actual, what).toBe(expected);
  } else {
    expect(Math.abs(actual - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
  }
}

describe('embedded database', () => {
  it('answers aggregates and scans from memory and from segments alike', async () => {
    const db = await openDb(tempDir());
    const timestamps = BigInt64Array.from({ length: 10_000 }, (_, i) => 1_700_000_000_000_000n + BigInt(i) * 10_000_000n);
    const values = Float64Array.from({ length: 10_000 }, (_, i) => Math.round(Math.sin(i / 50) * 10_000) / 100);
    db.writeBatch('temp', { sensor: '1' }, timestamps, values);
    db.write('temp', { sensor: '2' }, 1_700_000_000_000_000n, 99.5);
    const reference = new ReferenceSeries();
    timestamps.forEach((t, i) => reference.write(t, values[i]!));
    const start = timestamps[1234]!;
    const end = timestamps[8765]!;
    for (const phase of ['memtable', 'segment']) {
      for (const op of OPS) {
        expectClose(db.aggregate({ series: 'temp', tags: { sensor: '1' }, start, end, op }), reference.aggregate(op, start, end), `${phase} ${op}`);
      }
      const scanned = [...db.scan({ series: 'temp', tags: { sensor: '1' }, start, end })];
      expect(scanned).toEqual(reference.range(start, end));
      expect(db.aggregate({ series: 'temp', tags: { sensor: '2' }, op: 'last' })).toBe(99.5);
      await db.flush();
      expect(db.stats().segments).toBe(1);
    }
  });

  it('matches a brute-force reference for random writes, duplicates, out-of-order points and flushes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            points: fc.array(fc.tuple(fc.integer({ min: 0, max: 500 }), fc.double({ min: -1e6, max: 1e6, noNaN: true })), {
              minLength: 1,
              maxLength: 60,
            }),
            flushAfter: fc.boolean(),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        fc.array(fc.tuple(fc.integer({ min: -10, max: 510 }), fc.integer({ min: -10, max: 510 })), { minLength: 1, maxLength: 5 }),
        async (batches, ranges) => {
          const dir = fs.mkdtempSync(path.join(tempDir(), 'p'));
          const db = await sluice.open({ dir, durability: 'none' });
          try {
            const reference = new ReferenceSeries();
            for (const batch of batches) {
              const ts = BigInt64Array.from(batch.points.map(([t]) => BigInt(t)));
              const vs = Float64Array.from(batch.points.map(([, v]) => v));
              db.writeBatch('s', { k: 'v' }, ts, vs);
              batch.points.forEach(([t, v]) => reference.write(BigInt(t), v));
              if (batch.flushAfter) await db.flush();
            }
            for (const [a, b] of ranges) {
              const start = BigInt(Math.min(a, b));
              const end = BigInt(Math.max(a, b));
              for (const op of OPS) {
                expectClose(db.aggregate({ series: 's', tags: { k: 'v' }, start, end, op }), reference.aggregate(op, start, end), op);
              }
              expect([...db.scan({ series: 's', tags: { k: 'v' }, start, end })]).toEqual(reference.range(start, end));
            }
          } finally {
            await db.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('scans in batches across many blocks without losing or repeating a point', async () => {
    const db = await openDb(tempDir());
    const n = 50_000;
    db.writeBatch('big', {}, Float64Array.from({ length: n }, (_, i) => i * 2), Float64Array.from({ length: n }, (_, i) => i));
    await db.flush();
    let seen = 0;
    for (const batch of db.scanBatches({ series: 'big', batchSize: 7_000 })) {
      for (let i = 0; i < batch.values.length; i++) {
        expect(batch.values[i]).toBe(seen);
        expect(batch.timestamps[i]).toBe(BigInt(seen * 2));
        seen++;
      }
    }
    expect(seen).toBe(n);
  });

  it('identifies a series by its name and tags in any order', async () => {
    const db = await openDb(tempDir());
    db.write('cpu', { host: 'a', region: 'eu' }, 1n, 1);
    db.write('cpu', { region: 'eu', host: 'a' }, 2n, 2);
    db.write('cpu', { host: 'b', region: 'eu' }, 3n, 100);
    expect(db.aggregate({ series: 'cpu', tags: { region: 'eu', host: 'a' }, op: 'count' })).toBe(2);
    expect(db.aggregate({ series: 'cpu', tags: { host: 'a' }, op: 'count' })).toBe(0); // another series
    expect(db.aggregate({ series: 'cpu', tags: { host: 'a' }, op: 'avg' })).toBeNull();
  });

  it('rejects bad arguments with clear errors and writes nothing of a rejected batch', async () => {
    const db = await openDb(tempDir());
    const cases: [() => unknown, RegExp][] = [
      [() => db.write('', {}, 1n, 1), /series must be a non-empty string/],
      [() => db.write('t', { sensor: 1 as unknown as string }, 1n, 1), /tag "sensor" must be a string, got number \(use "1"\)/],
      [() => db.write('t', {}, Number.NaN, 1), /timestamp must be microseconds/],
      [() => db.write('t', {}, 1.5, 1), /timestamp must be microseconds/],
      [() => db.write('t', {}, 2n ** 70n, 1), /outside the int64 range/],
      [() => db.write('t', {}, 1n, '3' as unknown as number), /value must be a number/],
      [() => db.writeBatch('t', {}, new BigInt64Array(2), new Float64Array(3)), /same length/],
      [() => db.writeBatch('t', {}, [1, 2] as unknown as Float64Array, new Float64Array(2)), /BigInt64Array or a Float64Array/],
      [() => db.writeBatch('t', {}, Float64Array.from([1, Number.NaN, 3]), new Float64Array(3)), /timestamps\[1\] is NaN.*nothing was written/],
      [() => db.write('t', { 'bad\nkey': 'x' }, 1n, 1), /control character/],
      [() => db.aggregate({ series: 't', op: 'median' as never }), /op must be one of count, sum, avg, min, max, first, last/],
      [() => db.aggregate({ series: 't', op: 'avg', start: 10n, end: 5n }), /start \(10\) is after end \(5\)/],
    ];
    for (const [call, message] of cases) {
      let caught: unknown;
      try {
        call();
      } catch (error) {
        caught = error;
      }
      expect(caught, String(message)).toBeInstanceOf(sluice.SluiceError);
      expect((caught as { code: string }).code).toBe('SLUICE_INVALID_ARGUMENT');
      expect((caught as Error).message).toMatch(message);
    }
    expect(db.aggregate({ series: 't', op: 'count' })).toBe(0);
    expect(db.stats().memtablePoints).toBe(0);
    await expect(sluice.open({ dir: tempDir(), durability: 'fast' as never })).rejects.toThrow(/durability must be one of sync, batch, none/);
  });

  it('refuses every call after close with SLUICE_CLOSED', async () => {
    const db = await sluice.open({ dir: tempDir() });
    await db.close();
    await db.close();
    expect(() => db.write('t', {}, 1n, 1)).toThrow(expect.objectContaining({ code: 'SLUICE_CLOSED' }));
    expect(() => db.aggregate({ series: 't', op: 'count' })).toThrow(/closed/);
    await expect(db.flush()).rejects.toMatchObject({ code: 'SLUICE_CLOSED' });
  });

  it('close waits for a flush in progress', async () => {
    const dir = tempDir();
    const db = await sluice.open({ dir });
    db.writeBatch('w', {}, Float64Array.from({ length: 200_000 }, (_, i) => i), new Float64Array(200_000).fill(1));
    const flushing = db.flush();
    await db.close();
    await flushing;
    const reopened = await openDb(dir);
    expect(reopened.stats().segments).toBe(1);
    expect(reopened.aggregate({ series: 'w', op: 'sum' })).toBe(200_000);
  });
});

describe('durability and recovery', () => {
  for (const durability of ['sync', 'batch'] as const) {
    it(`recovers unflushed writes from the log after a restart (${durability})`, async () => {
      const dir = tempDir();
      const db = await sluice.open({ dir, durability });
      db.writeBatch('r', { a: 'b' }, BigInt64Array.from([1n, 2n, 3n]), Float64Array.from([1, 2, 3]));
      db.write('r', { a: 'b' }, 2n, 20); // overwrite: last write wins after recovery too
      await db.close();
      const reopened = await openDb(dir);
      expect([...reopened.scan({ series: 'r', tags: { a: 'b' } })]).toEqual([[1n, 1], [2n, 20], [3n, 3]]);
      expect(reopened.stats().recoveredPoints).toBe(4);
    });
  }

  it('flushes by itself when the memtable passes its budget, and keeps every point', async () => {
    const dir = tempDir();
    const db = await sluice.open({ dir, memtableBytes: 1 << 16 });
    for (let batch = 0; batch < 40; batch++) {
      db.writeBatch('f', {}, Float64Array.from({ length: 1000 }, (_, i) => batch * 1000 + i), new Float64Array(1000).fill(batch));
    }
    await db.flush();
    expect(db.stats().flushes).toBeGreaterThan(5);
    expect(db.aggregate({ series: 'f', op: 'count' })).toBe(40_000);
    await db.close();
    const reopened = await openDb(dir);
    expect(reopened.aggregate({ series: 'f', op: 'sum' })).toBe(1000 * ((39 * 40) / 2));
    expect(fs.readdirSync(path.join(dir, 'wal')).length).toBeLessThanOrEqual(2); // flushed logs are deleted
  });

  it('cuts a torn log tail on recovery and keeps every whole record', async () => {
    const dir = tempDir();
    const db = await sluice.open({ dir });
    db.writeBatch('t', {}, BigInt64Array.from([1n, 2n]), Float64Array.from([1, 2]));
    db.writeBatch('t', {}, BigInt64Array.from([3n, 4n]), Float64Array.from([3, 4]));
    await db.close();
    const walDir = path.join(dir, 'wal');
    const file = path.join(walDir, fs.readdirSync(walDir).sort().at(-1)!);
    const size = fs.statSync(file).size;
    fs.truncateSync(file, size - 5); // the second record loses its end
    fs.appendFileSync(file, Buffer.from([1, 2, 3])); // and garbage follows
    const reopened = await openDb(dir);
    expect([...reopened.scan({ series: 't' })]).toEqual([[1n, 1], [2n, 2]]);
    expect(reopened.stats().recoveredTruncatedBytes).toBeGreaterThan(0);
  });

  it('after kill -9, reads back a preallocated log file and does not count its unused zeros as torn', async () => {
    const dir = tempDir();
    const script = `
      const { open } = require(${JSON.stringify(path.join(repoRoot, 'dist', 'lib', 'index.js'))});
      (async () => {
        const db = await open({ dir: ${JSON.stringify(dir)}, durability: 'batch' });
        for (let i = 0; i < 1000; i++) db.write('z', { k: 'v' }, i, i * 0.5);
        process.stdout.write('written\\n');
        setInterval(() => {}, 1000);
      })();`;
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('written') && resolve()));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('exit', resolve));
    const walDir = path.join(dir, 'wal');
    const sizes = fs.readdirSync(walDir).map((name) => fs.statSync(path.join(walDir, name)).size);
    expect(Math.max(...sizes), 'the log file was preallocated past its records').toBeGreaterThan(1000 * 40);
    const reopened = await openDb(dir);
    expect(reopened.stats().recoveredPoints).toBe(1000);
    expect(reopened.stats().recoveredTruncatedBytes).toBe(0);
    expect(reopened.aggregate({ series: 'z', tags: { k: 'v' }, op: 'sum' })).toBe((999 * 1000 * 0.5) / 2);
  });

  it('detects a flipped byte in a segment block, names the file and block, and serves the rest', async () => {
    const dir = tempDir();
    const db = await sluice.open({ dir });
    // Random doubles do not compress: the block of "a" is ~800 bytes, so a byte near its start is inside it.
    db.writeBatch('a', {}, Float64Array.from({ length: 100 }, (_, i) => i), Float64Array.from({ length: 100 }, () => Math.random()));
    db.writeBatch('b', {}, Float64Array.from({ length: 100 }, (_, i) => i), new Float64Array(100).fill(2));
    await db.flush();
    await db.close();
    const segmentDir = path.join(dir, 'segments');
    const file = path.join(segmentDir, fs.readdirSync(segmentDir)[0]!);
    const bytes = fs.readFileSync(file);
    bytes[8 + 100] = bytes[8 + 100]! ^ 0xff; // inside the first block (series "a": keys are sorted)
    fs.writeFileSync(file, bytes);
    const reopened = await openDb(dir);
    let caught: unknown;
    try {
      reopened.aggregate({ series: 'a', op: 'sum', start: 10, end: 20 });
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: 'SLUICE_CORRUPT' });
    expect(reopened.aggregate({ series: 'a', op: 'count' })).toBe(100); // whole blocks answer from the index
    expect((caught as Error).message).toContain(file);
    expect((caught as Error).message).toMatch(/block 0 .*checksum/);
    expect(reopened.aggregate({ series: 'b', op: 'sum' })).toBe(200);
  });

  it('shares one engine with worker threads writing to the same directory', async () => {
    const dir = tempDir();
    const db = await openDb(dir);
    const workerScript = `
      const { workerData, parentPort } = require('node:worker_threads');
      const { open } = require(${JSON.stringify(path.join(repoRoot, 'dist', 'lib', 'index.js'))});
      (async () => {
        const db = await open({ dir: workerData.dir });
        const n = 10000;
        db.writeBatch('workers', { id: String(workerData.id) }, Float64Array.from({ length: n }, (_, i) => i), new Float64Array(n).fill(workerData.id));
        await db.close();
        parentPort.postMessage('done');
      })();`;
    await Promise.all(
      [1, 2, 3].map(
        (id) =>
          new Promise<void>((resolve, reject) => {
            const worker = new Worker(workerScript, { eval: true, workerData: { dir, id } });
            worker.on('message', () => resolve());
            worker.on('error', reject);
          }),
      ),
    );
    for (const id of [1, 2, 3]) {
      expect(db.aggregate({ series: 'workers', tags: { id: String(id) }, op: 'sum' })).toBe(10000 * id);
    }
  });
});

describe('compaction and retention', () => {
  it('compact() merges every segment into one, newest writes winning, answers unchanged', async () => {
    const dir = tempDir();
    const db = await openDb(dir);
    const reference = new ReferenceSeries();
    for (let round = 0; round < 5; round++) {
      // Overlapping rounds: each rewrites half of the previous one's timestamps.
      const ts = BigInt64Array.from({ length: 3000 }, (_, i) => BigInt(round * 1500 + i));
      const vs = Float64Array.from({ length: 3000 }, (_, i) => round * 10_000 + i);
      db.writeBatch('c', { k: '1' }, ts, vs);
      db.writeBatch('other', {}, ts, vs);
      ts.forEach((t, i) => reference.write(t, vs[i]!));
      await db.flush();
    }
    expect(db.stats().segments).toBeGreaterThanOrEqual(2);
    const before = [...db.scan({ series: 'c', tags: { k: '1' } })];
    expect(before).toEqual(reference.range(-(2n ** 63n), 2n ** 63n - 1n));
    await db.compact();
    expect(db.stats().segments).toBe(1);
    expect(fs.readdirSync(path.join(dir, 'segments')).filter((name) => name.endsWith('.seg'))).toHaveLength(1);
    expect([...db.scan({ series: 'c', tags: { k: '1' } })]).toEqual(before);
    for (const op of OPS) {
      expectClose(db.aggregate({ series: 'c', tags: { k: '1' }, start: 700n, end: 7000n, op }), reference.aggregate(op, 700n, 7000n), op);
    }
    await db.close();
    const reopened = await openDb(dir);
    expect([...reopened.scan({ series: 'c', tags: { k: '1' } })]).toEqual(before);
    expect(reopened.aggregate({ series: 'other', op: 'count' })).toBe(before.length);
  });

  it('merges similar-sized segments in the background so their number stays bounded', async () => {
    const db = await openDb(tempDir());
    for (let round = 0; round < 16; round++) {
      db.writeBatch('bg', {}, Float64Array.from({ length: 2000 }, (_, i) => round * 2000 + i), new Float64Array(2000).fill(round));
      await db.flush();
    }
    const deadline = Date.now() + 10_000;
    while (db.stats().segments > 4 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(db.stats().segments).toBeLessThanOrEqual(4);
    expect(db.stats().compactions).toBeGreaterThan(0);
    expect(db.aggregate({ series: 'bg', op: 'count' })).toBe(32_000);
    expect(db.aggregate({ series: 'bg', op: 'sum' })).toBe(2000 * ((15 * 16) / 2));
  });

  it('drops whole segments past the retention age, over simulated time', async () => {
    const day = 86_400_000_000n;
    // Background merges off, so each simulated day stays its own segment; data in the future, so
    // the background retention pass (real clock) leaves it alone.
    const db = await openDb(tempDir(), { retention: '7d', compactionTrigger: 0 });
    const start = BigInt(Date.now()) * 1000n + 100n * day;
    for (let d = 0n; d < 10n; d++) {
      db.writeBatch('ret', {}, BigInt64Array.from([start + d * day, start + d * day + 1n]), Float64Array.from([Number(d), Number(d)]));
      await db.flush(); // one segment per simulated day
    }
    expect(db.stats().segments).toBe(10);
    expect(db.applyRetention(start + 5n * day)).toBe(0); // nothing older than 7 days yet
    const dropped = db.applyRetention(start + 12n * day); // cutoff: day 5
    expect(dropped).toBe(5);
    expect(db.stats().segmentsDroppedByRetention).toBe(5);
    expect(db.aggregate({ series: 'ret', op: 'min' })).toBe(5);
    expect(db.aggregate({ series: 'ret', op: 'count' })).toBe(10);
  });

  it('rejects a retention it cannot read', async () => {
    for (const retention of ['7', '7y', '-1d', '0d', 'd']) {
      await expect(sluice.open({ dir: tempDir(), retention })).rejects.toThrow(/retention must be a positive whole number with a unit s, m, h, d or w/);
    }
  });
});

describe('downsampling', () => {
  it('writes 1 m avg/min/max rollups equal to a brute-force computation, and redoes a bucket for late points', async () => {
    const dir = tempDir();
    const db = await openDb(dir, { downsample: [{ series: 'temp', every: '1m' }] });
    const minute = 60_000_000n;
    const base = 1_700_000_040_000_000n; // not aligned to a minute: the first bucket is partial
    const reference = new Map<bigint, number[]>();
    const write = (t: bigint, v: number) => {
      db.write('temp', { sensor: 'a b' }, t, v);
      const bucket = t - (t % minute);
      reference.set(bucket, [...(reference.get(bucket) ?? []), v]);
    };
    // Two hours at 7 s intervals over three flushes: buckets straddle flush boundaries.
    for (let i = 0; i < 1029; i++) {
      write(base + BigInt(i) * 7_000_000n, Math.round(Math.cos(i / 9) * 1000) / 10);
      if (i === 300 || i === 700) await db.flush();
    }
    await db.flush();
    write(base + 10n * minute + 1n, 1e6); // late point into an old bucket
    await db.flush();
    await db.flush(); // the rollups written after the last flush are in memory or a segment: both are read
    for (const [op, compute] of [
      ['avg', (vs: number[]) => vs.reduce((a, b) => a + b, 0) / vs.length],
      ['min', (vs: number[]) => Math.min(...vs)],
      ['max', (vs: number[]) => Math.max(...vs)],
    ] as const) {
      const rolled = [...db.scan({ series: `temp.${op}_1m`, tags: { sensor: 'a b' } })];
      expect(rolled.map(([t]) => t)).toEqual([...reference.keys()].sort((a, b) => (a < b ? -1 : 1)));
      for (const [t, v] of rolled) expectClose(v, compute(reference.get(t)!), `${op} at ${t}`);
    }
    expect(db.stats().backgroundError).toBeNull();
  });

  it('rejects rules it cannot apply', async () => {
    await expect(sluice.open({ dir: tempDir(), downsample: [{ series: 'x', every: '1y' }] })).rejects.toThrow(/downsample\[0\]\.every must be/);
    await expect(sluice.open({ dir: tempDir(), downsample: [{ series: 'x', every: '1m', ops: ['p99' as never] }] })).rejects.toThrow(
      /downsample\[0\]\.ops: p99 is not one of/,
    );
    await expect(sluice.open({ dir: tempDir(), downsample: [{ series: '', every: '1m' }] })).rejects.toThrow(/series must be a non-empty string/);
  });
});

describe('writeLines', () => {
  it('stores line protocol points under the series the measurement and field name', async () => {
    const db = await openDb(tempDir());
    const result = db.writeLines(
      [
        'temp,sensor=1 value=21.5 1700000000000000000',
        'temp,sensor=1 value=22.5 1700000001000000000',
        'cpu,host=a,region=eu usage_idle=90i,usage_user=3.5,up=true,label="x y" 1700000000000000000',
      ].join('\n'),
    );
    expect(result).toEqual({ points: 5, skippedStringFields: 1 });
    expect(db.aggregate({ series: 'temp', tags: { sensor: '1' }, op: 'avg' })).toBe(22);
    expect([...db.scan({ series: 'temp', tags: { sensor: '1' } })].map(([t]) => t)).toEqual([1700000000000000n, 1700000001000000n]);
    expect(db.aggregate({ series: 'cpu_usage_idle', tags: { region: 'eu', host: 'a' }, op: 'last' })).toBe(90);
    expect(db.aggregate({ series: 'cpu_usage_user', tags: { region: 'eu', host: 'a' }, op: 'last' })).toBe(3.5);
    expect(db.aggregate({ series: 'cpu_up', tags: { region: 'eu', host: 'a' }, op: 'last' })).toBe(1);
    db.writeLines('temp,sensor=1 value=30 1700000002', { precision: 's' });
    expect(db.aggregate({ series: 'temp', tags: { sensor: '1' }, op: 'last' })).toBe(30);
  });

  it('writes nothing of an input with a malformed line, and says where', async () => {
    const db = await openDb(tempDir());
    let caught: unknown;
    try {
      db.writeLines('ok value=1 1\nok value=2 2\nbad value= 3\n', { precision: 'us' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(sluice.SluiceError);
    expect(caught).toMatchObject({ code: 'SLUICE_PARSE', line: 3 });
    expect((caught as Error).message).toMatch(/^line 3, column \d+: /);
    expect(db.aggregate({ series: 'ok', op: 'count' })).toBe(0);
    expect(() => db.writeLines('x value=1', { precision: 'minutes' as never })).toThrow(/precision must be one of/);
  });

  it('recovers line protocol writes of many series from the log', async () => {
    const dir = tempDir();
    const db = await sluice.open({ dir });
    const lines = Array.from({ length: 300 }, (_, i) => `m,host=h${i % 7} value=${i} ${i}`).join('\n');
    db.writeLines(lines, { precision: 'us' });
    await db.close();
    const reopened = await openDb(dir);
    let total = 0;
    for (let h = 0; h < 7; h++) total += reopened.aggregate({ series: 'm', tags: { host: `h${h}` }, op: 'sum' })!;
    expect(total).toBe((299 * 300) / 2);
  });
});

describe('tumbling windows', () => {
  it('aggregates per epoch-aligned window like a brute-force grouping, from memory and segments', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.integer({ min: -600_000_000, max: 600_000_000 }),
            // Integers and 2-decimal values make decimal blocks (aggregated on their scaled
            // integers); arbitrary doubles make the others.
            fc.oneof(
              fc.integer({ min: -1000, max: 1000 }),
              fc.integer({ min: -100_000, max: 100_000 }).map((cents) => cents / 100),
              fc.double({ min: -1e6, max: 1e6, noNaN: true }),
            ),
          ),
          { minLength: 1, maxLength: 300 },
        ),
        fc.constantFrom('1s', '7s', '1m', '1h'),
        fc.constantFrom(...OPS),
        fc.boolean(),
        fc.boolean(),
        async (points, every, op, flushHalf, decimalsOnly) => {
          if (decimalsOnly) points = points.map(([t, v]) => [t, Math.round(v * 100) / 100]);
          const dir = fs.mkdtempSync(path.join(tempDir(), 'w'));
          const db = await sluice.open({ dir, durability: 'none' });
          try {
            const reference = new ReferenceSeries();
            const half = Math.floor(points.length / 2);
            const write = (slice: [number, number][]) => {
              if (slice.length === 0) return;
              db.writeBatch('w', {}, Float64Array.from(slice.map(([t]) => t)), Float64Array.from(slice.map(([, v]) => v)));
              slice.forEach(([t, v]) => reference.write(BigInt(t), v));
            };
            write(points.slice(0, half));
            if (flushHalf) await db.flush();
            write(points.slice(half));
            const everyUs = { '1s': 1_000_000n, '7s': 7_000_000n, '1m': 60_000_000n, '1h': 3_600_000_000n }[every];
            const floor = (t: bigint) => (t >= 0n ? t - (t % everyUs) : t - (((t % everyUs) + everyUs) % everyUs));
            const expected = new Map<bigint, bigint>();
            for (const [t] of reference.range(-(2n ** 62n), 2n ** 62n)) expected.set(floor(t), floor(t));
            const result = db.aggregateWindows({ series: 'w', every, op });
            expect([...result.starts]).toEqual([...expected.keys()]);
            result.starts.forEach((start, i) => {
              expectClose(result.values[i]!, reference.aggregate(op, start, start + everyUs - 1n), `${op} ${every} at ${start}`);
            });
          } finally {
            await db.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('aggregates decimal blocks exactly: constant strides, a stride broken mid-block, irregular times, gaps, large values', async () => {
    const BLOCK = 8192; // native/segment.h kBlockPoints
    const EVERY = { '1s': 1_000_000n, '7s': 7_000_000n, '1m': 60_000_000n, '1h': 3_600_000_000n, '1d': 86_400_000_000n };
    const floorTo = (t: bigint, every: bigint) => t - (((t % every) + every) % every);
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          n: fc.integer({ min: 1, max: 20_000 }),
          start: fc.oneof(fc.bigInt({ min: -(2n ** 60n), max: 2n ** 60n }), fc.constantFrom(0n, 1_700_000_000_000_000n, -7n)),
          stride: fc.constantFrom(1n, 999n, 1_000_000n, 10_000_000n, 60_000_000n, 3_600_000_000n),
          pattern: fc.constantFrom('regular', 'broken', 'irregular', 'gap'),
          at: fc.nat(),
          every: fc.constantFrom(...(Object.keys(EVERY) as (keyof typeof EVERY)[])),
          first: fc.oneof(fc.integer({ min: -100_000, max: 100_000 }), fc.constantFrom(2 ** 44, -(2 ** 43))),
          decimals: fc.constantFrom(0, 2, 3),
          seed: fc.integer(),
        }),
        async ({ n, start, stride, pattern, at, every, first, decimals, seed }) => {
          // Timestamps: a constant stride (one breaks at `at`, one jumps there), or random intervals.
          let random = seed >>> 0;
          const next = () => (random = (Math.imul(random, 1664525) + 1013904223) >>> 0);
          const ts: bigint[] = [];
          let t = start;
          for (let i = 0; i < n; i++) {
            ts.push(t);
            const breaks = i + 1 === at % n;
            if (pattern === 'irregular') t += 1n + BigInt(next() % Number(stride * 2n));
            else if (pattern === 'broken' && breaks) t += stride + 1n;
            else if (pattern === 'gap' && breaks) t += stride * 1000n;
            else t += stride;
          }
          // Values: a walk of integers k, written as k / 10^decimals.
          const scale = 10 ** decimals;
          const ks: bigint[] = [];
          let k = first;
          for (let i = 0; i < n; i++) {
            ks.push(BigInt(k));
            k += (next() % 101) - 50;
          }
          const dir = fs.mkdtempSync(path.join(tempDir(), 'x'));
          const db = await sluice.open({ dir, durability: 'none' });
          try {
            db.writeBatch('x', {}, BigInt64Array.from(ts), Float64Array.from(ks, (v) => Number(v) / scale));
            await db.flush();
            // The reference: a block stores its values as integers at the smallest exponent that
            // holds them all; each (window, block) run's sum is that integer sum over 10^e, and a
            // window's sum is its runs' sums added in order.
            const width = EVERY[every];
            const windows = new Map<bigint, { count: number; sum: number; min: number; max: number; first: number; last: number }>();
            for (let b = 0; b < n; b += BLOCK) {
              const end = Math.min(n, b + BLOCK);
              let e = decimals;
              while (e > 0 && ks.slice(b, end).every((v) => v % 10n ** BigInt(decimals - e + 1) === 0n)) e--;
              const factor = 10n ** BigInt(decimals - e);
              for (let i = b; i < end; ) {
                const bucket = floorTo(ts[i]!, width);
                let j = i;
                let sum = 0n;
                const window = windows.get(bucket) ?? { count: 0, sum: 0, min: Infinity, max: -Infinity, first: NaN, last: NaN };
                for (; j < end && floorTo(ts[j]!, width) === bucket; j++) {
                  sum += ks[j]! / factor;
                  const value = Number(ks[j]!) / scale;
                  if (window.count === 0 && j === i) window.first = value;
                  window.min = Math.min(window.min, value);
                  window.max = Math.max(window.max, value);
                  window.last = value;
                }
                window.count += j - i;
                window.sum += Number(sum) / 10 ** e;
                windows.set(bucket, window);
                i = j;
              }
            }
            for (const op of OPS) {
              const result = db.aggregateWindows({ series: 'x', every, op });
              expect(result.starts).toEqual(BigInt64Array.from(windows.keys()));
              const expected = Float64Array.from(windows.values(), (w) =>
                ({ count: w.count, sum: w.sum, avg: w.sum / w.count, min: w.min, max: w.max, first: w.first, last: w.last })[op],
              );
              // Bit for bit (one comparison of the whole column; the first difference is reported).
              const bits = (values: Float64Array) => new BigUint64Array(values.buffer, values.byteOffset, values.length);
              const actual = bits(result.values);
              const wanted = bits(expected);
              const differs = wanted.findIndex((word, i) => word !== actual[i]);
              expect(differs, `${op} ${every} window ${differs}: ${result.values[differs]} vs ${expected[differs]}`).toBe(-1);
            }
          } finally {
            await db.close();
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it('decodes ahead on a helper thread for long narrow-window reads: the same windows, the same corruption error', async () => {
    const n = 200_000; // 25 blocks of 8192, one window per point: native/parallel_decoder.h takes part
    const timestamps = BigInt64Array.from({ length: n }, (_, i) => 1_700_000_000_000_000n + BigInt(i) * 10_000_000n + (i >= 100_000 && i < 100_100 ? 1n : 0n));
    const values = Float64Array.from({ length: n }, (_, i) => Math.round(Math.sin(i / 300) * 100_000) / 100);
    const dir = tempDir();
    const db = await sluice.open({ dir, durability: 'none' });
    db.writeBatch('p', {}, timestamps, values);
    await db.flush();
    // Compared as bytes: bit for bit, and fast on 200,000 rows.
    const bytesOf = (column: Float64Array | BigInt64Array) => Buffer.from(column.buffer, column.byteOffset, column.byteLength);
    const starts = bytesOf(BigInt64Array.from(timestamps, (t) => t - (t % 1_000_000n)));
    for (const op of OPS) {
      const result = db.aggregateWindows({ series: 'p', every: '1s', op });
      expect(bytesOf(result.starts).equals(starts), op).toBe(true);
      expect(bytesOf(result.values).equals(bytesOf(op === 'count' ? new Float64Array(n).fill(1) : values)), op).toBe(true);
    }
    await db.close();
    // A flipped byte in a block near the middle: reported as from a sequential read.
    const segmentDir = path.join(dir, 'segments');
    const file = path.join(segmentDir, fs.readdirSync(segmentDir)[0]!);
    const bytes = fs.readFileSync(file);
    bytes[Math.floor(bytes.length / 2)] = bytes[Math.floor(bytes.length / 2)]! ^ 0xff;
    fs.writeFileSync(file, bytes);
    const reopened = await openDb(dir);
    expect(() => reopened.aggregateWindows({ series: 'p', every: '1s', op: 'avg' })).toThrow(
      expect.objectContaining({ code: 'SLUICE_CORRUPT', message: expect.stringMatching(/block 1[0-9] .*checksum/) }),
    );
  });

  it('cuts long narrow-window reads into time ranges computed side by side: bit for bit one thread\'s windows', async () => {
    // Over 64 Ki points with windows at least an eighth as many as the points, a read is cut
    // into chunks (native/engine.cc, CutIntoChunks) whenever the machine has two cores. The same
    // data read with queryThreads: 1 is the reference. Overlapping segments, unflushed points,
    // gaps and a range that cuts blocks leave some chunks' window bounds loose (their windows are
    // moved together afterwards).
    const EVERY = ['1s', '7s', '1m'] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          batches: fc.array(
            fc.record({
              offset: fc.integer({ min: 0, max: 3_000_000 }), // seconds from the series' origin
              n: fc.integer({ min: 10_000, max: 60_000 }),
              stride: fc.constantFrom(1, 5, 10, 60),
              gapEvery: fc.integer({ min: 0, max: 20_000 }),
              flush: fc.boolean(),
              decimal: fc.boolean(),
            }),
            { minLength: 2, maxLength: 5 },
          ),
          every: fc.constantFrom(...EVERY),
          cutStart: fc.integer({ min: 0, max: 200_000 }),
          cutEnd: fc.integer({ min: 0, max: 200_000 }),
          seed: fc.integer(),
        }),
        async ({ batches, every, cutStart, cutEnd, seed }) => {
          let random = seed >>> 0;
          const next = () => (random = (Math.imul(random, 1664525) + 1013904223) >>> 0);
          const origin = 1_700_000_000_000_000n;
          const dir = fs.mkdtempSync(path.join(tempDir(), 'split'));
          // No background merges: both reads must see the same pieces. A merge between them
          // re-cuts the blocks, and a window's sum may then differ in its last bits.
          let db = await sluice.open({ dir, durability: 'batch', compactionTrigger: 0 });
          let low = Infinity;
          let high = -Infinity;
          for (const batch of batches) {
            const ts = new BigInt64Array(batch.n);
            const values = new Float64Array(batch.n);
            let t = batch.offset;
            for (let i = 0; i < batch.n; i++) {
              ts[i] = origin + BigInt(t) * 1_000_000n;
              values[i] = batch.decimal ? (next() % 100_000) / 100 : (next() / 2 ** 32 - 0.5) * 1e6;
              t += batch.stride + (batch.gapEvery > 0 && i % batch.gapEvery === batch.gapEvery - 1 ? 3600 : 0);
            }
            low = Math.min(low, batch.offset);
            high = Math.max(high, t);
            db.writeBatch('s', {}, ts, values);
            if (batch.flush) await db.flush();
          }
          // Cuts inside the span, each under half of it, so the range is never empty.
          const half = Math.max(1, Math.floor((high - low) / 2));
          const start = origin + BigInt(low + (cutStart % half)) * 1_000_000n + 1n;
          const end = origin + BigInt(high - (cutEnd % half)) * 1_000_000n - 1n;
          const bytesOf = (column: Float64Array | BigInt64Array) => Buffer.from(column.buffer, column.byteOffset, column.byteLength);
          const read = (database: Database) =>
            OPS.map((op) => database.aggregateWindows({ series: 's', start, end, every, op })).map((result) => ({
              starts: bytesOf(result.starts),
              values: bytesOf(result.values),
            }));
          try {
            const side = read(db);
            await db.close();
            // Reopened: the log puts the unflushed points back in memory, the same pieces as before.
            db = await sluice.open({ dir, durability: 'batch', queryThreads: 1, compactionTrigger: 0 });
            const alone = read(db);
            OPS.forEach((op, i) => {
              expect(side[i]!.starts.equals(alone[i]!.starts), `${op} ${every} starts`).toBe(true);
              expect(side[i]!.values.equals(alone[i]!.values), `${op} ${every} values`).toBe(true);
            });
          } finally {
            await db.close();
          }
        },
      ),
      { numRuns: 12 },
    );
  });

  it('refuses a queryThreads that is not an integer in 0..64, creating nothing', async () => {
    for (const queryThreads of [-1, 65, 1.5, Number.NaN]) {
      const dir = path.join(tempDir(), 'never');
      await expect(sluice.open({ dir, queryThreads })).rejects.toThrow(/queryThreads must be an integer in 0\.\.64/);
      expect(fs.existsSync(dir)).toBe(false);
    }
  });

  it('walWrites: mapped preallocates the log file, writev lets it grow record by record; both read back', async () => {
    for (const walWrites of ['mapped', 'writev'] as const) {
      const dir = tempDir();
      const db = await sluice.open({ dir, walWrites });
      for (let i = 0; i < 10; i++) db.write('w', {}, i, i);
      const walDir = path.join(dir, 'wal');
      const largest = Math.max(...fs.readdirSync(walDir).map((name) => fs.statSync(path.join(walDir, name)).size));
      if (walWrites === 'mapped') expect(largest).toBeGreaterThanOrEqual(32 * 2 ** 20);
      else expect(largest).toBeLessThan(4096);
      await db.close();
      const reopened = await openDb(dir);
      expect(reopened.stats().recoveredPoints).toBe(10);
      expect(reopened.aggregate({ series: 'w', op: 'sum' })).toBe(45);
    }
  });

  it('refuses a walWrites other than mapped or writev, creating nothing', async () => {
    for (const walWrites of ['mmap', '', 1]) {
      const dir = path.join(tempDir(), 'never');
      await expect(sluice.open({ dir, walWrites: walWrites as 'mapped' })).rejects.toThrow(/walWrites must be mapped or writev, got/);
      expect(fs.existsSync(dir)).toBe(false);
    }
  });

  it('writes a large result of one-point windows, and a large scan, exactly (windows into new arrays or the caller\'s)', async () => {
    // 300,000 windows (4.8 MB): large enough to be written past the cache (window_writer.h).
    const db = await openDb(tempDir());
    const n = 300_000;
    const origin = 1_700_000_000_000_000n;
    const ts = BigInt64Array.from({ length: n }, (_, i) => origin + BigInt(i) * 10_000_000n + 250_000n);
    // A walk in hundredths, as sensors give: stored as decimals, read back by the decimal path.
    let walk = 5_000;
    const values = Float64Array.from({ length: n }, (_, i) => (walk = Math.min(10_000, Math.max(0, walk + ((i * 7919) % 101) - 50))) / 100);
    db.writeBatch('one', {}, ts, values);
    await db.flush();
    const first = 37;
    const last = n - 41;
    const query = { series: 'one', start: ts[first]!, end: ts[last]!, every: '1s' } as const;
    // The caller's columns on different alignments within a cache line.
    const starts = new BigInt64Array(new ArrayBuffer(8 * (n + 1)), 8, n);
    const into = { starts, values: new Float64Array(n) };
    for (const op of ['avg', 'sum'] as const) {
      const fresh = db.aggregateWindows({ ...query, op });
      const reused = db.aggregateWindows({ ...query, op }, into);
      expect(reused.values.buffer).toBe(into.values.buffer);
      expect(reused.starts.buffer).toBe(into.starts.buffer);
      for (const result of [fresh, reused]) {
        expect(result.starts.length).toBe(last - first + 1);
        let mismatches = 0;
        for (let k = 0; k < result.starts.length; k++) {
          const i = first + k;
          if (result.starts[k] !== ts[i]! - 250_000n || !Object.is(result.values[k], values[i])) mismatches++;
        }
        expect(mismatches, op).toBe(0);
      }
    }
    // The same points scanned in one batch (also copied past the cache: stream_copy.h).
    const [whole] = [...db.scanBatches({ series: 'one', batchSize: n })];
    expect(whole!.timestamps.length).toBe(n);
    expect(Buffer.from(whole!.timestamps.buffer, whole!.timestamps.byteOffset, whole!.timestamps.byteLength).equals(Buffer.from(ts.buffer))).toBe(true);
    expect(Buffer.from(whole!.values.buffer, whole!.values.byteOffset, whole!.values.byteLength).equals(Buffer.from(values.buffer))).toBe(true);
    // Arrays too small for the bound: new ones, the same windows.
    const small = { starts: new BigInt64Array(10), values: new Float64Array(10) };
    const fallback = db.aggregateWindows({ ...query, op: 'avg' }, small);
    expect(fallback.values.buffer).not.toBe(small.values.buffer);
    expect(fallback.values.length).toBe(last - first + 1);
    expect(fallback.values[5]).toBe(values[first + 5]);
  });

  it('refuses into columns that are the wrong type, differ in length or share memory', async () => {
    const db = await openDb(tempDir());
    db.write('s', {}, 1_000_000n, 1);
    const query = { series: 's', every: '1s', op: 'avg' } as const;
    const shared = new ArrayBuffer(8 * 32);
    const cases: [unknown, RegExp][] = [
      [{ starts: new Float64Array(4), values: new Float64Array(4) }, /into\.starts must be a BigInt64Array/],
      [{ starts: new BigInt64Array(4), values: new BigInt64Array(4) }, /into\.values must be a Float64Array/],
      [{ starts: new BigInt64Array(4), values: new Float64Array(5) }, /same length, got 4 and 5/],
      [{ starts: new BigInt64Array(shared, 0, 10), values: new Float64Array(shared, 64, 10) }, /must not share memory/],
      [null, /into must be/],
    ];
    for (const [into, message] of cases) {
      expect(() => db.aggregateWindows(query, into as WindowOutput)).toThrow(message);
    }
    // Side by side in one buffer is fine, and so is memory shared with other threads.
    const result = db.aggregateWindows(query, { starts: new BigInt64Array(shared, 0, 8), values: new Float64Array(shared, 64, 8) });
    expect([...result.values]).toEqual([1]);
    const sharedMemory = new SharedArrayBuffer(8 * 16);
    const onShared = db.aggregateWindows(query, { starts: new BigInt64Array(sharedMemory, 0, 8), values: new Float64Array(sharedMemory, 64, 8) });
    expect(onShared.values.buffer).toBe(sharedMemory);
    expect([...onShared.starts]).toEqual([1_000_000n]);
    // Detached columns hold nothing: new arrays.
    const detached = { starts: new BigInt64Array(8), values: new Float64Array(8) };
    structuredClone(detached.starts.buffer, { transfer: [detached.starts.buffer] });
    structuredClone(detached.values.buffer, { transfer: [detached.values.buffer] });
    expect([...db.aggregateWindows(query, detached).values]).toEqual([1]);
  });

  it('answers windows wider than a block from block summaries and narrow ones by decoding', async () => {
    const db = await openDb(tempDir());
    const n = 20_000;
    db.writeBatch('big', {}, Float64Array.from({ length: n }, (_, i) => i * 10_000_000), Float64Array.from({ length: n }, (_, i) => i % 100));
    await db.flush();
    const daily = db.aggregateWindows({ series: 'big', every: '1d', op: 'count' });
    expect([...daily.values].reduce((a, b) => a + b, 0)).toBe(n);
    const perMinute = db.aggregateWindows({ series: 'big', every: '1m', op: 'sum' });
    expect(perMinute.starts.length).toBe(Math.ceil(n / 6));
    expect(perMinute.values[0]).toBe(0 + 1 + 2 + 3 + 4 + 5);
    expect(() => db.aggregateWindows({ series: 'big', every: '0s', op: 'sum' })).toThrow(/every must be a positive whole number/);
  });
});
