// The data directory: where it is unless told otherwise. (The engine locks it: native/dir_lock.h.)
import path from 'node:path';

/** Used when neither an option nor SLUICE_DATA_DIR names a directory: relative to the working directory. */
export const DEFAULT_DATA_DIR = 'sluice-data';

/** The absolute data directory: the option, else $SLUICE_DATA_DIR, else ./sluice-data. */
export function resolveDataDir(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(option ?? env.SLUICE_DATA_DIR ?? DEFAULT_DATA_DIR);
}
