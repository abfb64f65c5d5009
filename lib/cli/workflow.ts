// `sluice workflow <verb>`: manages the Wasm workflows of a running server over HTTP
// (docs/workflows.md). Deployments persist in the server's data directory.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_PORT } from '../server/index.js';
import { parseIntegerArg, parseOrUsageError } from './args.js';
import { EXIT_OK, UsageError, type Command } from './command.js';

const VERBS = ['deploy', 'list', 'status', 'logs', 'stop', 'start', 'remove'] as const;
const DEFAULT_URL = `http://127.0.0.1:${DEFAULT_PORT}`;

async function request(base: string, method: string, pathAndQuery: string, token: string | undefined, body?: Uint8Array): Promise<unknown> {
  const url = new URL(pathAndQuery, base);
  let reply: Response;
  try {
    reply = await fetch(url, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/wasm' } : {}) },
      body,
    });
  } catch (error) {
    throw Object.assign(new Error(`no server answers at ${base} (${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message})`), {
      detail: '  start one with `sluice serve` (or name it with --url); deployments persist in its data directory',
    });
  }
  const text = await reply.text();
  let parsed: { error?: string; code?: string } & Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    throw new Error(`${method} ${url.pathname}: HTTP ${reply.status}: ${text.slice(0, 200)}`);
  }
  if (!reply.ok) throw Object.assign(new Error(parsed.error ?? `HTTP ${reply.status}`), { code: parsed.code });
  return parsed;
}

export const workflowCommand: Command = {
  name: 'workflow',
  summary: 'deploy, list, inspect and stop Wasm workflows on a running server',
  help: `Usage: sluice workflow <verb> [arguments] [options]

  sluice workflow deploy FILE --name N [--env K=V ...] [--memory-mb M] [--cpu-budget-ms T]
  sluice workflow list
  sluice workflow status NAME
  sluice workflow logs NAME [--tail N]
  sluice workflow stop NAME        (stays stopped across restarts)
  sluice workflow start NAME
  sluice workflow remove NAME      (deletes its handles, state and log)

Options:
      --url <url>      the server (default ${DEFAULT_URL}; env SLUICE_URL)
      --token <t>      bearer token with write scope for every namespace (env SLUICE_TOKEN)
  -n, --name <n>       deploy: the workflow's name (default: the file name without .wasm)
  -e, --env <K=V>      deploy: an environment variable for the guest (repeatable)
      --memory-mb <m>  deploy: the guest's memory cap in MiB (default 64)
      --cpu-budget-ms <t>  deploy: how long the guest may run without waiting (default 1000)
      --tail <n>       logs: how many of the newest lines (default 100)
  -h, --help           show this help

The module must follow the workflow ABI (docs/workflows.md): modules built for the seed's
seven host functions run unchanged.`,

  async run(args) {
    const { values, positionals } = parseOrUsageError(() =>
      parseArgs({
        args,
        strict: true,
        allowPositionals: true,
        options: {
          url: { type: 'string' },
          token: { type: 'string' },
          name: { type: 'string', short: 'n' },
          env: { type: 'string', short: 'e', multiple: true },
          'memory-mb': { type: 'string' },
          'cpu-budget-ms': { type: 'string' },
          tail: { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
      }),
    );
    if (values.help || positionals.length === 0) {
      console.log(this.help);
      return EXIT_OK;
    }
    const [verb, target, ...extra] = positionals;
    if (!(VERBS as readonly string[]).includes(verb!)) throw new UsageError(`unknown verb "${verb}"; verbs: ${VERBS.join(', ')}`);
    if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    const base = values.url ?? process.env.SLUICE_URL ?? DEFAULT_URL;
    const token = values.token ?? process.env.SLUICE_TOKEN;
    const print = (value: unknown) => console.log(JSON.stringify(value, null, 2));
    if (verb === 'list') {
      if (target !== undefined) throw new UsageError('list takes no argument');
      const { workflows } = (await request(base, 'GET', '/workflows', token)) as { workflows: Array<{ name: string; state: string; restarts: number; lastError: string | null }> };
      if (workflows.length === 0) console.log('no workflows');
      for (const w of workflows) console.log(`${w.name}\t${w.state}\trestarts=${w.restarts}${w.lastError ? `\tlast error: ${w.lastError}` : ''}`);
      return EXIT_OK;
    }
    if (target === undefined) throw new UsageError(verb === 'deploy' ? 'deploy needs the .wasm file: sluice workflow deploy FILE --name N' : `${verb} needs the workflow's name`);
    if (verb === 'deploy') {
      let bytes: Buffer;
      try {
        bytes = fs.readFileSync(target);
      } catch (error) {
        throw new UsageError(`cannot read ${target}: ${(error as Error).message}`);
      }
      const query = new URLSearchParams({ name: values.name ?? path.basename(target).replace(/\.wasm$/i, '') });
      for (const pair of values.env ?? []) {
        if (pair.indexOf('=') <= 0) throw new UsageError(`--env must be KEY=VALUE, got "${pair}"`);
        query.append('env', pair);
      }
      if (values['memory-mb'] !== undefined) query.set('memoryBytes', String(parseIntegerArg(values['memory-mb'], '--memory-mb', 1, 4096) * 2 ** 20));
      if (values['cpu-budget-ms'] !== undefined) query.set('cpuBudgetMs', String(parseIntegerArg(values['cpu-budget-ms'], '--cpu-budget-ms', 10, 600_000)));
      print(await request(base, 'POST', `/workflows?${query}`, token, bytes));
      return EXIT_OK;
    }
    const name = encodeURIComponent(target);
    if (verb === 'status') print(await request(base, 'GET', `/workflows/${name}`, token));
    else if (verb === 'logs') {
      const tail = values.tail === undefined ? 100 : parseIntegerArg(values.tail, '--tail', 1, 100_000);
      const { lines } = (await request(base, 'GET', `/workflows/${name}/logs?tail=${tail}`, token)) as { lines: string[] };
      for (const line of lines) console.log(line);
    } else if (verb === 'remove') print(await request(base, 'DELETE', `/workflows/${name}`, token));
    else print(await request(base, 'POST', `/workflows/${name}/${verb}`, token));
    return EXIT_OK;
  },
};
