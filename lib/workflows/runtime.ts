// The workflow runtime (docs/workflows.md), on the main thread: deployments on disk, workers that
// host the guests, the live queries of their handles, and the watchdog.
//
// A handle's live query runs here, for as long as the workflow is deployed, whatever its guest is
// doing: each event gets a sequence number and waits in the handle's bounded backlog until the
// guest acknowledges it (by polling again). So a guest that crashes, is stopped by the watchdog or
// restarts gets the unacknowledged events again once it registers the same query (at-least-once),
// and the cursor (the point time of the newest acknowledged event) lets a restarted process replay
// stored points it had not delivered.
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { SluiceError } from '../errors.js';
import type { InternalLiveOptions, LiveEvent, LiveQuery } from '../query/live.js';
import type { Database } from '../tsdb/index.js';
import type { AbiReport } from '../wasm/abi.js';
import { readModuleInfo, type ModuleInfo } from '../wasm/module-info.js';
import { checkModule, PREPARATION_VERSION } from '../wasm/prepare.js';
import { prepareInWorker } from '../wasm/prepare-worker.js';
import { eventJson, eventJsonRoom, writeEventJson } from './event-json.js';
import { EventRing } from './event-ring.js';
import type { FromWorker, InstanceState, ToWorker, WorkerBatch, WorkerScheduling, WorkerSettings } from './protocol.js';
import { checkWorkflowName, WorkflowStore, type Deployment, type PersistedHandle, type WorkflowLimits } from './store.js';

export { eventJson } from './event-json.js';

export interface WorkflowRuntimeOptions {
  /** Worker threads shared by all workflows (default 1). */
  workers?: number;
  /** How long u_poll_handle waits for an event before it returns 0, ms (default 1000). */
  pollWaitMs?: number;
  /**
   * How long a worker that ran out of events keeps polling its ring before it naps or sleeps, µs
   * (default 0: it does not poll). Under a steady stream it then never needs waking, which takes the
   * cross-thread wake out of the latency, for up to a core of CPU while events keep coming.
   */
  spinUs?: number;
  /**
   * While events come densely (50 or more in the last 5 ms), a worker out of them naps for up to
   * 5 ms after the last, in timed waits of `napUs` µs (default 50; 0: no naps). A napping worker
   * finds the next events itself, on its own core: no cross-thread wake, which on a busy machine
   * the scheduler may queue behind the writer.
   */
  napUs?: number;
  /** Hosts u_writeback_http may reach: `host`, `host:port` or `*` (default none). */
  httpAllow?: string[];
  /** u_writeback_http timeout, ms (default 5000). */
  httpTimeoutMs?: number;
  /** Largest response body u_writeback_http returns, bytes (default 1 MiB). */
  maxHttpResponseBytes?: number;
  /** Unacknowledged events kept per live handle before the oldest is dropped (default 10,000). */
  backlogLimit?: number;
  /** Limits of workflows deployed without their own (default 64 MiB, 1000 ms). */
  defaultLimits?: Partial<WorkflowLimits>;
  /** First and longest wait before a crashed workflow restarts, ms (default 100 and 30,000). */
  restartBackoffMs?: [number, number];
  /** Sends u_writeback_ws data to a producer; false when it is not connected (the server sets it). */
  writeback?: (producer: number, data: Uint8Array) => boolean;
}

export interface DeployOptions {
  name: string;
  /** The module's bytes (.wasm). */
  module: Uint8Array;
  /** Environment the guest reads through WASI environ_get. */
  env?: Record<string, string>;
  memoryBytes?: number;
  cpuBudgetMs?: number;
}

export type WorkflowState = 'starting' | 'running' | 'restarting' | 'finished' | 'stopped' | 'failed';

export interface HandleStatus {
  query: string;
  /** The number the guest holds (0 while its guest is not running). */
  handle: number;
  /** Events the guest acknowledged. */
  delivered: number;
  /** Events waiting for the guest. */
  pending: number;
  /** Events dropped because the backlog was full. */
  dropped: number;
  /** Point time (µs) of the newest acknowledged event. */
  cursor: number;
}

export interface WorkflowStatus {
  name: string;
  state: WorkflowState;
  desired: 'running' | 'stopped';
  moduleSha256: string;
  deployedAt: string;
  /** Names of the environment variables (values are not shown: they may be secrets). */
  env: string[];
  limits: WorkflowLimits;
  restarts: number;
  lastError: string | null;
  startedAt: string | null;
  /** Guest linear memory when last reported, bytes. */
  memoryBytes: number | null;
  handles: HandleStatus[];
}

interface LiveHandle {
  text: string;
  occurrence: number;
  live: LiveQuery | undefined;
  /**
   * Events not acknowledged yet, oldest first, with consecutive sequences ending at
   * nextSequence - 1. Kept as the live query's own event objects: their JSON is written straight
   * into the ring when sent (and again if they are sent again), so no string per event stays alive.
   */
  backlog: LiveEvent[];
  nextSequence: number;
  /** Newest sequence handed to the ring for the current instance. */
  sent: number;
  acked: number;
  cursor: number;
  local: number;
  delivered: number;
  dropped: number;
  registeredAt: string;
}

