// kill -9 a writer at random moments, many times: after every restart each acknowledged point is
// there with its value, and nothing that was never written.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTempDir } from './helpers/paths.js';
import { sluice } from './helpers/sluice.js';

const writer = path.join(import.meta.dirname, 'fixtures', 'crash-writer.cjs');
const POINTS = 100;
const SERIES = 5;

/** Runs the writer from `firstBatch`, kills it with SIGKILL after `afterMs`, returns the last acknowledged batch. */
function runAndKill(dir: string, durability: string, firstBatch: number, afterMs: number, mode = '', walWrites = 'mapped'): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, dir, durability, String(firstBatch), mode || '-', walWrites], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let errors = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (errors += chunk));
    let killTimer: NodeJS.Timeout | undefined;
    const startTimer = setInterval(() => {
      if (!output.includes('ack')) return; // count from the first acknowledgement, not from process start
      clearInterval(startTimer);
      killTimer = setTimeout(() => child.kill('SIGKILL'), afterMs);
    }, 5);
    child.on('exit', (code, signal) => {
      clearInterval(startTimer);
      clearTimeout(killTimer);
      if (signal !== 'SIGKILL') return reject(new Error(`writer exited with ${code}: ${errors}`));
      const acks = [...output.matchAll(/^ack (\d+)( \d+)?$/gm)].map((match) => Number(match[1]));
      resolve(acks.length ? acks[acks.length - 1]! : firstBatch - 1);
    });
  });
}

type Database = Awaited<ReturnType<typeof sluice.open>>;

/**
 * Eight rounds (or `writer.rounds`): the writer from where the last round's acknowledgements ended, killed at a random
 * moment, then `check` on the reopened directory with the last acknowledged batch.
 */
async function killRounds(
  prefix: string,
  writer: { durability: (round: number) => string; killAfterMs: () => number; mode?: string; rounds?: number; walWrites?: 'mapped' | 'writev' },
  open: Parameters<typeof sluice.open>[0],
  check: (db: Database, round: number, lastAcked: number) => Promise<void> | void,
): Promise<void> {
  const temp = makeTempDir(prefix);
  try {
    let nextBatch = 0;
    for (let round = 0; round < (writer.rounds ?? 8); round++) {
      const lastAcked = await runAndKill(temp.dir, writer.durability(round), nextBatch, writer.killAfterMs(), writer.mode, writer.walWrites);
      expect(lastAcked, `round ${round} acknowledged nothing`).toBeGreaterThanOrEqual(nextBatch);
      const db = await sluice.open({ ...open, dir: temp.dir });
      try {
        await check(db, round, lastAcked);
      } finally {
        await db.close();
      }
      nextBatch = lastAcked + 1;
    }
  } finally {
    temp.cleanup();
  }
}

describe('crash safety', () => {
  it.each(['mapped', 'writev'] as const)('keeps every acknowledged write across repeated kill -9 (walWrites %s)', async (walWrites) => {
    await killRounds(
      'sluice-crash-',
      { durability: (round) => (round % 3 === 2 ? 'sync' : 'batch'), killAfterMs: () => 30 + Math.floor(Math.random() * 250), walWrites, rounds: walWrites === 'mapped' ? 8 : 4 },
      {},
      (db, round, lastAcked) => {
        const maxPoint = (lastAcked + 2) * POINTS; // the batch in flight may be there too, whole or not at all
        for (let s = 0; s < SERIES; s++) {
          const acked = new Set<number>();
          for (let batch = s; batch <= lastAcked; batch += SERIES) acked.add(batch);
          const byBatch = new Map<number, number>();
          const wrong: string[] = [];
          for (const { timestamps, values } of db.scanBatches({ series: `s${s}`, tags: { writer: 'crash' } })) {
            for (let i = 0; i < values.length; i++) {
              const v = values[i]!;
              const batch = Math.floor(v / POINTS);
              // never a value that was not written
              if (v !== Number(timestamps[i]) || v >= maxPoint || batch % SERIES !== s) wrong.push(`${timestamps[i]}=${v}`);
              byBatch.set(batch, (byBatch.get(batch) ?? 0) + 1);
            }
          }
          expect(wrong.slice(0, 5), `round ${round}: points that were never written`).toEqual([]);
          for (const batch of acked) expect(byBatch.get(batch), `round ${round}: batch ${batch} of s${s}`).toBe(POINTS);
          for (const [batch, count] of byBatch) expect(count, `batch ${batch} is whole or absent`).toBe(POINTS);
        }
      },
    );
  }, 120_000);
});

