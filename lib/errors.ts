/** Codes on every error sluice raises on purpose, for callers to branch on. */
export type SluiceErrorCode =
  | 'SLUICE_INVALID_ARGUMENT'
  | 'SLUICE_LOCKED'
  | 'SLUICE_IO'
  | 'SLUICE_LISTEN'
  | 'SLUICE_BACKEND_UNAVAILABLE'
  | 'SLUICE_CLOSED'
  | 'SLUICE_CORRUPT'
  | 'SLUICE_PARSE'
  | 'SLUICE_QUERY'
  | 'SLUICE_LIMIT'
  | 'SLUICE_FRAME'
  | 'SLUICE_TOO_LARGE'
  | 'SLUICE_WASM'
  | 'SLUICE_WORKFLOW';

/** An error with a stable `code`; the message says what was wrong, where, and what is accepted. */
export class SluiceError extends Error {
  readonly code: SluiceErrorCode;
  /** For SLUICE_PARSE and SLUICE_QUERY: where the input went wrong (1-based). */
  declare line?: number;
  declare column?: number;
  /** For SLUICE_FRAME: the byte offset and 0-based index of the bad event in the message; for a
   * remote_write SLUICE_PARSE: the byte offset (in the snappy body or the uncompressed protobuf, as
   * the message says). */
  declare offset?: number;
  declare event?: number;
  /** For SLUICE_QUERY: what was found at `column` and what would have been accepted there. */
  declare found?: string;
  declare expected?: string;
  constructor(code: SluiceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SluiceError';
    this.code = code;
  }
}
