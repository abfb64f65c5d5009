// Runs prepareModule() off the main thread: binaryen is synchronous and takes most of a second.
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { SluiceError } from '../errors.js';
import { prepareModule, type PrepareOptions, type PreparedModule } from './prepare.js';

interface PrepareReply {
  ok: boolean;
  prepared?: PreparedModule;
  error?: { code: string; message: string };
}

if (parentPort && (workerData as { sluicePrepare?: boolean } | null)?.sluicePrepare === true) {
  const port = parentPort;
  port.once('message', (request: { bytes: Uint8Array; options: PrepareOptions }) => {
    prepareModule(request.bytes, request.options).then(
      (prepared) => port.postMessage({ ok: true, prepared } satisfies PrepareReply),
      (error: unknown) => {
        const e = error as { code?: string; message?: string };
        port.postMessage({ ok: false, error: { code: e.code ?? 'SLUICE_WASM', message: e.message ?? String(error) } } satisfies PrepareReply);
      },
    );
  });
}

/** prepareModule() in a worker of its own, which ends with it. */
export function prepareInWorker(bytes: Uint8Array, options: PrepareOptions): Promise<PreparedModule> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(__filename, { workerData: { sluicePrepare: true } });
    let settled = false;
    worker.once('message', (reply: PrepareReply) => {
      settled = true;
      void worker.terminate();
      if (reply.ok) resolve(reply.prepared!);
      else reject(new SluiceError((reply.error!.code as 'SLUICE_WASM') ?? 'SLUICE_WASM', reply.error!.message));
    });
    worker.once('error', (error) => {
      if (!settled) reject(new SluiceError('SLUICE_WASM', `preparing the module failed: ${error.message}`));
      settled = true;
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new SluiceError('SLUICE_WASM', `preparing the module failed: its worker exited with code ${code}`));
      settled = true;
    });
    worker.postMessage({ bytes, options });
  });
}