interface Workflow {
  deployment: Deployment;
  state: WorkflowState;
  instance: number | undefined;
  host: WorkerHost | undefined;
  startedAtMs: number;
  restarts: number;
  consecutiveFailures: number;
  lastError: string | null;
  restartTimer: ReturnType<typeof setTimeout> | undefined;
  handles: LiveHandle[];
  logs: string[];
  unsavedLogs: string[];
  handlesDirty: boolean;
  memoryBytes: number | null;
}

interface Compiled {
  /** The prepared module's identity: its source's hash, memory cap and preparation version. */
  key: string;
  module: WebAssembly.Module;
  info: ModuleInfo;
  report: AbiReport;
}

interface WorkerHost {
  worker: Worker;
  ring: EventRing;
  /** Acknowledgements from the worker (see WorkerSettings.acks); read by drainAcks. */
  acks: EventRing;
  watchdog: Float64Array;
  instances: Set<number>;
  alive: boolean;
  retry: ReturnType<typeof setTimeout> | undefined;
  /** The scheduler slice the worker's thread got, once it has said. */
  slice: string | undefined;
  memories: WorkerInfo['memories'];
  guests: WorkerInfo['guests'];
}

/**
 * One worker thread, as `WorkflowRuntime.workers()` describes it. Its types are spelled out here:
 * the public declarations must not reach protocol.ts, whose types name WebAssembly's.
 */
export interface WorkerInfo {
  /** Workflow instances running on it. */
  instances: number;
  /**
   * The scheduler slice its thread asked Linux for and got ("200 µs"), or "the kernel's default
   * (reason)" when refused; null until the worker has started.
   */
  schedulerSlice: string | null;
  /**
   * Times the main thread woke the worker because events came while it slept. A worker that naps
   * between close events (`napUs`) or spins (`spinUs`) finds them itself and needs no wake.
   */
  wakes: number;
  /**
   * Instances started with a memory the worker made ahead while idle (docs/workflows.md), and with
   * one made as they started (none was ready).
   */
  memories: { madeAhead: number; madeAtStart: number };
  /**
   * Instances started on a guest the worker instantiated ahead while idle, and instances
   * instantiated as they started (none was ready, or the module has a start function).
   */
  guests: { madeAhead: number; madeAtStart: number };
}

const DEFAULT_LIMITS: WorkflowLimits = { memoryBytes: 64 * 2 ** 20, cpuBudgetMs: 1000 };
const RING_BYTES = 4 * 2 ** 20;
/** ~10,000 acknowledgements (24 bytes each) between two reads; more go as messages. */
const ACK_RING_BYTES = 256 * 2 ** 10;
/** The longest spin before a worker sleeps: longer would hold off its event loop (messages, HTTP). */
const MAX_SPIN_US = 10_000;
const DEFAULT_NAP_US = 50;
/** The longest nap: the event loop turns at least once per ms of napping. */
const MAX_NAP_US = 1000;
const LOG_LINES_KEPT = 1000;
const HEALTHY_AFTER_MS = 60_000;
const MAX_ENV = 256;
const MAX_REGION_BYTES = 16 * 2 ** 20;
/** How often the watchdog looks: a guest over its CPU budget is stopped within this much more. */
const WATCHDOG_PERIOD_MS = 50;

function invalid(message: string): SluiceError {
  return new SluiceError('SLUICE_INVALID_ARGUMENT', message);
}

function integerIn(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw invalid(`${what} must be an integer in ${min}..${max}, got ${String(value)}`);
  return value;
}

function checkLimits(limits: Partial<WorkflowLimits>, base: WorkflowLimits): WorkflowLimits {
  const memoryBytes = limits.memoryBytes === undefined ? base.memoryBytes : integerIn(limits.memoryBytes, 'memoryBytes', 65536, 4 * 2 ** 30);
  if (memoryBytes % 65536 !== 0) throw invalid(`memoryBytes must be a multiple of 65536 (one Wasm page), got ${memoryBytes}`);
  const cpuBudgetMs = limits.cpuBudgetMs === undefined ? base.cpuBudgetMs : integerIn(limits.cpuBudgetMs, 'cpuBudgetMs', 10, 600_000);
  return { memoryBytes, cpuBudgetMs };
}

function checkEnv(env: unknown): Record<string, string> {
  if (env === undefined) return {};
  if (typeof env !== 'object' || env === null || Array.isArray(env)) throw invalid('env must be an object of strings, such as { THRESHOLD: "80" }');
  const entries = Object.entries(env);
  if (entries.length > MAX_ENV) throw invalid(`env may hold at most ${MAX_ENV} variables, got ${entries.length}`);
  for (const [key, value] of entries) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(key)) throw invalid(`env name ${JSON.stringify(key)} must be letters, digits and _ (not starting with a digit)`);
    if (typeof value !== 'string' || value.length > 64 * 1024 || value.includes('\0')) throw invalid(`env ${key} must be a string of at most 65536 characters without NUL`);
  }
  return { ...(env as Record<string, string>) };
}

