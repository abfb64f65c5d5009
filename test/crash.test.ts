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
function runAndKill(dir: string, durability: string, firstBatch: number, afterMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, dir, durability, String(firstBatch)], { stdio: ['ignore', 'pipe', 'pipe'] });
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
      const acks = [...output.matchAll(/^ack (\d+)$/gm)].map((match) => Number(match[1]));
      resolve(acks.length ? acks[acks.length - 1]! : firstBatch - 1);
    });
  });
}

describe('crash safety', () => {
  it('keeps every acknowledged write across repeated kill -9', async () => {
    const temp = makeTempDir('sluice-crash-');
    try {
      let nextBatch = 0;
      for (let round = 0; round < 8; round++) {
        const durability = round % 3 === 2 ? 'sync' : 'batch';
        const lastAcked = await runAndKill(temp.dir, durability, nextBatch, 30 + Math.floor(Math.random() * 250));
        expect(lastAcked, `round ${round} acknowledged nothing`).toBeGreaterThanOrEqual(nextBatch);

        const db = await sluice.open({ dir: temp.dir });
        try {
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
        } finally {
          await db.close();
        }
        nextBatch = lastAcked + 1;
      }
    } finally {
      temp.cleanup();
    }
  }, 120_000);
});
