// sluice workflow SDK for AssemblyScript.
//
// A workflow's entry file re-exports the allocator and defines `call`:
//
//   import { queryLive, pollHandle } from "sluice-workflow";
//   export { allocate, deallocate } from "sluice-workflow";
//   export function call(): void { ... }
//
// and is compiled with the options in asconfig.json (extend it), that is `--runtime incremental
// --exportStart _initialize --use abort=<this file's path without .ts>/sluiceAbort -O3s`
// (docs/sdk.md says why; scripts/build-guests.js passes them for the examples).

import {
  u_query_live, u_query_history, u_poll_handle, u_free_handle, u_write_event, u_writeback_ws,
  u_writeback_http, u_state_get, u_state_set, u_state_delete, u_log,
  clock_time_get, environ_sizes_get, environ_get, proc_exit,
} from "./src/host";
import { argumentRegion, releaseArgument, releaseRegion, takeString } from "./src/region";
import { Event, parseEvent } from "./src/event";

export { allocate, deallocate } from "./src/region";
export { Event } from "./src/event";

/** HTTP methods for writebackHttp, numbered as the ABI numbers them. */
export enum Method { GET = 0, POST = 1, PUT = 2, DELETE = 3 }

/** Registers a live query (query DSL text). Returns its handle, 0 when the query is invalid. */
export function queryLive(query: string): u64 {
  const filter = argumentRegion(0, query);
  const handle = u_query_live(filter);
  releaseArgument(filter);
  return <u64>handle;
}

/**
 * The next event of a live query, or null when none arrived within the host's wait
 * (about a second). Loop on it: the host suspends the workflow while it waits.
 */
export function pollHandle(handle: u64): Event | null {
  const region = u_poll_handle(<i64>handle);
  if (region == 0) return null;
  // Parsed where the host wrote it, then both blocks are freed.
  const event = parseEvent(<usize>load<u32>(region, 0), <usize>load<u32>(region, 8));
  releaseRegion(region);
  if (event == null) log("sluice-workflow: ignored a malformed event");
  return event;
}

/** Unregisters a live query. True when the handle was known. */
export function freeHandle(handle: u64): bool {
  return u_free_handle(<i64>handle) == 0;
}

/** Aggregate over stored data. NaN when no point matched; 0 when the query is invalid. */
export function queryHistory(query: string): f64 {
  const filter = argumentRegion(0, query);
  const value = u_query_history(filter);
  releaseArgument(filter);
  return value;
}

/** Writes one point. `tags` is "series=<name>,k=v,..."; true when written. */
export function writeEvent(timestampUs: i64, value: f64, tags: string): bool {
  const timestampRegion = argumentRegion(0, timestampUs.toString());
  const valueRegion = argumentRegion(1, value.toString());
  const tagsRegion = argumentRegion(2, tags);
  const status = u_write_event(timestampRegion, valueRegion, tagsRegion);
  releaseArgument(timestampRegion);
  releaseArgument(valueRegion);
  releaseArgument(tagsRegion);
  return status == 0;
}

/** Sends a text message to a producer's WebSocket. False when it is unknown or closed. */
export function writebackWs(producer: u64, data: string): bool {
  const dataRegion = argumentRegion(0, data);
  const status = u_writeback_ws(<i64>producer, dataRegion);
  releaseArgument(dataRegion);
  return status == 0;
}

/** An HTTP request; the response body, or null on error, timeout or a URL the host does not allow. */
export function writebackHttp(url: string, body: string, method: Method): string | null {
  const urlRegion = argumentRegion(0, url);
  const bodyRegion = argumentRegion(1, body);
  const response = u_writeback_http(urlRegion, bodyRegion, <i32>method);
  releaseArgument(urlRegion);
  releaseArgument(bodyRegion);
  return response == 0 ? null : takeString(response);
}

/** The value stored under `key` (durable across restarts), or null when absent. */
export function stateGet(key: string): string | null {
  const keyRegion = argumentRegion(0, key);
  const value = u_state_get(keyRegion);
  releaseArgument(keyRegion);
  return value == 0 ? null : takeString(value);
}

