// `sluice query`: runs one query (docs/query.md) against a data directory, or a running server.
import { parseArgs } from 'node:util';
import { DEFAULT_DATA_DIR } from '../data-dir.js';
import type { SluiceError } from '../errors.js';
import { open } from '../tsdb/index.js';
import { parseOrUsageError } from './args.js';
import { EXIT_OK, UsageError, type Command } from './command.js';

export const queryCommand: Command = {
  name: 'query',
  summary: 'run a query such as AVG:temp:[sensor=1]:[1h] and print the result as JSON',
  help: `Usage: sluice query <query> [options]

Runs one query in the sluice query language (docs/query.md) and prints its result as JSON:
a number (null when no point matched), [{t, value}] with a window part, or groups with BY.

  sluice query 'AVG:temp:[sensor=1]:[1h]'
  sluice query 'MAX:cpu:[region=eu AND NOT host=db1]:[1d]:[1h] BY host'

Options:
  -d, --data-dir <dir>  data directory to open (default ./${DEFAULT_DATA_DIR}; env SLUICE_DATA_DIR);
                        it must not be in use by a server: use --url for that
      --url <url>       ask a running server instead (GET <url>/query), e.g. http://127.0.0.1:2077
      --now <us>        the time "now" and durations refer to, in µs since the epoch (default: the clock)
  -h, --help            show this help`,

  async run(args) {
    const { values, positionals } = parseOrUsageError(() =>
      parseArgs({
        args,
        strict: true,
        allowPositionals: true,
        options: {
          'data-dir': { type: 'string', short: 'd' },
          url: { type: 'string' },
          now: { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
      }),
    );
    if (values.help) {
      console.log(this.help);
      return EXIT_OK;
    }
    if (positionals.length !== 1) {
      throw new UsageError(positionals.length === 0 ? 'a query is required, such as AVG:temp:[sensor=1]:[1h]' : `one query at a time (quote it), got ${positionals.length} arguments`);
    }
    const text = positionals[0]!;
    if (values.now !== undefined && !/^-?\d{1,19}$/.test(values.now)) throw new UsageError(`--now must be microseconds since the epoch, got "${values.now}"`);
    if (values.url !== undefined && values['data-dir'] !== undefined) throw new UsageError('use either --url or --data-dir, not both');
    if (values.url !== undefined) {
      const url = new URL('/query', values.url);
      url.searchParams.set('q', text);
      if (values.now !== undefined) url.searchParams.set('now', values.now);
      const reply = await fetch(url);
      const body = (await reply.json()) as { result?: unknown; error?: string; code?: string };
      if (!reply.ok) throw Object.assign(new Error(body.error ?? `HTTP ${reply.status}`), { code: body.code });
      console.log(JSON.stringify(body.result));
      return EXIT_OK;
    }
    let db;
    try {
      db = await open({ dir: values['data-dir'] });
    } catch (error) {
      if ((error as SluiceError).code === 'SLUICE_LOCKED') {
        Object.assign(error as object, { detail: `  a server holds this directory: ask it instead, e.g. sluice query --url http://127.0.0.1:2077 '${text}'` });
      }
      throw error;
    }
    try {
      console.log(JSON.stringify(db.query(text, values.now === undefined ? {} : { now: BigInt(values.now) })));
    } catch (error) {
      const { code, column } = error as SluiceError;
      // Under the one-line error, the query with a caret at the column (main.ts prints `detail`).
      if (code === 'SLUICE_QUERY' && column !== undefined) Object.assign(error as object, { detail: `  ${text}\n  ${' '.repeat(column - 1)}^` });
      throw error;
    } finally {
      await db.close();
    }
    return EXIT_OK;
  },
};
