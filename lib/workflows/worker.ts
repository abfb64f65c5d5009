// A workflow worker: many guest instances share this thread. Each runs until it waits (for a
// live event, an HTTP response, or the end of its poll wait) and is then unwound off the stack.
// With nothing runnable the thread spins (spinUs), naps for a few ms after events (napUs), then
// sleeps on its EventRing's signal, so idle workflows cost no CPU. While idle it also makes the
// next instances: one guest per module lately started, instantiated on a memory made ahead. The
// main thread's watchdog reads which instance runs since when, and ends this worker when one runs
// past its CPU budget.
import { parentPort, workerData } from 'node:worker_threads';
import { native } from '../../bindings/index.js';
import { parseQuery } from '../dsl/index.js';
import { LiveQuery } from '../query/live.js';
import { open, type Database } from '../tsdb/index.js';
import { Guest, type EventBytes, type GuestHost, type GuestStep } from '../wasm/guest.js';
import { GuestPool } from '../wasm/guest-pool.js';
import { MemoryPool } from '../wasm/memory-pool.js';
import { EventQueue } from './event-queue.js';
import { EventRing } from './event-ring.js';
import { httpRequest } from './http-request.js';
import type { FromWorker, StartInstance, ToWorker, WorkerScheduling, WorkerSettings } from './protocol.js';
import { StateStore } from './state-store.js';

const MAX_HANDLES = 1024;
const MAX_LOG_LINES_PER_TURN = 1000;
const MAX_TAGS_TEXT = 64 * 1024;
const IDLE_WAIT_MS = 60_000;
/**
 * After events last came at a high rate, a worker out of them naps (timed waits of `napUs`, see
 * EventRing.napForSignal) for this long before it sleeps until woken; and it lets its event loop turn
 * at least every NAP_TURN_MS while napping.
 */
const NAP_WINDOW_MS = 5;
const NAP_TURN_MS = 1;
/** Naps only while at least this many events came in the last NAP_WINDOW_MS (10 k events/s). */
const NAP_MIN_EVENTS = 50;
/** The scheduler slice the worker thread asks for. */
const WORKER_SLICE_US = 200;
const DEADLINE_GRID_MS = 50;

interface HandleQueue {
  events: EventQueue;
  /** The sequence of the event the guest took last: acknowledged when it polls again. */
  taken: number | undefined;
  /** The newest acknowledged sequence not yet sent to the main thread. */
  acked: number | undefined;
}

interface Instance {
  id: number;
  name: string;
  /** Its compiled module's identity (StartInstance.moduleKey). */
  moduleKey: string;
  guest: Guest;
  handles: Map<number, HandleQueue>;
  nextHandle: number;
  occurrences: Map<string, number>;
  step: GuestStep | undefined;
  /** For a guest waiting in u_poll_handle: when it gets 0 if nothing comes. */
  deadline: number;
  state: StateStore;
  logLines: number;
  droppedLogLines: number;
}

const settings = workerData as WorkerSettings;
const ring = new EventRing(settings.ring);
const acks = new EventRing(settings.acks);
const NO_PAYLOAD = new Uint8Array(0);
/** Where takeEvent puts the event it hands to a guest (which copies it before the next one). */
const taken: EventBytes = { bytes: NO_PAYLOAD, start: 0, end: 0 };
const watchdog = new Float64Array(settings.watchdog);
const instances = new Map<number, Instance>();
/** Guests and their memories made while the worker is idle, so that a start does not wait for them. */
const memories = new MemoryPool();
const guests = new GuestPool(memories);
const runnable = new Set<Instance>();
let outbox: FromWorker[] = [];
let db: Database | undefined;

function send(message: FromWorker): void {
  outbox.push(message);
}

const pendingAcks: Array<{ instance: Instance; handle: number; queue: HandleQueue }> = [];

function flush(): void {
  for (const { instance, handle, queue } of pendingAcks.splice(0)) {
    // Through shared memory, which the main thread reads before any message of this batch.
    if (queue.acked !== undefined && !acks.push(instance.id, handle, queue.acked, NO_PAYLOAD)) {
      outbox.push({ type: 'ack', instance: instance.id, handle, sequence: queue.acked });
    }
    queue.acked = undefined;
  }
  if (outbox.length === 0) return;
  parentPort!.postMessage({ type: 'batch', messages: outbox });
  outbox = [];
}

