// Copies between byte arrays on the event paths, where a view object per copy would be garbage
// for every event.

/** Up to this many bytes are copied one by one; longer copies are worth a subarray view. */
const SHORT_COPY = 512;

/** Copies `source[start, end)` into `target` at `at`. */
export function copyBytes(target: Uint8Array, at: number, source: Uint8Array, start: number, end: number): void {
  const length = end - start;
  if (length <= SHORT_COPY) {
    for (let i = 0; i < length; i++) target[at + i] = source[start + i]!;
  } else {
    target.set(source.subarray(start, end), at);
  }
}
