// The data directory: where it is by default, and the lock that keeps a second process out of it.
import fs from 'node:fs';
import path from 'node:path';
import { SluiceError } from './errors.js';

/** Used when neither an option nor SLUICE_DATA_DIR names a directory: relative to the working directory. */
export const DEFAULT_DATA_DIR = 'sluice-data';

const LOCK_FILE = 'LOCK';

/** The absolute data directory: the option, else $SLUICE_DATA_DIR, else ./sluice-data. */
export function resolveDataDir(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(option ?? env.SLUICE_DATA_DIR ?? DEFAULT_DATA_DIR);
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLockOwner(lockPath: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(lockPath, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Exclusive use of a data directory by this process, until release(). */
export class DataDirLock {
  private released = false;

  private constructor(
    readonly dir: string,
    private readonly lockPath: string,
  ) {}

  /**
   * Creates `dir` if needed and takes its lock. A lock left by a process that no longer runs is
   * taken over; one held by a live process (this one included) is an SLUICE_LOCKED error.
   */
  static acquire(dir: string): DataDirLock {
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (cause) {
      throw new SluiceError('SLUICE_IO', `cannot create data directory ${dir}: ${(cause as Error).message}`, { cause });
    }
    const lockPath = path.join(dir, LOCK_FILE);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(lockPath, `${process.pid}\n`, { flag: 'wx' });
        return new DataDirLock(dir, lockPath);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new SluiceError('SLUICE_IO', `cannot lock data directory ${dir}: ${(error as Error).message}`, {
            cause: error,
          });
        }
      }
      const owner = readLockOwner(lockPath);
      if (owner !== undefined && processIsAlive(owner)) {
        const who = owner === process.pid ? 'this process' : `process ${owner}`;
        throw new SluiceError(
          'SLUICE_LOCKED',
          `data directory ${dir} is in use by ${who} (lock file ${lockPath}); stop it or use another data directory`,
        );
      }
      fs.rmSync(lockPath, { force: true }); // left by a process that is gone
    }
    throw new SluiceError('SLUICE_LOCKED', `data directory ${dir}: another process took its lock while this one started`);
  }

  /** Gives the directory up; safe to call twice. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (readLockOwner(this.lockPath) === process.pid) fs.rmSync(this.lockPath, { force: true });
  }
}
