import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { bindings, sluice } from './helpers/sluice.js';
import { makeTempDir, repoRoot } from './helpers/paths.js';

const { nativeSourceHash } = createRequire(import.meta.url)('../scripts/native-source-hash.js') as {
  nativeSourceHash(): string;
};

const { addon } = bindings.native();

describe('native addon', () => {
  it('was built from the native sources in this checkout, against Node-API 8', () => {
    const info = sluice.nativeInfo();
    expect(info.sourceHash).toBe(nativeSourceHash());
    expect(info.napiVersion).toBe(8);
    expect(info.arch).toBe(process.arch);
    expect(fs.existsSync(info.file)).toBe(true);
  });

  it('sums a Float64Array read in place, equal to a JS sum for integer-valued doubles', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1e6, max: 1e6 }), { maxLength: 300 }), (integers) => {
        const values = Float64Array.from(integers);
        expect(addon.sumFloat64(values)).toBe(integers.reduce((sum, value) => sum + value, 0));
      }),
    );
  });

  it('sums a subarray view, not the whole backing buffer', () => {
    const whole = Float64Array.from([100, 1, 2, 3, 100]);
    expect(addon.sumFloat64(whole.subarray(1, 4))).toBe(6);
    expect(addon.sumBytes(Buffer.from([255, 1, 2, 255]).subarray(1, 3))).toBe(3);
  });

  it('propagates NaN and infinities like JS arithmetic', () => {
    expect(addon.sumFloat64(Float64Array.from([1, Number.NaN]))).toBeNaN();
    expect(addon.sumFloat64(Float64Array.from([1, Infinity]))).toBe(Infinity);
    expect(addon.sumFloat64(Float64Array.from([Infinity, -Infinity]))).toBeNaN();
    expect(addon.sumFloat64(new Float64Array(0))).toBe(0);
  });

  it('returns arrays filled natively, in V8 memory and in native memory', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: -1000, max: 1000 }), (count, start) => {
        const expected = Float64Array.from({ length: count }, (_, i) => start + 0.5 * i);
        expect(addon.fillSequence(count, start, 0.5)).toEqual(expected);
        expect(addon.fillSequenceExternal(count, start, 0.5)).toEqual(expected);
      }),
      { numRuns: 50 },
    );
  });

  it('keeps externally owned arrays valid after many allocations and collections', () => {
    const arrays = Array.from({ length: 200 }, (_, i) => addon.fillSequenceExternal(1000, i, 1));
    for (let round = 0; round < 50; round++) addon.fillSequenceExternal(100_000, 0, 1); // churn native memory
    arrays.forEach((array, i) => expect(array[999]).toBe(i + 999));
  });

  it.runIf(process.platform === 'linux')('sets the scheduler slice of the calling thread only', async () => {
    // In a thread of its own, which reads back what Linux now has for it and for the main thread.
    const { Worker } = await import('node:worker_threads');
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const fs = require('node:fs');
       const { addon } = require(workerData.bindings).native();
       const slice = () => Number(/se\\.slice\\s*:\\s*(\\d+)/.exec(fs.readFileSync('/proc/thread-self/sched', 'utf8'))[1]);
       const before = slice();
       const refused = addon.setThreadSlice(300);
       parentPort.postMessage({ before, refused, after: slice() });`,
      { eval: true, workerData: { bindings: path.join(repoRoot, 'dist/bindings/index.js') } },
    );
    const reply = await new Promise<{ before: number; refused: string | null; after: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(reply.refused).toBeNull();
    expect(reply.after).toBe(300_000);
    expect(reply.before).not.toBe(300_000);
    const mainSched = fs.readFileSync(`/proc/${process.pid}/sched`, 'utf8');
    expect(Number(/se\.slice\s*:\s*(\d+)/.exec(mainSched)![1])).toBe(reply.before);
  });

  it('rejects wrong argument types on the native side with a code, never crashing', () => {
    const unchecked = addon as unknown as Record<string, (...args: unknown[]) => unknown>;
    const bad: [string, unknown[]][] = [
      ['sumFloat64', []],
      ['sumFloat64', [[1, 2]]],
      ['sumFloat64', [new Float32Array(2)]],
      ['sumBytes', [new Uint16Array(2)]],
      ['fillSequence', [-1, 0, 1]],
      ['fillSequence', [1.5, 0, 1]],
      ['fillSequence', [2 ** 40, 0, 1]],
      ['fillSequence', [Number.NaN, 0, 1]],
      ['fillSequenceExternal', [3, 'a', 1]],
      ['fillSequenceExternal', ['3', 0, 1]],
      ['setThreadSlice', []],
      ['setThreadSlice', ['200']],
      ['setThreadSlice', [99]],
      ['setThreadSlice', [100_001]],
      ['setThreadSlice', [150.5]],
      ['setThreadSlice', [Number.NaN]],
    ];
    for (const [name, args] of bad) {
      let caught: unknown;
      try {
        unchecked[name]!(...args);
      } catch (error) {
        caught = error;
      }
      expect(caught, `${name}(${args.map(String).join(', ')})`).toBeInstanceOf(Error);
      expect((caught as { code?: string }).code).toBe('SLUICE_INVALID_ARGUMENT');
      expect((caught as Error).message).toMatch(/^argument \d must be/);
    }
  });
});

describe('loading the addon', () => {
  let cleanup: (() => void) | undefined;
  afterEach(() => cleanup?.());

  it('explains what was tried, on which platform, and how to build from source when nothing loads', () => {
    const temp = makeTempDir();
    cleanup = temp.cleanup;
    let caught: unknown;
    try {
      bindings.loadNativeFrom(temp.dir);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(bindings.NativeLoadError);
    const message = (caught as Error).message;
    expect((caught as { code: string }).code).toBe('SLUICE_NATIVE_LOAD');
    expect(message).toContain(`${process.platform}-${process.arch}`);
    expect(message).toMatch(/glibc \d+\.\d+/);
    expect(message).toContain(path.join(temp.dir, 'build', 'Release', 'sluice.node'));
    expect(message).toContain(path.join(temp.dir, 'prebuilds', `${process.platform}-${process.arch}`));
    expect(message).toContain('npm rebuild sluice');
  });

  it('names the file that exists but does not load, with the loader reason', () => {
    const temp = makeTempDir();
    cleanup = temp.cleanup;
    const release = path.join(temp.dir, 'build', 'Release');
    fs.mkdirSync(release, { recursive: true });
    fs.writeFileSync(path.join(release, 'sluice.node'), 'not an ELF file');
    expect(() => bindings.loadNativeFrom(temp.dir)).toThrow(/invalid ELF header|file too short/);
    expect(() => bindings.loadNativeFrom(temp.dir)).toThrow(path.join(release, 'sluice.node'));
  });

  it('refuses a binary built from other native sources than the ones shipped beside it', () => {
    const temp = makeTempDir();
    cleanup = temp.cleanup;
    for (const entry of ['package.json', 'binding.gyp', 'native', 'scripts/native-source-hash.js']) {
      fs.cpSync(path.join(repoRoot, entry), path.join(temp.dir, entry), { recursive: true });
    }
    fs.mkdirSync(path.join(temp.dir, 'build', 'Release'), { recursive: true });
    fs.copyFileSync(sluice.nativeInfo().file, path.join(temp.dir, 'build', 'Release', 'sluice.node'));
    expect(bindings.loadNativeFrom(temp.dir).file).toContain(temp.dir); // same sources: loads
    fs.appendFileSync(path.join(temp.dir, 'native', 'boundary.cc'), '\n// changed\n');
    let caught: unknown;
    try {
      bindings.loadNativeFrom(temp.dir);
    } catch (error) {
      caught = error;
    }
    expect((caught as { code: string }).code).toBe('SLUICE_NATIVE_STALE');
    expect((caught as Error).message).toContain('npm run build:native');
  });
});
