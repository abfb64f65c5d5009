// Argument parsing on node:util parseArgs, with its errors turned into one-line usage errors.
import { UsageError } from './command.js';

/** Runs a parseArgs call, turning its errors (unknown flag, missing value, stray argument) into usage errors. */
export function parseOrUsageError<R>(parse: () => R): R {
  try {
    return parse();
  } catch (error) {
    // parseArgs messages are one sentence, sometimes with advice on a second line.
    throw new UsageError((error as Error).message.split('\n')[0] ?? String(error));
  }
}

/** An integer in [min, max] from a flag or environment value; `what` names it in the error. */
export function parseIntegerArg(raw: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw.trim())) throw new UsageError(`${what} must be an integer in ${min}..${max}, got "${raw}"`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw new UsageError(`${what} must be an integer in ${min}..${max}, got ${value}`);
  return value;
}

/** One of `choices`; `what` names it in the error. */
export function parseChoiceArg<C extends string>(raw: string, what: string, choices: readonly C[]): C {
  if (!(choices as readonly string[]).includes(raw)) {
    throw new UsageError(`${what} must be one of ${choices.join(', ')}, got "${raw}"`);
  }
  return raw as C;
}
