// What every verb of the `sluice` command provides, and the error that means "bad arguments".

export interface Command {
  name: string;
  /** One line for the verb list. */
  summary: string;
  /** The full --help text. */
  help: string;
  /** Runs the verb; resolves to the process exit code. */
  run(args: string[]): Promise<number>;
}

/** Bad arguments: reported as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
