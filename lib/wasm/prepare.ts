// A workflow module's deploy-time preparation: check it against the ABI, apply binaryen's asyncify
// pass when it imports a host function that suspends (so that many guests waiting in
// u_poll_handle share one thread, each costing only its memory), cap its memory, and make it import
// that memory, so that a worker can hand each new instance one it made while idle (memory-pool.ts).
// binaryen takes ~0.4 s to load and ~0.3 s per module, so this runs once per module, in a
// short-lived worker (prepare-worker.ts), and the result is cached on disk by the runtime.
import { SluiceError } from '../errors.js';
import { checkWorkflowModule, SUSPENDING_FUNCTIONS, type AbiReport } from './abi.js';
import { capMemory, importOwnMemory, readModuleInfo } from './module-info.js';

/** Bumped whenever the preparation changes, so cached prepared modules are redone. */
export const PREPARATION_VERSION = 2;

/** Pages the host adds after the guest's own memory for asyncify's saved stack (256 KiB). */
export const ASYNCIFY_PAGES = 4;

export interface PrepareOptions {
  /** The guest's memory cap in 64 KiB pages (the asyncify pages come on top). */
  memoryPages: number;
}

export interface PreparedModule {
  bytes: Uint8Array;
  report: AbiReport;
  asyncified: boolean;
}

/** Throws SLUICE_WASM listing every ABI problem when the module cannot run as a workflow. */
export function checkModule(bytes: Uint8Array): AbiReport {
  const report = checkWorkflowModule(readModuleInfo(bytes));
  if (report.problems.length > 0) {
    throw new SluiceError('SLUICE_WASM', `the module does not follow the workflow ABI (docs/workflows.md#abi):\n  - ${report.problems.join('\n  - ')}`);
  }
  if (!WebAssembly.validate(bytes)) throw new SluiceError('SLUICE_WASM', 'the module does not validate in this Node.js (a feature it uses may be unsupported)');
  return report;
}

export async function prepareModule(bytes: Uint8Array, options: PrepareOptions): Promise<PreparedModule> {
  const report = checkModule(bytes);
  let out = bytes;
  if (report.suspending.length > 0) {
    const binaryen = (await import('binaryen')).default;
    const module = binaryen.readBinary(bytes);
    try {
      // What V8 in Node 18+ runs without flags: the pass and the optimiser must not use more.
      const F = binaryen.Features;
      module.setFeatures(F.MVP | F.SignExt | F.MutableGlobals | F.BulkMemory | F.BulkMemoryOpt | F.NontrappingFPToInt | F.SIMD128 | F.Multivalue | F.ReferenceTypes);
      binaryen.setPassArgument('asyncify-imports', SUSPENDING_FUNCTIONS.map((name) => `env.${name}`).join(','));
      binaryen.setOptimizeLevel(2);
      binaryen.setShrinkLevel(1);
      module.runPasses(['asyncify']);
      module.optimize();
      if (!module.validate()) throw new SluiceError('SLUICE_WASM', 'the module did not validate after the asyncify pass');
      out = module.emitBinary();
    } finally {
      module.dispose();
    }
  }
  out = importOwnMemory(capMemory(out, options.memoryPages + (report.suspending.length > 0 ? ASYNCIFY_PAGES : 0)));
  return { bytes: out, report, asyncified: report.suspending.length > 0 };
}