function parseTags(text: string): { series: string; tags: Record<string, string> } | string {
  if (text.length > MAX_TAGS_TEXT) return `tags are ${text.length} characters, at most ${MAX_TAGS_TEXT}`;
  let series: string | undefined;
  const tags: Record<string, string> = {};
  for (const part of text.split(',')) {
    const pair = part.trim();
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    if (equals <= 0) return `tag "${pair.slice(0, 100)}" is not key=value`;
    const key = pair.slice(0, equals);
    const value = pair.slice(equals + 1);
    if (key === 'series') {
      if (series !== undefined) return 'series= appears twice';
      if (value === '') return 'series= is empty';
      series = value;
    } else {
      if (key in tags) return `tag ${key} appears twice`;
      tags[key] = value;
    }
  }
  if (series === undefined) return 'tags must include series=<name> (e.g. series=alerts,severity=high)';
  return { series, tags };
}

function hostFor(instance: Instance): GuestHost {
  const log = (line: string) => {
    if (instance.logLines >= MAX_LOG_LINES_PER_TURN) {
      instance.droppedLogLines++;
      return;
    }
    instance.logLines++;
    send({ type: 'log', instance: instance.id, line });
  };
  return {
    queryLive(text) {
      try {
        // Checked here, where the guest gets its answer; the main thread runs the query itself.
        new LiveQuery(parseQuery(text), text, undefined, {}, () => {});
      } catch (error) {
        log(`u_query_live: ${(error as Error).message}`);
        return 0;
      }
      if (instance.handles.size >= MAX_HANDLES) {
        log(`u_query_live: at most ${MAX_HANDLES} live handles per workflow; free some with u_free_handle`);
        return 0;
      }
      const handle = instance.nextHandle++;
      const occurrence = instance.occurrences.get(text) ?? 0;
      instance.occurrences.set(text, occurrence + 1);
      instance.handles.set(handle, { events: new EventQueue(), taken: undefined, acked: undefined });
      send({ type: 'register', instance: instance.id, handle, text, occurrence });
      return handle;
    },
    queryHistory(text) {
      try {
        const result = db!.query(text);
        if (result === null) return NaN;
        if (typeof result === 'number') return result;
        log('u_query_history: the query has a window part or BY; it returns one number only (use AVG:series:[tags]:[range])');
        return 0;
      } catch (error) {
        log(`u_query_history: ${(error as Error).message}`);
        return 0;
      }
    },
    takeEvent(handle) {
      const queue = instance.handles.get(handle);
      if (!queue) return undefined;
      if (queue.taken !== undefined) {
        // One ack per handle per turn: the newest sequence covers the ones before it.
        if (queue.acked === undefined) pendingAcks.push({ instance, handle, queue });
        queue.acked = queue.taken;
        queue.taken = undefined;
      }
      const sequence = queue.events.firstSequence;
      if (sequence === undefined) return null;
      queue.taken = sequence;
      // Offsets into the queue's memory, in one object reused for every event: the guest copies
      // the bytes into its own memory at once.
      return queue.events.shiftInto(taken)!;
    },
    freeHandle(handle) {
      if (!instance.handles.delete(handle)) return false;
      send({ type: 'free', instance: instance.id, handle });
      return true;
    },
    writeEvent(timestampText, valueText, tagsText) {
      const ts = timestampText.trim();
      if (!/^-?\d{1,19}$/.test(ts)) return `timestamp "${ts.slice(0, 40)}" is not an integer number of microseconds`;
      const timestamp = BigInt(ts);
      if (timestamp > 9223372036854775807n || timestamp < -9223372036854775808n) return `timestamp ${ts} is outside int64`;
      const trimmed = valueText.trim();
      const value = Number(trimmed);
      if (trimmed === '' || (Number.isNaN(value) && trimmed !== 'NaN')) return `value "${trimmed.slice(0, 40)}" is not a number`;
      const parsed = parseTags(tagsText);
      if (typeof parsed === 'string') return parsed;
      send({ type: 'write', instance: instance.id, series: parsed.series, tags: parsed.tags, timestamp, value });
      return null;
    },
    writebackWs(producer, data) {
      if (!Number.isSafeInteger(producer) || producer <= 0) return `producer ${producer} is not a producer id`;
      send({ type: 'writeback', instance: instance.id, producer, data });
      return null;
    },
    http: (url, body, method) => httpRequest(url, body, method, settings.http),
    stateGet: (key) => instance.state.get(key),
    stateSet: (key, value) => instance.state.set(key, value),
    stateDelete: (key) => instance.state.delete(key),
    log,
  };
}

