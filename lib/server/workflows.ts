// The workflow endpoints (docs/server.md#workflows):
//   GET    /workflows                 every workflow's status
//   POST   /workflows?name=N&env=K=V  deploy the .wasm in the body (also memoryBytes, cpuBudgetMs)
//   GET    /workflows/N               one status
//   GET    /workflows/N/logs?tail=100 its newest log lines
//   POST   /workflows/N/stop, /workflows/N/start
//   DELETE /workflows/N
import type { WorkflowRuntime } from '../workflows/runtime.js';
import { jsonReply, type HttpHandler, type HttpReply } from './http.js';

function failure(error: unknown): HttpReply {
  const { code, message } = error as { code?: string; message: string };
  const status =
    code === 'SLUICE_WORKFLOW' ? 404 : code === 'SLUICE_TOO_LARGE' ? 413 : code?.startsWith('SLUICE_') && code !== 'SLUICE_IO' && code !== 'SLUICE_CLOSED' ? 400 : 500;
  return jsonReply(status, { error: message, code: code ?? 'SLUICE_INTERNAL' });
}

function integerParam(params: URLSearchParams, name: string): number | undefined | HttpReply {
  const raw = params.get(name);
  if (raw === null) return undefined;
  if (!/^\d{1,15}$/.test(raw)) return jsonReply(400, { error: `${name} must be an integer, got ${JSON.stringify(raw)}`, code: 'SLUICE_INVALID_ARGUMENT' });
  return Number(raw);
}

export function deployHandler(runtime: WorkflowRuntime): HttpHandler {
  return async (request) => {
    const params = new URLSearchParams(request.query);
    const name = params.get('name');
    if (!name) return jsonReply(400, { error: 'the workflow name goes in the name parameter: POST /workflows?name=alerts with the .wasm as the body', code: 'SLUICE_INVALID_ARGUMENT' });
    const env: Record<string, string> = {};
    for (const pair of params.getAll('env')) {
      const equals = pair.indexOf('=');
      if (equals <= 0) return jsonReply(400, { error: `env must be KEY=VALUE, got ${JSON.stringify(pair)}`, code: 'SLUICE_INVALID_ARGUMENT' });
      env[pair.slice(0, equals)] = pair.slice(equals + 1);
    }
    const memoryBytes = integerParam(params, 'memoryBytes');
    const cpuBudgetMs = integerParam(params, 'cpuBudgetMs');
    if (typeof memoryBytes === 'object') return memoryBytes;
    if (typeof cpuBudgetMs === 'object') return cpuBudgetMs;
    try {
      const status = await runtime.deploy({ name, module: request.body, env, memoryBytes, cpuBudgetMs });
      return jsonReply(201, status);
    } catch (error) {
      return failure(error);
    }
  };
}

export function listHandler(runtime: WorkflowRuntime): HttpHandler {
  return () => jsonReply(200, { workflows: runtime.list(), workers: runtime.workers() });
}

/** Everything under /workflows/: the name, then an optional action. */
export function workflowHandler(runtime: WorkflowRuntime): HttpHandler {
  return async (request) => {
    const parts = request.path.slice('/workflows/'.length).split('/');
    const name = decodeURIComponent(parts[0] ?? '');
    const action = parts.length > 1 ? parts.slice(1).join('/') : '';
    const route = `${request.method} ${action}`;
    try {
      switch (route) {
        case 'GET ':
        case 'HEAD ':
          return jsonReply(200, runtime.status(name));
        case 'GET logs':
        case 'HEAD logs': {
          const tail = integerParam(new URLSearchParams(request.query), 'tail');
          if (typeof tail === 'object') return tail;
          return jsonReply(200, { name, lines: runtime.logs(name, tail ?? 100) });
        }
        case 'POST stop':
          return jsonReply(200, await runtime.stop(name));
        case 'POST start':
          return jsonReply(200, await runtime.start(name));
        case 'DELETE ':
          await runtime.remove(name);
          return jsonReply(200, { removed: name });
        default:
          return jsonReply(404, { error: `no such endpoint: ${request.method} ${request.path} (GET /workflows/NAME, GET .../logs, POST .../stop, POST .../start, DELETE /workflows/NAME)`, code: 'SLUICE_NOT_FOUND' });
      }
    } catch (error) {
      return failure(error);
    }
  };
}
