// The workflow ABI (docs/workflows.md#abi): which imports a module may declare, with which
// signatures, and which exports it must have. Modules built against the seed's signatures (i64
// handles and producer ids, f64 history) and modules that pass everything as i32 both run: each
// host function is wrapped to match the module's declared types.
import type { FunctionType, ModuleInfo, ValueType } from './module-info.js';

/** What a host function returns to the guest. */
type ResultKind =
  /** a handle, a pointer or a count: i32 or i64 */
  | 'int'
  /** a measured value: f64 or f32 (i32/i64 receive it rounded toward zero) */
  | 'float'
  /** a status code: i32 or i64, or no result at all */
  | 'status'
  /** nothing */
  | 'none';

interface HostFunctionSpec {
  params: number;
  result: ResultKind;
}

/** The seed's seven host functions, module `env`. Their semantics are unchanged. */
export const SEED_FUNCTIONS: Readonly<Record<string, HostFunctionSpec>> = {
  u_query_live: { params: 1, result: 'int' },
  u_query_history: { params: 1, result: 'float' },
  u_poll_handle: { params: 1, result: 'int' },
  u_free_handle: { params: 1, result: 'status' },
  u_write_event: { params: 3, result: 'status' },
  u_writeback_ws: { params: 2, result: 'status' },
  u_writeback_http: { params: 3, result: 'int' },
};

/** sluice's additions, module `env`: durable per-workflow state and a log line. */
export const EXTENSION_FUNCTIONS: Readonly<Record<string, HostFunctionSpec>> = {
  u_state_get: { params: 1, result: 'int' },
  u_state_set: { params: 2, result: 'status' },
  u_state_delete: { params: 1, result: 'status' },
  u_log: { params: 1, result: 'status' },
};

/** Host functions that may suspend the guest (asyncify at deploy). */
export const SUSPENDING_FUNCTIONS = ['u_poll_handle', 'u_writeback_http'] as const;

export const WASI_MODULE = 'wasi_snapshot_preview1';

/** The WASI functions sluice implements; any other WASI import answers ENOSYS. */
export const WASI_FUNCTIONS: Readonly<Record<string, FunctionType>> = {
  fd_write: { params: ['i32', 'i32', 'i32', 'i32'], results: ['i32'] },
  environ_get: { params: ['i32', 'i32'], results: ['i32'] },
  environ_sizes_get: { params: ['i32', 'i32'], results: ['i32'] },
  proc_exit: { params: ['i32'], results: [] },
  clock_time_get: { params: ['i32', 'i64', 'i32'], results: ['i32'] },
  random_get: { params: ['i32', 'i32'], results: ['i32'] },
};

export interface AbiReport {
  /** Everything wrong with the module, each naming the import or export; empty when it can run. */
  problems: string[];
  /** `env` functions it imports that suspend the guest: the module needs asyncify when not empty. */
  suspending: string[];
  /** deallocate(ptr) or deallocate(ptr, len). */
  deallocateParams: 1 | 2;
  /** Exports `_initialize` (a WASI reactor): called before `call`. */
  hasInitialize: boolean;
  /** The module imports its memory as env.memory instead of exporting one. */
  importsMemory: boolean;
}

const INTEGER_TYPES: ReadonlySet<ValueType> = new Set(['i32', 'i64']);
const NUMBER_TYPES: ReadonlySet<ValueType> = new Set(['i32', 'i64', 'f32', 'f64']);

function describe(type: FunctionType): string {
  return `(${type.params.join(', ')}) -> (${type.results.join(', ')})`;
}

function sameType(a: FunctionType, b: FunctionType): boolean {
  return a.params.length === b.params.length && a.results.length === b.results.length && a.params.every((p, i) => p === b.params[i]) && a.results.every((r, i) => r === b.results[i]);
}

function resultAccepted(kind: ResultKind, results: ValueType[]): boolean {
  if (kind === 'none') return results.length === 0;
  if (kind === 'status' && results.length === 0) return true;
  if (results.length !== 1) return false;
  return kind === 'float' ? NUMBER_TYPES.has(results[0]!) : INTEGER_TYPES.has(results[0]!);
}

function expectedFor(spec: HostFunctionSpec): string {
  const params = Array.from({ length: spec.params }, () => 'i32|i64').join(', ');
  const result = { int: 'i32|i64', float: 'f64 (or f32, i32, i64)', status: 'i32|i64 or nothing', none: 'nothing' }[spec.result];
  return `(${params}) -> ${result}`;
}

function exportType(info: ModuleInfo, name: string): FunctionType | undefined | null {
  const entry = info.exports.find((e) => e.name === name);
  if (!entry) return undefined;
  if (entry.kind !== 'function') return null;
  const importedFunctions = info.imports.filter((i) => i.kind === 'function');
  if (entry.index < importedFunctions.length) return importedFunctions[entry.index]!.type ?? null;
  return info.functionTypes[entry.index - importedFunctions.length] ?? null;
}