describe('crash safety of large log records', () => {
  it('keeps every acknowledged batch when records fill log files and one outgrows a whole file', async () => {
    // Each run starts with a 35 MB record (bigger than a 32 MiB log file, so it gets a file of its
    // own), then 0.8 MB records that fill files and move on to new ones, killed at a random moment.
    const runs: number[] = []; // the first batch of each run, where its large batch is
    const sizeOf = (batch: number) => (runs.includes(batch) ? 2_200_000 : 50_000);
    let firstOfRun = 0;
    await killRounds(
      'sluice-crash-large-',
      { durability: () => 'batch', killAfterMs: () => 50 + Math.floor(Math.random() * 250), mode: 'large', rounds: 4 },
      {},
      (db, round, lastAcked) => {
        runs.push(firstOfRun);
        const stats = db.stats();
        for (let batch = 0; batch <= lastAcked; batch++) {
          const range = { series: 'large', start: batch * 1e7, end: batch * 1e7 + 1e7 - 1 }; // end is inclusive
          expect(db.aggregate({ ...range, op: 'count' }), `round ${round}: batch ${batch}`).toBe(sizeOf(batch));
          expect(db.aggregate({ ...range, op: 'min' }), `round ${round}: batch ${batch}'s values`).toBe(batch);
          expect(db.aggregate({ ...range, op: 'max' }), `round ${round}: batch ${batch}'s values`).toBe(batch);
        }
        // The batch in flight is whole or absent; nothing after it.
        const inFlight = db.aggregate({ series: 'large', start: (lastAcked + 1) * 1e7, end: (lastAcked + 2) * 1e7 - 1, op: 'count' });
        expect([0, 50_000]).toContain(inFlight);
        expect(db.aggregate({ series: 'large', start: (lastAcked + 2) * 1e7, op: 'count' })).toBe(0);
        expect(stats.recoveredPoints, `round ${round}: the log gave points back`).toBeGreaterThan(0);
        firstOfRun = lastAcked + 1;
      },
    );
  }, 180_000);
});