function start(message: StartInstance): void {
  const instance: Instance = {
    id: message.instance,
    name: message.name,
    moduleKey: message.moduleKey,
    guest: undefined as unknown as Guest,
    handles: new Map(),
    nextHandle: 1,
    occurrences: new Map(),
    step: undefined,
    deadline: 0,
    state: undefined as unknown as StateStore,
    logLines: 0,
    droppedLogLines: 0,
  };
  try {
    instance.state = new StateStore(message.stateFile);
    const options = { env: message.env, maxRegionBytes: settings.maxRegionBytes, memories };
    const ahead = guests.take(message.moduleKey, message);
    instance.guest = ahead ? ahead.bind(hostFor(instance), options) : new Guest(message.module, message.info, message.report, hostFor(instance), options, message.memoryPages);
  } catch (error) {
    instance.state?.close();
    send({ type: 'state', instance: message.instance, state: 'failed', error: `instantiation failed: ${(error as Error).message}` });
    return;
  }
  instances.set(instance.id, instance);
  runnable.add(instance);
  send({
    type: 'spares',
    instance: 0,
    memories: { madeAhead: memories.stats.taken, madeAtStart: memories.stats.made },
    guests: { madeAhead: guests.stats.taken, madeAtStart: guests.stats.made },
  });
}

function stop(id: number): void {
  const instance = instances.get(id);
  if (!instance) return;
  instances.delete(id);
  runnable.delete(instance);
  instance.state.close();
  // Stopped on purpose (not a crash, which restarts): a module nothing here runs any more keeps
  // no guest made ahead.
  if (![...instances.values()].some((other) => other.moduleKey === instance.moduleKey)) guests.forget(instance.moduleKey);
  send({ type: 'state', instance: id, state: 'stopped' });
}

function runSlice(instance: Instance): void {
  watchdog[1] = instance.id;
  watchdog[0] = Date.now();
  const step = instance.step === undefined ? instance.guest.start() : instance.guest.resume();
  watchdog[0] = 0;
  instance.step = step;
  if (instance.droppedLogLines > 0) {
    send({ type: 'log', instance: instance.id, line: `… ${instance.droppedLogLines} log lines dropped (more than ${MAX_LOG_LINES_PER_TURN} at once)` });
    instance.droppedLogLines = 0;
  }
  instance.logLines = 0;
  switch (step.state) {
    case 'polling': {
      const queue = instance.handles.get(step.handle);
      if (queue && queue.events.length > 0) runnable.add(instance);
      // On a 50 ms grid, so that idle guests wake together rather than one timer each.
      else instance.deadline = Math.ceil((Date.now() + settings.pollWaitMs) / DEADLINE_GRID_MS) * DEADLINE_GRID_MS;
      break;
    }
    case 'http':
      step.done.then(() => {
        if (instances.get(instance.id) !== instance) return;
        runnable.add(instance);
        wake();
      });
      break;
    default: {
      const memoryBytes = instance.guest.memoryBytes;
      instances.delete(instance.id);
      instance.state.close();
      if (step.state === 'failed') send({ type: 'state', instance: instance.id, state: 'failed', error: step.error, memoryBytes });
      else if (step.state === 'exited') send({ type: 'state', instance: instance.id, state: 'exited', code: step.code, memoryBytes });
      else send({ type: 'state', instance: instance.id, state: 'finished', memoryBytes });
    }
  }
}

function receive(instanceId: number, handle: number, sequence: number, bytes: Uint8Array, start: number, end: number): void {
  const instance = instances.get(instanceId);
  const queue = instance?.handles.get(handle);
  if (!instance || !queue) return; // for an instance or handle that is gone: main resends
  queue.events.push(sequence, bytes, start, end);
  if (instance.step?.state === 'polling' && instance.step.handle === handle) runnable.add(instance);
}

/** When events last came through the ring (performance.now()): the worker naps for a while after. */
let lastEventAt = -Infinity;
/** Events per millisecond of the last NAP_WINDOW_MS (one bucket per ms, stamped with its ms). */
const eventsPerMs = new Float64Array(NAP_WINDOW_MS);
const bucketMs = new Float64Array(NAP_WINDOW_MS).fill(-Infinity);

function deliver(): void {
  const count = ring.drain(receive);
  if (count === 0) return;
  lastEventAt = performance.now();
  const ms = Math.floor(lastEventAt);
  const bucket = ms % NAP_WINDOW_MS;
  if (bucketMs[bucket] !== ms) {
    bucketMs[bucket] = ms;
    eventsPerMs[bucket] = 0;
  }
  eventsPerMs[bucket]! += count;
}

/**
 * Whether to nap rather than sleep: events came within NAP_WINDOW_MS, at a rate where the writer
 * is busy (a sleeping worker woken onto its core may wait for it). At lower rates a wake costs
 * less than the naps that would replace it.
 */
function napping(): boolean {
  const now = performance.now();
  if (now - lastEventAt >= NAP_WINDOW_MS) return false;
  const ms = Math.floor(now);
  let recent = 0;
  for (let i = 0; i < NAP_WINDOW_MS; i++) if (ms - bucketMs[i]! < NAP_WINDOW_MS) recent += eventsPerMs[i]!;
  return recent >= NAP_MIN_EVENTS;
}