/** Checks a module against the workflow ABI. */
export function checkWorkflowModule(info: ModuleInfo): AbiReport {
  const problems: string[] = [];
  const suspending: string[] = [];
  let importsMemory = false;
  for (const entry of info.imports) {
    const where = `import ${entry.module}.${entry.name}`;
    if (entry.module === 'env' && entry.kind === 'memory' && entry.name === 'memory') {
      importsMemory = true;
      if (entry.memory?.shared) problems.push(`${where}: shared memories are not supported`);
      continue;
    }
    if (entry.kind !== 'function') {
      problems.push(`${where}: a ${entry.kind} import is not provided (only functions, and env.memory)`);
      continue;
    }
    const type = entry.type!;
    if (entry.module === 'env') {
      const spec = SEED_FUNCTIONS[entry.name] ?? EXTENSION_FUNCTIONS[entry.name];
      if (!spec) {
        problems.push(`${where}: unknown host function; env provides ${[...Object.keys(SEED_FUNCTIONS), ...Object.keys(EXTENSION_FUNCTIONS)].join(', ')}`);
        continue;
      }
      if (type.params.length !== spec.params || !type.params.every((p) => INTEGER_TYPES.has(p)) || !resultAccepted(spec.result, type.results)) {
        problems.push(`${where}: declared ${describe(type)}, expected ${expectedFor(spec)}`);
        continue;
      }
      if ((SUSPENDING_FUNCTIONS as readonly string[]).includes(entry.name)) suspending.push(entry.name);
    } else if (entry.module === WASI_MODULE) {
      const known = WASI_FUNCTIONS[entry.name];
      if (known && !sameType(known, type)) problems.push(`${where}: declared ${describe(type)}, WASI defines ${describe(known)}`);
      else if (!known && !(type.results.length === 0 || (type.results.length === 1 && type.results[0] === 'i32'))) {
        problems.push(`${where}: not implemented, and its signature ${describe(type)} cannot answer ENOSYS (an i32)`);
      }
    } else {
      problems.push(`${where}: unknown import module "${entry.module}" (only env and ${WASI_MODULE})`);
    }
  }
  const memory = info.exports.find((e) => e.name === 'memory');
  if (!importsMemory && (!memory || memory.kind !== 'memory')) problems.push('export memory: missing (the host reads and writes Regions in it)');
  const allocate = exportType(info, 'allocate');
  if (!allocate || !sameType(allocate, { params: ['i32'], results: ['i32'] })) {
    problems.push(`export allocate: ${allocate ? `declared ${describe(allocate)}` : 'missing'}, expected (i32) -> (i32)`);
  }
  const deallocate = exportType(info, 'deallocate');
  const deallocateParams = deallocate && deallocate.params.length === 2 ? 2 : 1;
  if (!deallocate || !deallocate.params.every((p) => p === 'i32') || deallocate.params.length < 1 || deallocate.params.length > 2) {
    problems.push(`export deallocate: ${deallocate ? `declared ${describe(deallocate)}` : 'missing'}, expected (i32) or (i32, i32)`);
  }
  const call = exportType(info, 'call');
  if (!call || call.params.length !== 0) problems.push(`export call: ${call ? `declared ${describe(call)}` : 'missing'}, expected a function without parameters`);
  const initialize = exportType(info, '_initialize');
  return { problems, suspending, deallocateParams, hasInitialize: !!initialize && initialize.params.length === 0, importsMemory };
}

type HostImplementation = (...args: number[]) => number | undefined;

/**
 * A host function shaped to the module's declared type: i64 arguments arrive as BigInt and are
 * passed on as numbers (handles and producer ids stay below 2^53), i32 arguments as unsigned
 * numbers (they are pointers), and the result is converted to the declared result type.
 */
export function adaptToSignature(type: FunctionType, implementation: HostImplementation): (...args: unknown[]) => unknown {
  const params = type.params;
  const result = type.results[0];
  const toNumber = params.map((p) => (p === 'i64' ? (v: unknown) => Number(BigInt.asUintN(64, v as bigint)) : (v: unknown) => (v as number) >>> 0));
  const fromNumber =
    result === undefined
      ? () => undefined
      : result === 'i64'
        ? (v: number | undefined) => BigInt(Number.isFinite(v) ? Math.trunc(v!) : 0)
        : result === 'i32'
          ? (v: number | undefined) => (Number.isFinite(v) ? Math.trunc(v!) | 0 : 0)
          : (v: number | undefined) => v ?? 0;
  switch (params.length) {
    case 0:
      return () => fromNumber(implementation());
    case 1:
      return (a) => fromNumber(implementation(toNumber[0]!(a)));
    case 2:
      return (a, b) => fromNumber(implementation(toNumber[0]!(a), toNumber[1]!(b)));
    case 3:
      return (a, b, c) => fromNumber(implementation(toNumber[0]!(a), toNumber[1]!(b), toNumber[2]!(c)));
    default:
      return (...args) => fromNumber(implementation(...args.map((v, i) => toNumber[i]!(v))));
  }
}