describe('crash safety of rollups', () => {
  it('gives every bucket its rollups after repeated kill -9, however a crash fell across a flush', async () => {
    // Rollups are written after the flush that triggers them, and the flushed points' log is
    // deleted only after that: a crash in between leaves the points in the log, and the open
    // flushes what the log gives back, which writes their rollups again. So soon after a restart,
    // with no new points, each bucket's rollup is its raw points' aggregate. (That the log goes
    // only once the rollups are synced matters for a machine that stops, which kill -9 is not.)
    const downsample = Array.from({ length: SERIES }, (_, s) => ({ series: `s${s}`, every: '1s', ops: ['count', 'sum'] as ('count' | 'sum')[] }));
    await killRounds(
      'sluice-crash-rollup-',
      { durability: (round) => (round % 2 ? 'sync' : 'batch'), killAfterMs: () => 60 + Math.floor(Math.random() * 300), mode: 'rollups' },
      { downsample },
      async (db, round) => {
        // The first difference between rollups and raw points, or null.
        const mismatch = (): string | null => {
          for (let s = 0; s < SERIES; s++) {
            const tags = { writer: 'crash' };
            const raw = new Map<bigint, { count: number; sum: number }>();
            for (const { timestamps, values } of db.scanBatches({ series: `s${s}`, tags })) {
              timestamps.forEach((t, i) => {
                const bucket = t - (t % 1_000_000n);
                const entry = raw.get(bucket) ?? { count: 0, sum: 0 };
                entry.count += 1;
                entry.sum += values[i]!;
                raw.set(bucket, entry);
              });
            }
            const rollup = (op: string) => {
              const out = new Map<bigint, number>();
              for (const { timestamps, values } of db.scanBatches({ series: `s${s}.${op}_1s`, tags })) timestamps.forEach((t, i) => out.set(t, values[i]!));
              return out;
            };
            const counts = rollup('count');
            const sums = rollup('sum');
            for (const bucket of counts.keys()) if (!raw.has(bucket)) return `s${s}: a count rollup at ${bucket} without points`;
            for (const [bucket, { count, sum }] of raw) {
              if (counts.get(bucket) !== count) return `s${s}: count at ${bucket} is ${counts.get(bucket)}, ${count} points`;
              if (Math.abs(sums.get(bucket)! - sum) > 1e-6 * Math.abs(sum)) return `s${s}: sum at ${bucket} is ${sums.get(bucket)}, points sum to ${sum}`;
            }
          }
          return null;
        };
        // No flush is asked for: the open flushes what the log gave back, in the background.
        const deadline = Date.now() + 10_000;
        while (mismatch() !== null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
        expect(mismatch(), `round ${round}`).toBeNull();
      },
    );
  }, 120_000);
});

describe('crash safety over WebSocket', () => {
  it('keeps every message the server acknowledged across kill -9 of sluice serve', async () => {
    const { startServeProcess } = await import('./helpers/process.js');
    const { default: WebSocket } = await import('ws');
    const temp = makeTempDir('sluice-crash-ws-');
    const PER_MESSAGE = 50;
    try {
      let next = 0;
      for (let round = 0; round < 4; round++) {
        const durability = round % 2 === 0 ? 'batch' : 'sync';
        const server = await startServeProcess(['serve', '--port', '0', '--data-dir', temp.dir, '--durability', durability]);
        const first = next;
        const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/?ack=1`);
        let acked = 0;
        ws.on('message', (data) => (acked = Math.max(acked, (JSON.parse(data.toString()) as { ack: number }).ack)));
        ws.on('error', () => undefined);
        await new Promise((resolve) => ws.once('open', resolve));
        let sent = 0;
        const sender = setInterval(() => {
          const message = first + sent++;
          const events = Array.from({ length: PER_MESSAGE }, (_, i) => ({ series: 'crash', tags: { via: 'ws' }, timestamp: message * PER_MESSAGE + i, value: message }));
          if (ws.readyState === ws.OPEN) ws.send(sluice.encodeEvents(events));
        }, 1);
        // Kill once some messages are acknowledged, at a random moment after.
        await new Promise<void>((resolve) => {
          const wait = setInterval(() => {
            if (acked < 3) return;
            clearInterval(wait);
            setTimeout(resolve, Math.floor(Math.random() * 150));
          }, 5);
        });
        server.child.kill('SIGKILL');
        await server.exited;
        clearInterval(sender);
        ws.terminate();
        const lastAcked = first + acked - 1;

        const db = await sluice.open({ dir: temp.dir });
        try {
          const count = new Map<number, number>();
          for (const { timestamps, values } of db.scanBatches({ series: 'crash', tags: { via: 'ws' } })) {
            for (let i = 0; i < values.length; i++) {
              expect(Math.floor(Number(timestamps[i]) / PER_MESSAGE), 'a point is its message\'s').toBe(values[i]);
              count.set(values[i]!, (count.get(values[i]!) ?? 0) + 1);
            }
          }
          for (let message = 0; message <= lastAcked; message++) {
            expect(count.get(message), `round ${round} (${durability}): acknowledged message ${message}`).toBe(PER_MESSAGE);
          }
          for (const [message, points] of count) expect(points, `message ${message} is whole or absent`).toBe(PER_MESSAGE);
          next = Math.max(lastAcked, ...count.keys()) + 1;
        } finally {
          await db.close();
        }
      }
    } finally {
      temp.cleanup();
    }
  }, 120_000);
});
