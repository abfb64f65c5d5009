import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const repoRoot = path.join(import.meta.dirname, '..', '..');
export const cliBin = path.join(repoRoot, 'dist', 'lib', 'cli', 'bin.js');

/** A fresh temporary directory, removed by the returned cleanup. */
export function makeTempDir(prefix = 'sluice-test-'): { dir: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