/** The sequence of the oldest event in a handle's backlog (nextSequence when it is empty). */
function firstSequence(handle: LiveHandle): number {
  return handle.nextSequence - handle.backlog.length;
}

/** Writes an event's JSON into the ring as one record; false when the ring has no room now. */
function pushEvent(ring: EventRing, instance: number, handle: number, sequence: number, event: LiveEvent): boolean {
  const room = eventJsonRoom(event);
  // Events too large for the ring's bound take the string path, which refuses them clearly.
  if (room > ring.maxPayload) return ring.pushText(instance, handle, sequence, eventJson(event));
  const at = ring.reserve(room);
  if (at < 0) return false;
  ring.commit(instance, handle, sequence, writeEventJson(event, ring.bytes, at));
  return true;
}

export class WorkflowRuntime {
  readonly #db: Database;
  readonly #store: WorkflowStore;
  readonly #options: Required<Omit<WorkflowRuntimeOptions, 'writeback' | 'defaultLimits'>> & { defaultLimits: WorkflowLimits };
  readonly #workflows = new Map<string, Workflow>();
  readonly #byInstance = new Map<number, Workflow>();
  readonly #hosts: WorkerHost[] = [];
  readonly #compiled = new Map<string, Compiled>();
  #writeback: WorkflowRuntimeOptions['writeback'];
  #nextInstance = 1;
  #watchdog: ReturnType<typeof setInterval> | undefined;
  #persist: ReturnType<typeof setInterval>;
  /** The periodic save of handles while its fsync runs off the main thread. */
  #saving: Promise<void> | undefined;
  #closed = false;

