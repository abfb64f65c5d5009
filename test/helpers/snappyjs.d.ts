// snappyjs ships no types: the two functions the remote_write tests use.
declare module 'snappyjs' {
  /** Snappy block format (the output is the input's type). */
  export function compress<T extends Uint8Array | ArrayBuffer>(input: T): T;
  export function uncompress<T extends Uint8Array | ArrayBuffer>(input: T, maxLength?: number): T;
}
