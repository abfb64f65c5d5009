// Where workflows live on disk, inside the data directory:
//   workflows/deployments.json          what is deployed (name, module hash, env, limits, desired state)
//   workflows/modules/<sha256>.wasm      modules as deployed
//   workflows/prepared/<key>.wasm|.json  modules after asyncify and the memory cap (a cache)
//   workflows/<name>/handles.json       live handles with their cursors
//   workflows/<name>/state.log          durable state (state-store.ts)
//   workflows/<name>/log                the workflow's log (the newest 1 MiB, then log.1)
// JSON files are replaced atomically (write, fsync, rename). The periodic save of handles does its
// write and fsync off the main thread (an fsync can take many ms), and only the rename on it.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SluiceError } from '../errors.js';

export interface WorkflowLimits {
  /** Linear memory cap of the guest, bytes (a multiple of 64 KiB). */
  memoryBytes: number;
  /** How long a guest may run without waiting before it is stopped, ms. */
  cpuBudgetMs: number;
}

export interface Deployment {
  name: string;
  sha256: string;
  env: Record<string, string>;
  limits: WorkflowLimits;
  /** `stopped` survives restarts until `start`. */
  desired: 'running' | 'stopped';
  deployedAt: string;
}

export interface PersistedHandle {
  text: string;
  occurrence: number;
  /** Point time (µs) of the newest event the guest acknowledged: a restart replays what came after. */
  cursor: number;
  registeredAt: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_LOG_FILE = 1024 * 1024;

export function checkWorkflowName(name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new SluiceError('SLUICE_INVALID_ARGUMENT', `a workflow name must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit; got ${JSON.stringify(name)}`);
  }
  return name;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function writeAtomically(file: string, data: string | Uint8Array): void {
  const temporary = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(temporary, 'w', 0o644);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temporary, file);
}

/** Temporary files of background writes: unique, so that they never share one with another write. */
let backgroundWrites = 0;

/**
 * writeAtomically with the write and the fsync on libuv's thread pool; the file is replaced only if
 * `stillWanted()` says so once the data is durable (a newer write or a removal may have come since).
 */
async function writeAtomicallyInBackground(file: string, data: string, stillWanted: () => boolean): Promise<void> {
  const temporary = `${file}.${process.pid}.bg${++backgroundWrites}.tmp`;
  const handle = await fs.promises.open(temporary, 'w', 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  // Synchronous from the check on, so nothing can come between the check and the rename.
  if (stillWanted()) fs.renameSync(temporary, file);
  else fs.rmSync(temporary, { force: true });
}

export class WorkflowStore {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = path.join(dataDir, 'workflows');
    fs.mkdirSync(path.join(this.root, 'modules'), { recursive: true });
    fs.mkdirSync(path.join(this.root, 'prepared'), { recursive: true });
  }

  loadDeployments(): Deployment[] {
    const file = path.join(this.root, 'deployments.json');
    if (!fs.existsSync(file)) return [];
    try {
      const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { workflows?: Deployment[] };
      return Array.isArray(parsed.workflows) ? parsed.workflows : [];
    } catch (error) {
      throw new SluiceError('SLUICE_CORRUPT', `${file} is not valid JSON (${(error as Error).message}); fix or remove it`);
    }
  }

  saveDeployments(deployments: Deployment[]): void {
    writeAtomically(path.join(this.root, 'deployments.json'), JSON.stringify({ version: 1, workflows: deployments }, null, 2));
  }

  saveModule(bytes: Uint8Array): string {
    const hash = sha256(bytes);
    const file = path.join(this.root, 'modules', `${hash}.wasm`);
    if (!fs.existsSync(file)) writeAtomically(file, bytes);
    return hash;
  }

  loadModule(hash: string): Uint8Array {
    return fs.readFileSync(path.join(this.root, 'modules', `${hash}.wasm`));
  }

  /** A cached prepared module, or undefined. */
  loadPrepared(key: string): { bytes: Uint8Array; meta: unknown } | undefined {
    const base = path.join(this.root, 'prepared', key);
    try {
      return { bytes: fs.readFileSync(`${base}.wasm`), meta: JSON.parse(fs.readFileSync(`${base}.json`, 'utf8')) };
    } catch {
      return undefined;
    }
  }

  savePrepared(key: string, bytes: Uint8Array, meta: unknown): void {
    const base = path.join(this.root, 'prepared', key);
    writeAtomically(`${base}.wasm`, bytes);
    writeAtomically(`${base}.json`, JSON.stringify(meta));
  }

  workflowDir(name: string): string {
    const dir = path.join(this.root, name);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  loadHandles(name: string): PersistedHandle[] {
    try {
      const parsed = JSON.parse(fs.readFileSync(path.join(this.workflowDir(name), 'handles.json'), 'utf8')) as PersistedHandle[];
      return Array.isArray(parsed) ? parsed : [];
    } catch {
      return [];
    }
  }

  saveHandles(name: string, handles: PersistedHandle[]): void {
    writeAtomically(path.join(this.workflowDir(name), 'handles.json'), JSON.stringify(handles));
  }

  /** saveHandles without blocking the main thread on the fsync; see writeAtomicallyInBackground. */
  saveHandlesInBackground(name: string, handles: PersistedHandle[], stillWanted: () => boolean): Promise<void> {
    return writeAtomicallyInBackground(path.join(this.workflowDir(name), 'handles.json'), JSON.stringify(handles), stillWanted);
  }

  appendLog(name: string, lines: string[]): void {
    const file = path.join(this.workflowDir(name), 'log');
    try {
      if (fs.statSync(file).size > MAX_LOG_FILE) fs.renameSync(file, `${file}.1`);
    } catch {
      // no log yet
    }
    fs.appendFileSync(file, lines.join('\n') + '\n');
  }

  readLog(name: string, tail: number): string[] {
    const dir = path.join(this.root, name);
    const read = (file: string) => {
      try {
        return fs.readFileSync(path.join(dir, file), 'utf8').split('\n').filter((l) => l !== '');
      } catch {
        return [];
      }
    };
    const lines = read('log');
    return (lines.length >= tail ? lines : [...read('log.1'), ...lines]).slice(-tail);
  }

  removeWorkflow(name: string): void {
    fs.rmSync(path.join(this.root, name), { recursive: true, force: true });
  }
}