  private constructor(db: Database, options: WorkflowRuntimeOptions) {
    this.#db = db;
    this.#store = new WorkflowStore(db.dir);
    const [firstBackoff, lastBackoff] = options.restartBackoffMs ?? [100, 30_000];
    this.#options = {
      workers: integerIn(options.workers ?? 1, 'workers', 1, 64),
      pollWaitMs: integerIn(options.pollWaitMs ?? 1000, 'pollWaitMs', 0, 60_000),
      spinUs: integerIn(options.spinUs ?? 0, 'spinUs', 0, MAX_SPIN_US),
      napUs: integerIn(options.napUs ?? DEFAULT_NAP_US, 'napUs', 0, MAX_NAP_US),
      httpAllow: (options.httpAllow ?? []).map((entry) => {
        if (typeof entry !== 'string' || entry === '') throw invalid(`httpAllow entries are host, host:port or *, got ${JSON.stringify(entry)}`);
        return entry;
      }),
      httpTimeoutMs: integerIn(options.httpTimeoutMs ?? 5000, 'httpTimeoutMs', 1, 600_000),
      maxHttpResponseBytes: integerIn(options.maxHttpResponseBytes ?? 2 ** 20, 'maxHttpResponseBytes', 0, MAX_REGION_BYTES),
      backlogLimit: integerIn(options.backlogLimit ?? 10_000, 'backlogLimit', 1, 10_000_000),
      defaultLimits: checkLimits(options.defaultLimits ?? {}, DEFAULT_LIMITS),
      restartBackoffMs: [integerIn(firstBackoff, 'restartBackoffMs[0]', 1, 3_600_000), integerIn(lastBackoff, 'restartBackoffMs[1]', 1, 3_600_000)],
    };
    this.#writeback = options.writeback;
    this.#persist = setInterval(() => this.#persistInBackground(), 1000);
    this.#persist.unref();
  }

  /** Starts the runtime of a database: its persisted deployments start again. */
  static async start(db: Database, options: WorkflowRuntimeOptions = {}): Promise<WorkflowRuntime> {
    const runtime = new WorkflowRuntime(db, options);
    for (const deployment of runtime.#store.loadDeployments()) {
      const workflow = runtime.#track(deployment);
      for (const saved of runtime.#store.loadHandles(deployment.name)) runtime.#restoreHandle(workflow, saved);
      if (deployment.desired === 'running') {
        try {
          await runtime.#startInstance(workflow);
        } catch (error) {
          runtime.#fail(workflow, `could not start: ${(error as Error).message}`);
        }
      } else {
        workflow.state = 'stopped';
      }
    }
    return runtime;
  }

  /** Where u_writeback_ws goes (the server sets this to its connections). */
  set writeback(sink: WorkflowRuntimeOptions['writeback']) {
    this.#writeback = sink;
  }

  /** Deploys a module under a name (replacing a workflow of that name) and starts it. */
  async deploy(options: DeployOptions): Promise<WorkflowStatus> {
    this.#checkOpen();
    if (typeof options !== 'object' || options === null) throw invalid('deploy takes { name, module, env? }');
    const name = checkWorkflowName(options.name);
    if (!(options.module instanceof Uint8Array)) throw invalid('module must be the bytes of a .wasm file (a Uint8Array or Buffer)');
    const env = checkEnv(options.env);
    const limits = checkLimits({ memoryBytes: options.memoryBytes, cpuBudgetMs: options.cpuBudgetMs }, this.#options.defaultLimits);
    checkModule(options.module);
    const sha256 = this.#store.saveModule(options.module);
    await this.#compile(sha256, limits);
    const previous = this.#workflows.get(name);
    if (previous) this.#forget(previous);
    const workflow = this.#track({ name, sha256, env, limits, desired: 'running', deployedAt: new Date().toISOString() });
    this.#saveDeployments();
    this.#store.saveHandles(name, []);
    this.#log(workflow, `deployed module ${sha256.slice(0, 12)} (${options.module.length} bytes)`);
    await this.#startInstance(workflow);
    return this.status(name);
  }

  /** The worker threads running now. */
  workers(): WorkerInfo[] {
    return this.#hosts.filter((h) => h.alive).map((h) => ({ instances: h.instances.size, schedulerSlice: h.slice ?? null, wakes: h.ring.wakes, memories: { ...h.memories }, guests: { ...h.guests } }));
  }

  list(): WorkflowStatus[] {
    return [...this.#workflows.keys()].sort().map((name) => this.status(name));
  }

  status(name: string): WorkflowStatus {
    const workflow = this.#get(name);
    if (workflow.host) this.#drainAcks(workflow.host);
    const { deployment } = workflow;
    return {
      name,
      state: workflow.state,
      desired: deployment.desired,
      moduleSha256: deployment.sha256,
      deployedAt: deployment.deployedAt,
      env: Object.keys(deployment.env),
      limits: { ...deployment.limits },
      restarts: workflow.restarts,
      lastError: workflow.lastError,
      startedAt: workflow.startedAtMs ? new Date(workflow.startedAtMs).toISOString() : null,
      memoryBytes: workflow.memoryBytes,
      handles: workflow.handles.map((h) => ({ query: h.text, handle: h.local, delivered: h.delivered, pending: h.backlog.length, dropped: h.dropped, cursor: h.cursor })),
    };
  }

  /** The newest log lines of a workflow (its stdout, stderr, u_log and the runtime's notes). */
  logs(name: string, tail = 100): string[] {
    const workflow = this.#get(name);
    integerIn(tail, 'tail', 1, 100_000);
    if (tail <= workflow.logs.length) return workflow.logs.slice(-tail);
    this.#flushLogs(workflow);
    return this.#store.readLog(name, tail);
  }

  /** Stops a workflow (it stays stopped across restarts until start()). Its live queries go on. */
  async stop(name: string): Promise<WorkflowStatus> {
    const workflow = this.#get(name);
    workflow.deployment.desired = 'stopped';
    this.#saveDeployments();
    this.#halt(workflow);
    workflow.state = 'stopped';
    this.#log(workflow, 'stopped');
    return this.status(name);
  }

  async start(name: string): Promise<WorkflowStatus> {
    const workflow = this.#get(name);
    workflow.deployment.desired = 'running';
    this.#saveDeployments();
    if (workflow.instance === undefined) {
      workflow.consecutiveFailures = 0;
      await this.#startInstance(workflow);
    }
    return this.status(name);
  }

  /** Stops a workflow and deletes it: module reference, handles, state and log. */
  async remove(name: string): Promise<void> {
    const workflow = this.#get(name);
    this.#forget(workflow);
    this.#saveDeployments();
    this.#store.removeWorkflow(name);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#watchdog) clearInterval(this.#watchdog);
    clearInterval(this.#persist);
    await this.#saving;
    for (const host of this.#hosts) this.#drainAcks(host);
    this.#persistAll();
    for (const workflow of this.#workflows.values()) {
      if (workflow.restartTimer) clearTimeout(workflow.restartTimer);
      for (const handle of workflow.handles) handle.live?.close();
    }
    await Promise.all(
      this.#hosts.map(async (host) => {
        host.alive = false;
        if (host.retry) clearTimeout(host.retry);
        // Let the worker close its state files and its database handle first (bounded wait).
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 2000);
          host.worker.on('message', (message: { type: string }) => {
            if (message.type !== 'closed') return;
            clearTimeout(timer);
            resolve();
          });
          host.worker.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          this.#post(host, { type: 'shutdown' });
        });
        await host.worker.terminate();
      }),
    );
    this.#hosts.length = 0;
  }

  #checkOpen(): void {
    if (this.#closed) throw new SluiceError('SLUICE_CLOSED', 'the workflow runtime is closed');
  }

  #get(name: string): Workflow {
    this.#checkOpen();
    const workflow = this.#workflows.get(checkWorkflowName(name));
    if (!workflow) throw new SluiceError('SLUICE_WORKFLOW', `no workflow named ${name} (deployed: ${[...this.#workflows.keys()].join(', ') || 'none'})`);
    return workflow;
  }

  #track(deployment: Deployment): Workflow {
    const workflow: Workflow = {
      deployment,
      state: 'starting',
      instance: undefined,
      host: undefined,
      startedAtMs: 0,
      restarts: 0,
      consecutiveFailures: 0,
      lastError: null,
      restartTimer: undefined,
      handles: [],
      logs: [],
      unsavedLogs: [],
      handlesDirty: false,
      memoryBytes: null,
    };
    this.#workflows.set(deployment.name, workflow);
    return workflow;
  }

  /** Takes a workflow out of the runtime (its files stay). */
  #forget(workflow: Workflow): void {
    this.#halt(workflow);
    for (const handle of workflow.handles) handle.live?.close();
    workflow.handles = [];
    this.#flushLogs(workflow);
    this.#workflows.delete(workflow.deployment.name);
  }

  /** Stops the running instance (if any) and any pending restart. */
  #halt(workflow: Workflow): void {
    if (workflow.host) this.#drainAcks(workflow.host);
    if (workflow.restartTimer) clearTimeout(workflow.restartTimer);
    workflow.restartTimer = undefined;
    if (workflow.instance !== undefined && workflow.host?.alive) {
      this.#post(workflow.host, { type: 'stop', instance: workflow.instance });
      workflow.host.instances.delete(workflow.instance);
    }
    this.#detach(workflow);
  }

  #detach(workflow: Workflow): void {
    if (workflow.instance !== undefined) this.#byInstance.delete(workflow.instance);
    workflow.instance = undefined;
    workflow.host = undefined;
    for (const handle of workflow.handles) {
      handle.local = 0;
      handle.sent = handle.acked;
    }
  }

  #saveDeployments(): void {
    this.#store.saveDeployments([...this.#workflows.values()].map((w) => w.deployment));
  }

  async #compile(sha256: string, limits: WorkflowLimits): Promise<Compiled> {
    const memoryPages = limits.memoryBytes / 65536;
    const key = `${sha256}-m${memoryPages}-v${PREPARATION_VERSION}`;
    const cached = this.#compiled.get(key);
    if (cached) return cached;
    let prepared = this.#store.loadPrepared(key);
    if (!prepared) {
      const result = await prepareInWorker(this.#store.loadModule(sha256), { memoryPages });
      this.#store.savePrepared(key, result.bytes, result.report);
      prepared = { bytes: result.bytes, meta: result.report };
    }
    const compiled: Compiled = {
      key,
      module: await WebAssembly.compile(prepared.bytes),
      info: readModuleInfo(prepared.bytes),
      report: prepared.meta as AbiReport,
    };
    this.#compiled.set(key, compiled);
    return compiled;
  }

  #settings(): WorkerSettings {
    return {
      dir: this.#db.dir,
      ring: new EventRing(RING_BYTES).buffer,
      acks: new EventRing(ACK_RING_BYTES).buffer,
      watchdog: new SharedArrayBuffer(16),
      pollWaitMs: this.#options.pollWaitMs,
      spinUs: this.#options.spinUs,
      napUs: this.#options.napUs,
      maxRegionBytes: MAX_REGION_BYTES,
      http: { allow: this.#options.httpAllow, timeoutMs: this.#options.httpTimeoutMs, maxResponseBytes: this.#options.maxHttpResponseBytes },
    };
  }

  /** The worker with the fewest instances, starting one while there are fewer than configured. */
  #pickHost(): WorkerHost {
    const alive = this.#hosts.filter((h) => h.alive);
    if (alive.length < this.#options.workers) return this.#spawnHost();
    return alive.reduce((best, host) => (host.instances.size < best.instances.size ? host : best));
  }

  #spawnHost(): WorkerHost {
    const settings = this.#settings();
    const worker = new Worker(path.join(__dirname, 'worker.js'), { workerData: settings });
    const host: WorkerHost = {
      worker,
      ring: new EventRing(settings.ring),
      acks: new EventRing(settings.acks),
      watchdog: new Float64Array(settings.watchdog),
      instances: new Set(),
      alive: true,
      retry: undefined,
      slice: undefined,
      memories: { madeAhead: 0, madeAtStart: 0 },
      guests: { madeAhead: 0, madeAtStart: 0 },
    };
    worker.on('message', (message: WorkerBatch | WorkerScheduling | { type: 'closed' }) => {
      if (message.type === 'scheduling') {
        host.slice = message.slice;
        return;
      }
      // Acknowledgements written before the batch was posted come first, as they happened.
      this.#drainAcks(host);
      if (message.type !== 'batch') return;
      for (const m of message.messages) {
        if (m.type === 'spares') {
          host.memories = m.memories;
          host.guests = m.guests;
        } else this.#onWorkerMessage(host, m);
      }
    });
    worker.on('error', (error) => this.#hostLost(host, `its worker failed: ${error.message}`, undefined));
    worker.on('exit', (code) => this.#hostLost(host, `its worker exited with code ${code}`, undefined));
    worker.unref();
    this.#hosts.push(host);
    // Checked only while a worker exists.
    if (!this.#watchdog) {
      this.#watchdog = setInterval(() => this.#checkWatchdog(), WATCHDOG_PERIOD_MS);
      this.#watchdog.unref();
    }
    return host;
  }

  #post(host: WorkerHost, message: ToWorker): void {
    host.worker.postMessage(message);
  }

  async #startInstance(workflow: Workflow): Promise<void> {
    const { deployment } = workflow;
    workflow.restartTimer = undefined;
    const compiled = await this.#compile(deployment.sha256, deployment.limits);
    if (this.#closed || this.#workflows.get(deployment.name) !== workflow || deployment.desired !== 'running' || workflow.instance !== undefined) return;
    const host = this.#pickHost();
    const instance = this.#nextInstance++;
    this.#detach(workflow);
    workflow.instance = instance;
    workflow.host = host;
    workflow.state = 'running';
    workflow.startedAtMs = Date.now();
    this.#byInstance.set(instance, workflow);
    host.instances.add(instance);
    this.#post(host, {
      type: 'start',
      instance,
      name: deployment.name,
      moduleKey: compiled.key,
      module: compiled.module,
      info: compiled.info,
      report: compiled.report,
      env: Object.entries(deployment.env),
      memoryPages: deployment.limits.memoryBytes / 65536,
      stateFile: path.join(this.#store.workflowDir(deployment.name), 'state.log'),
    });
  }

  #onWorkerMessage(host: WorkerHost, message: FromWorker): void {
    const workflow = this.#byInstance.get(message.instance);
    if (!workflow || workflow.instance !== message.instance) return; // from an instance already gone
    switch (message.type) {
      case 'register':
        this.#register(workflow, message.handle, message.text, message.occurrence);
        break;
      case 'free': {
        const index = workflow.handles.findIndex((h) => h.local === message.handle);
        if (index >= 0) {
          workflow.handles[index]!.live?.close();
          workflow.handles.splice(index, 1);
          workflow.handlesDirty = true;
        }
        break;
      }
      case 'ack':
        this.#acknowledge(workflow, message.handle, message.sequence);
        break;
      case 'write':
        try {
          this.#db.write(message.series, message.tags, message.timestamp, message.value);
        } catch (error) {
          this.#log(workflow, `u_write_event: ${(error as Error).message}`);
        }
        break;
      case 'writeback':
        if (!this.#writeback?.(message.producer, message.data)) {
          this.#log(workflow, `u_writeback_ws: producer ${message.producer} is not connected${this.#writeback ? '' : ' (no server is running)'}`);
        }
        break;
      case 'log':
        this.#log(workflow, message.line);
        break;
      case 'state':
        this.#onState(workflow, host, message.state, message.error, message.code, message.memoryBytes);
        break;
    }
  }

  /** Applies the acknowledgements the worker has written to shared memory since the last read. */
  #drainAcks(host: WorkerHost): void {
    host.acks.drain(this.#onAckRecord);
  }

  /** One record of an acks ring (made once: draining runs on every live event). */
  readonly #onAckRecord = (instance: number, local: number, sequence: number): void => {
    const workflow = this.#byInstance.get(instance);
    if (workflow && workflow.instance === instance) this.#acknowledge(workflow, local, sequence);
  };

  /** The guest has taken every event of handle `local` up to `sequence`. */
  #acknowledge(workflow: Workflow, local: number, sequence: number): void {
    const handle = workflow.handles.find((h) => h.local === local);
    if (!handle) return;
    // Sequences are consecutive: the acknowledged events are a prefix of the backlog.
    const done = Math.min(handle.backlog.length, Math.max(0, sequence - firstSequence(handle) + 1));
    if (done > 0) {
      handle.cursor = handle.backlog[done - 1]!.timestamp;
      handle.delivered += done;
      handle.backlog.splice(0, done);
    }
    handle.acked = Math.max(handle.acked, sequence);
    workflow.handlesDirty = true;
  }

  #register(workflow: Workflow, local: number, text: string, occurrence: number): void {
    let handle = workflow.handles.find((h) => h.text === text && h.occurrence === occurrence);
    if (!handle) {
      handle = this.#newHandle(workflow, { text, occurrence, cursor: Date.now() * 1000, registeredAt: new Date().toISOString() }, undefined);
      workflow.handlesDirty = true;
    }
    handle.local = local;
    handle.sent = handle.acked;
    this.#pump(workflow, handle);
  }

  #restoreHandle(workflow: Workflow, saved: PersistedHandle): void {
    if (typeof saved?.text !== 'string' || !Number.isInteger(saved.occurrence) || typeof saved.cursor !== 'number') return;
    this.#newHandle(workflow, saved, saved.cursor);
  }

  #newHandle(workflow: Workflow, saved: PersistedHandle, replaySince: number | undefined): LiveHandle {
    const handle: LiveHandle = {
      text: saved.text,
      occurrence: saved.occurrence,
      live: undefined,
      backlog: [],
      nextSequence: 1,
      sent: 0,
      acked: 0,
      cursor: saved.cursor,
      local: 0,
      delivered: 0,
      dropped: 0,
      registeredAt: saved.registeredAt,
    };
    workflow.handles.push(handle);
    try {
      const options: InternalLiveOptions = {
        bufferSize: Math.min(this.#options.backlogLimit, 1 << 20),
        // Into the backlog and the ring inside the write: the worker starts on an event while the
        // writer goes on with the rest of its turn (docs/workflows.md).
        deliverDuringWrite: true,
        ...(replaySince !== undefined ? { since: Math.floor(replaySince) } : {}),
      };
      handle.live = this.#db.live(saved.text, (event) => this.#onLiveEvent(workflow, handle, event), options);
    } catch (error) {
      this.#log(workflow, `live query ${saved.text}: ${(error as Error).message}`);
    }
    return handle;
  }

  #onLiveEvent(workflow: Workflow, handle: LiveHandle, event: LiveEvent): void {
    if (!workflow.handles.includes(handle)) return;
    // Acknowledged events leave the backlog before it is measured against its limit.
    if (workflow.host) this.#drainAcks(workflow.host);
    handle.backlog.push(event);
    handle.nextSequence++;
    if (handle.backlog.length > this.#options.backlogLimit) {
      handle.backlog.shift();
      handle.dropped++;
    }
    this.#pump(workflow, handle);
  }

  /** Hands the handle's unsent events to its worker's ring; what does not fit waits for a retry. */
  #pump(workflow: Workflow, handle: LiveHandle): void {
    const host = workflow.host;
    if (!host?.alive || handle.local === 0 || workflow.instance === undefined) return;
    let pushed = false;
    const ring = host.ring;
    // Sequences in the backlog are consecutive: the first unsent one is found by arithmetic.
    const first = firstSequence(handle);
    for (let i = Math.max(0, handle.sent - first + 1); i < handle.backlog.length; i++) {
      const event = handle.backlog[i]!;
      const sequence = first + i;
      if (!pushEvent(ring, workflow.instance, handle.local, sequence, event)) {
        host.retry ??= setTimeout(() => {
          host.retry = undefined;
          for (const instance of host.instances) {
            const w = this.#byInstance.get(instance);
            if (w) for (const h of w.handles) this.#pump(w, h);
          }
        }, 2);
        break;
      }
      handle.sent = sequence;
      pushed = true;
    }
    // At once: it costs a cross-thread wake only while the worker sleeps (EventRing.signal).
    if (pushed) host.ring.signal();
  }

  #onState(workflow: Workflow, host: WorkerHost, state: InstanceState, error: string | undefined, code: number | undefined, memoryBytes: number | undefined): void {
    if (memoryBytes !== undefined) workflow.memoryBytes = memoryBytes;
    if (state === 'stopped') return;
    host.instances.delete(workflow.instance!);
    if (state === 'finished' || (state === 'exited' && code === 0)) {
      this.#detach(workflow);
      workflow.state = 'finished';
      workflow.consecutiveFailures = 0;
      this.#log(workflow, state === 'exited' ? 'exited with code 0' : 'call() returned: finished');
      return;
    }
    this.#instanceEnded(workflow, state === 'exited' ? `exited with code ${code}` : `failed: ${error}`, true);
  }

  /** The instance is gone; restart it (after a backoff when it failed) if it should run. */
  #instanceEnded(workflow: Workflow, reason: string | null, failure: boolean): void {
    const ranMs = Date.now() - workflow.startedAtMs;
    this.#detach(workflow);
    if (reason) {
      workflow.lastError = reason;
      this.#log(workflow, reason);
    }
    if (workflow.deployment.desired !== 'running' || this.#closed) {
      workflow.state = 'stopped';
      return;
    }
    if (failure && ranMs >= HEALTHY_AFTER_MS) workflow.consecutiveFailures = 0;
    const [first, last] = this.#options.restartBackoffMs;
    const delay = failure ? Math.min(last, first * 2 ** Math.min(workflow.consecutiveFailures, 30)) : 0;
    if (failure) workflow.consecutiveFailures++;
    workflow.restarts++;
    workflow.state = 'restarting';
    if (failure) this.#log(workflow, `restarting in ${delay} ms (restart ${workflow.restarts})`);
    workflow.restartTimer = setTimeout(() => {
      this.#startInstance(workflow).catch((e: Error) => this.#fail(workflow, `could not restart: ${e.message}`));
    }, delay);
  }

  #fail(workflow: Workflow, reason: string): void {
    workflow.state = 'failed';
    workflow.lastError = reason;
    this.#log(workflow, reason);
  }

  #checkWatchdog(): void {
    const now = Date.now();
    for (const host of this.#hosts) {
      if (!host.alive) continue;
      const since = host.watchdog[0]!;
      if (since === 0) continue;
      const workflow = this.#byInstance.get(host.watchdog[1]!);
      const budget = workflow?.deployment.limits.cpuBudgetMs ?? this.#options.defaultLimits.cpuBudgetMs;
      if (now - since > budget) this.#hostLost(host, `exceeded its CPU budget: ran ${now - since} ms without waiting (budget ${budget} ms)`, host.watchdog[1]!);
    }
  }

  /**
   * A worker is gone (ended by the watchdog, or it died): the culprit restarts after a backoff,
   * the other workflows it hosted restart at once on another worker.
   */
  #hostLost(host: WorkerHost, reason: string, culprit: number | undefined): void {
    if (!host.alive) return;
    // What its guests acknowledged before it ended is not sent to their next instances.
    this.#drainAcks(host);
    host.alive = false;
    if (host.retry) clearTimeout(host.retry);
    const index = this.#hosts.indexOf(host);
    if (index >= 0) this.#hosts.splice(index, 1);
    void host.worker.terminate();
    if (this.#closed) return;
    for (const instance of host.instances) {
      const workflow = this.#byInstance.get(instance);
      if (!workflow || workflow.instance !== instance) continue;
      if (culprit === undefined || culprit === instance) this.#instanceEnded(workflow, reason, true);
      else this.#instanceEnded(workflow, null, false);
    }
    host.instances.clear();
  }

  #log(workflow: Workflow, line: string): void {
    const stamped = `${new Date().toISOString()} ${line}`;
    workflow.logs.push(stamped);
    if (workflow.logs.length > LOG_LINES_KEPT) workflow.logs.splice(0, workflow.logs.length - LOG_LINES_KEPT);
    workflow.unsavedLogs.push(stamped);
  }

  #flushLogs(workflow: Workflow): void {
    if (workflow.unsavedLogs.length === 0) return;
    try {
      this.#store.appendLog(workflow.deployment.name, workflow.unsavedLogs);
    } catch {
      // the log file is best effort; the lines stay in memory
    }
    workflow.unsavedLogs = [];
  }

  #handlesToSave(workflow: Workflow): PersistedHandle[] {
    return workflow.handles.map((h) => ({ text: h.text, occurrence: h.occurrence, cursor: h.cursor, registeredAt: h.registeredAt }));
  }

  /** Every second: logs, and the handles (cursors) that changed, fsynced off the main thread. */
  #persistInBackground(): void {
    // Cursors move with acknowledgements: the ones waiting in shared memory count too.
    for (const host of this.#hosts) this.#drainAcks(host);
    if (this.#saving) return; // the previous save is still on disk's time; its workflows stay dirty
    const saves: Array<{ workflow: Workflow; handles: PersistedHandle[] }> = [];
    for (const workflow of this.#workflows.values()) {
      this.#flushLogs(workflow);
      if (!workflow.handlesDirty) continue;
      workflow.handlesDirty = false;
      saves.push({ workflow, handles: this.#handlesToSave(workflow) });
    }
    if (saves.length === 0) return;
    this.#saving = (async () => {
      for (const { workflow, handles } of saves) {
        const name = workflow.deployment.name;
        // A workflow removed or redeployed since has other handles (or none) on disk by now.
        const stillWanted = () => this.#workflows.get(name) === workflow;
        if (!stillWanted()) continue;
        try {
          await this.#store.saveHandlesInBackground(name, handles, stillWanted);
        } catch (error) {
          if (!stillWanted()) continue;
          workflow.handlesDirty = true;
          this.#log(workflow, `could not save handles: ${(error as Error).message}`);
        }
      }
    })().finally(() => {
      this.#saving = undefined;
    });
  }

  /** At close: everything, synchronously. */
  #persistAll(): void {
    for (const workflow of this.#workflows.values()) {
      this.#flushLogs(workflow);
      if (!workflow.handlesDirty) continue;
      workflow.handlesDirty = false;
      try {
        this.#store.saveHandles(workflow.deployment.name, this.#handlesToSave(workflow));
      } catch (error) {
        this.#log(workflow, `could not save handles: ${(error as Error).message}`);
      }
    }
  }
}

/** Starts the workflow runtime of a database (see WorkflowRuntime). */
export function startWorkflows(db: Database, options?: WorkflowRuntimeOptions): Promise<WorkflowRuntime> {
  return WorkflowRuntime.start(db, options);
}

/** Reads a .wasm file for deploy, with a clear error. */
export function readModuleFile(file: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new SluiceError('SLUICE_IO', `cannot read the module ${file}: ${(error as Error).message}`);
  }
}