function expire(now: number): number {
  let next = Infinity;
  for (const instance of instances.values()) {
    if (instance.step?.state !== 'polling' || runnable.has(instance)) continue;
    if (instance.deadline <= now) runnable.add(instance);
    else next = Math.min(next, instance.deadline);
  }
  return next;
}

/**
 * Polls the ring's signal for up to `spinUs`: true when it moved past `seen`. A producer that
 * writes again within that time then finds the worker awake, and no wake-up (which the scheduler
 * may delay behind the producer's own thread) stands between its write and the guest.
 */
function spinForSignal(seen: number, spinUs: number): boolean {
  const until = performance.now() + spinUs / 1000;
  for (;;) {
    // The clock is read once per many loads of the signal: it returns a heap number each time it
    // is read here, garbage that a tight loop would make by the megabyte.
    for (let i = 0; i < 256; i++) if (ring.signalValue !== seen) return true;
    if (performance.now() >= until) return ring.signalValue !== seen;
  }
}

let wakeUp: (() => void) | undefined;
function wake(): void {
  wakeUp?.();
}
let signalWait: Promise<unknown> | undefined;
/** When the loop last let the event loop turn (performance.now()). */
let turnedAt = 0;

/** Lets messages, HTTP responses and timers in. */
async function turnEventLoop(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  turnedAt = performance.now();
}

async function loop(): Promise<void> {
  for (;;) {
    const seen = ring.signalValue;
    deliver();
    const nextDeadline = expire(Date.now());
    if (runnable.size > 0) {
      const batch = [...runnable];
      runnable.clear();
      for (const instance of batch) if (instances.get(instance.id) === instance) runSlice(instance);
      flush();
      // Let messages from the main thread (start, stop) in between slices.
      await turnEventLoop();
      continue;
    }
    flush();
    // Nothing to run: a step towards the next instances (a guest or its memory), then look for
    // events again.
    if (guests.refill()) continue;
    if (settings.spinUs > 0 && spinForSignal(seen, Math.min(settings.spinUs, (nextDeadline - Date.now()) * 1000))) {
      // The event loop still turns now and then (messages, HTTP responses, timers), however
      // closely events follow one another.
      if (performance.now() - turnedAt > settings.spinUs / 1000) await turnEventLoop();
      continue;
    }
    // Then a nap: a timed wait the writer need not end, for a while after events came.
    if (settings.napUs > 0 && napping() && nextDeadline > Date.now()) {
      ring.napForSignal(seen, settings.napUs / 1000);
      // As with the spin: the event loop still turns now and then.
      if (performance.now() - turnedAt > NAP_TURN_MS) await turnEventLoop();
      continue;
    }
    // Asleep until an event, a message, or the next poll deadline: an idle worker costs no CPU.
    const timeout = Math.max(0, Math.min(IDLE_WAIT_MS, nextDeadline - Date.now()));
    // One wait on the ring's signal at a time, which wakes the loop when it ends. (Racing the loop's
    // sleep against it instead added a reaction to that long-lived promise on every wake by a
    // deadline or a message: garbage that survived collections.)
    if (!signalWait) {
      signalWait = ring.waitForSignal(seen, IDLE_WAIT_MS);
      void signalWait.then(() => {
        signalWait = undefined;
        wake();
      });
    } else if (!ring.rearm(seen)) {
      continue; // events came while the earlier wait was not being notified
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeout);
      wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    wakeUp = undefined;
    // Woken by a deadline or a message, the wait on the signal may still be pending: the writer
    // must not pay a notify per event while this thread runs, spins or naps.
    ring.markAwake();
    turnedAt = performance.now();
  }
}

async function shutdown(): Promise<void> {
  for (const id of [...instances.keys()]) stop(id);
  flush();
  await db?.close();
  db = undefined;
  parentPort!.postMessage({ type: 'closed' });
}

parentPort!.on('message', (message: ToWorker) => {
  if (message.type === 'start') start(message);
  else if (message.type === 'stop') stop(message.instance);
  else if (message.type === 'shutdown') void shutdown();
  wake();
});

void (async () => {
  // A short slice: woken onto a core where the writer runs, this thread preempts it rather than
  // waiting out the writer's slice (native/thread_scheduling.h).
  const refused = native().addon.setThreadSlice(WORKER_SLICE_US);
  parentPort!.postMessage({ type: 'scheduling', slice: refused === null ? `${WORKER_SLICE_US} µs` : `the kernel's default (${refused})` } satisfies WorkerScheduling);
  db = await open({ dir: settings.dir });
  await loop();
})();
