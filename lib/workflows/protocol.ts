// Messages between the workflow runtime (main thread) and its workers. Live events do not travel
// here: they go through the worker's EventRing. Everything else is rare or batched per turn.
import type { AbiReport } from '../wasm/abi.js';
import type { ModuleInfo } from '../wasm/module-info.js';
import type { HttpPolicy } from './http-request.js';

export interface WorkerSettings {
  dir: string;
  ring: SharedArrayBuffer;
  /**
   * EventRing the other way: (instance, handle, newest acknowledged sequence) records with no
   * payload, read by the main thread whenever it next looks (no message and no wake per turn).
   */
  acks: SharedArrayBuffer;
  /** Float64Array(2): [start of the running slice in ms since the epoch, or 0][instance id]. */
  watchdog: SharedArrayBuffer;
  pollWaitMs: number;
  /** µs a worker out of events keeps polling its ring before it naps or sleeps. */
  spinUs: number;
  /** µs of each timed wait of a worker napping between events (0: it sleeps until woken at once). */
  napUs: number;
  maxRegionBytes: number;
  http: HttpPolicy;
}

export interface StartInstance {
  type: 'start';
  instance: number;
  name: string;
  /** The compiled module's identity (its prepared bytes and memory cap): the key of guests made ahead. */
  moduleKey: string;
  module: WebAssembly.Module;
  info: ModuleInfo;
  report: AbiReport;
  env: Array<[string, string]>;
  memoryPages: number;
  stateFile: string;
}

export interface StopInstance {
  type: 'stop';
  instance: number;
}

/** Close every instance's files and the database, answer `closed`, then wait to be terminated. */
export interface Shutdown {
  type: 'shutdown';
}

/** Starts that took something the worker made ahead, and starts that made their own. */
export interface SpareCounts {
  madeAhead: number;
  madeAtStart: number;
}

export type ToWorker = StartInstance | StopInstance | Shutdown;

/** How an instance ended (`stopped`: by a stop message). */
export type InstanceState = 'finished' | 'exited' | 'failed' | 'stopped';

export type FromWorker =
  | { type: 'register'; instance: number; handle: number; text: string; occurrence: number }
  | { type: 'free'; instance: number; handle: number }
  // Only when the acks ring is full.
  | { type: 'ack'; instance: number; handle: number; sequence: number }
  | { type: 'write'; instance: number; series: string; tags: Record<string, string>; timestamp: bigint; value: number }
  | { type: 'writeback'; instance: number; producer: number; data: Uint8Array }
  | { type: 'log'; instance: number; line: string }
  | { type: 'state'; instance: number; state: InstanceState; error?: string; code?: number; memoryBytes?: number }
  // The worker's memory pool after an instance started (not about one instance).
  | { type: 'spares'; instance: 0; memories: SpareCounts; guests: SpareCounts };

/** Sent once when a worker starts: the scheduler slice its thread got. */
export interface WorkerScheduling {
  type: 'scheduling';
  slice: string;
}

export interface WorkerBatch {
  type: 'batch';
  messages: FromWorker[];
}