/** Stores `value` under `key` (key ≤ 1 KiB, value ≤ 1 MiB as UTF-8). True when stored. */
export function stateSet(key: string, value: string): bool {
  const keyRegion = argumentRegion(0, key);
  const valueRegion = argumentRegion(1, value);
  const status = u_state_set(keyRegion, valueRegion);
  releaseArgument(keyRegion);
  releaseArgument(valueRegion);
  return status == 0;
}

/** Removes `key` (true also when it was absent). */
export function stateDelete(key: string): bool {
  const keyRegion = argumentRegion(0, key);
  const status = u_state_delete(keyRegion);
  releaseArgument(keyRegion);
  return status == 0;
}

/** Appends a line to the workflow's log. */
export function log(message: string): void {
  const messageRegion = argumentRegion(0, message);
  u_log(messageRegion);
  releaseArgument(messageRegion);
}

// Scratch for WASI out-parameters (8-aligned for the u64 clock value).
const SCRATCH: usize = memory.data(8, 8);
const CLOCK_REALTIME: u32 = 0;
const MAX_ENV_BYTES: u32 = 1 << 20;
const MAX_ENV_COUNT: u32 = 1 << 16;

/** Wall-clock time in µs since the Unix epoch (0 if the host has no clock). */
export function nowMicros(): i64 {
  if (clock_time_get(CLOCK_REALTIME, 1000, SCRATCH) != 0) return 0;
  return <i64>(load<u64>(SCRATCH) / 1000);
}

/** A deploy-time environment variable (`--env K=V`), or null when unset. */
export function envVar(name: string): string | null {
  if (environ_sizes_get(SCRATCH, SCRATCH + 4) != 0) return null;
  const count = load<u32>(SCRATCH);
  const size = load<u32>(SCRATCH, 4);
  if (count == 0 || count > MAX_ENV_COUNT || size > MAX_ENV_BYTES) return null;
  const pointers = heap.alloc(<usize>count * 4);
  const bytes = heap.alloc(<usize>size);
  let found: string | null = null;
  if (environ_get(pointers, bytes) == 0) {
    const wanted = String.UTF8.encode(name);
    const wantedPtr = changetype<usize>(wanted);
    const wantedLength = <usize>wanted.byteLength;
    const end = bytes + <usize>size;
    for (let i: u32 = 0; i < count && found == null; i++) {
      const entry = <usize>load<u32>(pointers + <usize>i * 4);
      if (entry < bytes || entry + wantedLength >= end) continue;
      if (memory.compare(entry, wantedPtr, wantedLength) != 0) continue;
      if (load<u8>(entry + wantedLength) != 0x3d) continue; // '='
      const valueStart = entry + wantedLength + 1;
      let valueEnd = valueStart;
      while (valueEnd < end && load<u8>(valueEnd) != 0) valueEnd++;
      found = String.UTF8.decodeUnsafe(valueStart, valueEnd - valueStart);
    }
  }
  heap.free(pointers);
  heap.free(bytes);
  return found;
}

/** Ends the workflow with `code` (WASI proc_exit). */
export function exit(code: u32): void {
  proc_exit(code);
}

let aborting = false;

/**
 * Replaces AssemblyScript's default `env.abort` import (not part of the ABI): logs the failure,
 * then traps. Selected with `--use abort=<path>/sluiceAbort`.
 */
export function sluiceAbort(message: string | null, file: string | null, line: u32, column: u32): void {
  // An allocation failure can abort again while the message is built: trap at once then.
  if (!aborting) {
    aborting = true;
    const text = message != null ? message : "abort";
    const where = file != null ? file : "?";
    log("sluice-workflow: " + text + " at " + where + ":" + line.toString() + ":" + column.toString());
  }
  unreachable();
}

// Set the heap up now, in _initialize (this is top-level code): the allocator claims all the
// memory that exists at its first allocation, and pages the host adds after _initialize (for its
// own bookkeeping, such as a suspended workflow's saved stack) must stay outside the heap.
heap.free(heap.alloc(1));
