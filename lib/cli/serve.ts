// `sluice serve`: the server on port 2077 and the default data directory.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import type { AuthOption, TokenGrant } from '../server/auth.js';
import { CorsPolicy } from '../server/cors.js';
import { DEFAULT_DATA_DIR } from '../data-dir.js';
import { DEFAULT_HOST, DEFAULT_PORT, startServer, type BackendChoice } from '../server/index.js';
import { version } from '../package-info.js';
import type { Durability } from '../tsdb/index.js';
import { parseChoiceArg, parseIntegerArg, parseOrUsageError } from './args.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command } from './command.js';

const BACKENDS: readonly BackendChoice[] = ['auto', 'uws', 'node'];
const DURABILITIES: readonly Durability[] = ['batch', 'sync', 'none'];

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the server (HTTP on port 2077) on a data directory',
  help: `Usage: sluice serve [options]

Runs the sluice server until SIGINT or SIGTERM.

Options:
  -p, --port <n>        TCP port, 0 for any free one (default ${DEFAULT_PORT}; env SLUICE_PORT)
      --host <addr>     address to bind (default ${DEFAULT_HOST}; env SLUICE_HOST)
  -d, --data-dir <dir>  data directory, created if missing (default ./${DEFAULT_DATA_DIR}; env SLUICE_DATA_DIR)
      --backend <name>  auto | uws | node: uWebSockets.js, or node:http; auto falls back to
                        node:http when uWebSockets.js cannot load (default auto)
      --tokens-file <f> JSON file of auth tokens: [{"token": "...", "scopes": ["read","write"],
                        "namespaces": ["plant1"]}] (env SLUICE_TOKENS_FILE); required when
                        --host is not loopback, unless --no-auth
      --no-auth         no tokens, even beyond loopback (behind a proxy that authenticates)
      --cors <origin>   a web page origin allowed to use the server from a browser, e.g.
                        http://localhost:5173, or * for any (repeatable; default: pages from
                        localhost/127.0.0.1/[::1] when --host is loopback, none otherwise)
      --no-cors         no browser pages at all (requests with an Origin header get 403)
      --durability <m>  batch | sync | none: when writes are acknowledged (default batch:
                        in the log, fsynced within 100 ms; env SLUICE_DURABILITY)
      --wasm <file>     deploy a workflow module at start, named after the file (repeatable;
                        the seed's flag). Deployments persist: see sluice workflow --help
      --http-allow <h>  a host (or host:port, or *) workflows may reach with
                        u_writeback_http (repeatable; default none)
      --workflow-workers <n>  threads shared by all workflows (default 1)
      --workflow-spin-us <n>  µs a workflow worker out of events keeps polling
                        before it sleeps (0-10000, default 0): lower latency
                        under a steady stream, for up to a core of CPU
      --workflow-nap-us <n>  µs of each timed wait of a worker napping for up to
                        5 ms after a dense stream of events (0-1000, default
                        50; 0: no naps)
      --no-workflows    no workflow runtime
  -h, --help            show this help

Endpoints: WebSocket ingest on any path, POST /write and /api/v2/write, GET /query,
GET /metrics, GET /health, /workflows (docs/server.md, docs/workflows.md).`,

  async run(args) {
    const { values } = parseOrUsageError(() =>
      parseArgs({
        args,
        strict: true,
        options: {
          port: { type: 'string', short: 'p' },
          host: { type: 'string' },
          'data-dir': { type: 'string', short: 'd' },
          backend: { type: 'string' },
          durability: { type: 'string' },
          'tokens-file': { type: 'string' },
          'no-auth': { type: 'boolean' },
          cors: { type: 'string', multiple: true },
          'no-cors': { type: 'boolean' },
          wasm: { type: 'string', multiple: true },
          'http-allow': { type: 'string', multiple: true },
          'workflow-workers': { type: 'string' },
          'workflow-spin-us': { type: 'string' },
          'workflow-nap-us': { type: 'string' },
          'no-workflows': { type: 'boolean' },
          help: { type: 'boolean', short: 'h' },
        },
      }),
    );
    if (values.help) {
      console.log(this.help);
      return EXIT_OK;
    }
    const rawPort = values.port ?? process.env.SLUICE_PORT;
    const port = rawPort === undefined ? DEFAULT_PORT : parseIntegerArg(rawPort, '--port', 0, 65535);
    const backend = parseChoiceArg(values.backend ?? 'auto', '--backend', BACKENDS);
    const host = values.host ?? process.env.SLUICE_HOST ?? DEFAULT_HOST;
    const durability = parseChoiceArg(values.durability ?? process.env.SLUICE_DURABILITY ?? 'batch', '--durability', DURABILITIES);

    const tokensFile = values['tokens-file'] ?? process.env.SLUICE_TOKENS_FILE;
    if (tokensFile !== undefined && values['no-auth']) throw new UsageError('use either --tokens-file or --no-auth, not both');
    let auth: AuthOption | undefined = values['no-auth'] ? false : undefined;
    if (tokensFile !== undefined) {
      let tokens: unknown;
      try {
        tokens = JSON.parse(fs.readFileSync(tokensFile, 'utf8'));
      } catch (error) {
        throw new UsageError(`--tokens-file ${tokensFile}: ${(error as Error).message.split('\n')[0]}`);
      }
      auth = { tokens: tokens as TokenGrant[] };
    }
    if (values.cors && values['no-cors']) throw new UsageError('use either --cors or --no-cors, not both');
    const cors = values['no-cors'] ? false : values.cors?.includes('*') && values.cors.length === 1 ? '*' : values.cors;
    try {
      CorsPolicy.of(cors, host); // a bad origin is a usage error (exit 2), not a failure to start
    } catch (error) {
      throw new UsageError(`--cors: ${(error as Error).message.replace(/^cors(\[\d+\])?:? /, '')}`);
    }
    if (values['no-workflows'] && values.wasm) throw new UsageError('--wasm needs the workflow runtime: drop --no-workflows');
    const workers = values['workflow-workers'] === undefined ? 1 : parseIntegerArg(values['workflow-workers'], '--workflow-workers', 1, 64);
    const spinUs = values['workflow-spin-us'] === undefined ? 0 : parseIntegerArg(values['workflow-spin-us'], '--workflow-spin-us', 0, 10_000);
    const napUs = values['workflow-nap-us'] === undefined ? undefined : parseIntegerArg(values['workflow-nap-us'], '--workflow-nap-us', 0, 1000);
    const workflows = values['no-workflows'] ? false : { workers, spinUs, napUs, httpAllow: values['http-allow'] ?? [] };
    const server = await startServer({ host, port, backend, durability, auth, cors, dataDir: values['data-dir'], workflows, wasm: values.wasm ?? [] });
    if (server.fallbackReason) {
      console.error(`sluice serve: using node:http because ${server.fallbackReason}`);
    }
    console.log(`sluice ${version} listening on ${server.url} (backend ${server.backend}, data ${server.dataDir})`);

    return new Promise<number>((resolve) => {
      let stopping = false;
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) {
          console.error(`sluice serve: ${signal} again, exiting without waiting`);
          process.exit(EXIT_FAILURE);
        }
        stopping = true;
        server.close().then(
          () => resolve(EXIT_OK),
          (error: Error) => {
            console.error(`sluice serve: error while stopping: ${error.message}`);
            resolve(EXIT_FAILURE);
          },
        );
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
  },
};
