// Regions: { offset: u32, capacity: u32, length: u32 }, 12 bytes, little-endian.
//
// Everything here uses the raw heap (heap.alloc / heap.free), never GC objects: the host writes
// into these blocks and holds their addresses across calls, and the collector must not see them.

export const REGION_SIZE: usize = 12;
// Largest block the TLSF allocator hands out (1 GiB minus its block header).
const MAX_ALLOCATION: usize = (1 << 30) - 16;

// Guest → host arguments. No host call takes more than three, so three static Region slots
// suffice; the workflow is single-threaded and host calls never re-enter the SDK.
const ARGUMENT_REGIONS: usize = memory.data(36, 4);

/** The `allocate` export: `len` fresh bytes that the GC never moves or frees; 0 on failure. */
export function allocate(len: i32): usize {
  if (len < 0 || <usize>len > MAX_ALLOCATION) return 0;
  return heap.alloc(<usize>len);
}

/** The `deallocate` export: frees what `allocate` returned. */
export function deallocate(ptr: usize): void {
  if (ptr != 0) heap.free(ptr);
}

/** Encodes `text` as UTF-8 into a fresh block described by argument slot `slot` (0..2). */
export function argumentRegion(slot: i32, text: string): usize {
  const region = ARGUMENT_REGIONS + <usize>slot * REGION_SIZE;
  const length = <usize>String.UTF8.byteLength(text);
  const bytes = length > 0 ? heap.alloc(length) : 0;
  if (length > 0) {
    String.UTF8.encodeUnsafe(changetype<usize>(text), text.length, bytes, false, String.UTF8.ErrorMode.REPLACE);
  }
  store<u32>(region, <u32>bytes, 0);
  store<u32>(region, <u32>length, 4);
  store<u32>(region, <u32>length, 8);
  return region;
}

/** Frees the bytes behind an argument region once the host call returned. */
export function releaseArgument(region: usize): void {
  const bytes = <usize>load<u32>(region, 0);
  if (bytes != 0) heap.free(bytes);
}

/** Copies a host-made region's bytes into a string, then frees both blocks. */
export function takeString(region: usize): string {
  const text = String.UTF8.decodeUnsafe(<usize>load<u32>(region, 0), <usize>load<u32>(region, 8));
  releaseRegion(region);
  return text;
}

/** Frees a host-made region: the data block first, then the region itself. */
export function releaseRegion(region: usize): void {
  const offset = <usize>load<u32>(region, 0);
  if (offset != 0) heap.free(offset);
  heap.free(region);
}
