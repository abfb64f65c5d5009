// The embedded library: `require('sluice')` / `import … from 'sluice'`.
import { native, NativeLoadError } from '../bindings/index.js';

export { version } from './package-info.js';
export { SluiceError, type SluiceErrorCode } from './errors.js';
export { DEFAULT_DATA_DIR, resolveDataDir } from './data-dir.js';
export {
  startServer,
  DEFAULT_HOST,
  DEFAULT_PORT,
  type ServerOptions,
  type SluiceServer,
  type BackendChoice,
  type BackendName,
  type CorsOption,
} from './server/index.js';
export { NativeLoadError };
export { encodeEvents, parseEventFrame, type FrameEvent, type EventFrameBatch } from './ingest/event-frame.js';
export { parseLines, type ParseLinesOptions, type LineProtocolBatch, type LineProtocolPrecision } from './ingest/line-protocol.js';
export {
  open,
  Database,
  type OpenOptions,
  type Durability,
  type Tags,
  type Timestamp,
  type AggregateOp,
  type AggregateQuery,
  type SeriesSelector,
  type DatabaseStats,
  type DownsampleRule,
  type WindowQuery,
  type WindowResult,
  type WindowOutput,
  type WriteOptions,
  type WriteLinesOptions,
  type WriteRemoteWriteOptions,
  type QueryOptions,
} from './tsdb/index.js';
export {
  parseQuery,
  printQuery,
  quantileOf,
  MAX_QUERY_LENGTH,
  type Query,
  type QueryOp,
  type TagFilter,
  type TimeBound,
  type TimeRange,
} from './dsl/index.js';
export type { QueryResult, Bucket, GroupValue, GroupBuckets } from './query/engine.js';
export type { LiveQuery, LiveEvent, LiveOptions, LiveStats, LiveCallback } from './query/live.js';

export interface NativeInfo {
  /** The .node file in use. */
  file: string;
  /** True when it came from prebuilds/ (no compiler was needed). */
  prebuilt: boolean;
  napiVersion: number;
  sourceHash: string;
  arch: string;
  compiler: string;
}

/** Which native binary is in use; throws NativeLoadError (with what was tried) when none loads. */
export function nativeInfo(): NativeInfo {
  const { addon, file, prebuilt } = native();
  return { file, prebuilt, ...addon.buildInfo() };
}
export {
  WorkflowRuntime,
  startWorkflows,
  type WorkflowRuntimeOptions,
  type DeployOptions,
  type WorkflowStatus,
  type WorkerInfo,
  type WorkflowState,
  type HandleStatus,
} from './workflows/runtime.js';
export type { WorkflowLimits } from './workflows/store.js';
