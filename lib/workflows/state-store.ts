// A workflow's durable key-value state (u_state_get/set/delete): kept in memory, every change
// appended to a log file and fdatasync'ed before the host call returns, so a value a guest was
// told is stored survives kill -9. Records carry a CRC-32; a torn or corrupt tail is cut on load.
// The log is rewritten when it grows past twice the live data.
import fs from 'node:fs';
import path from 'node:path';

export const MAX_STATE_KEY_BYTES = 1024;
export const MAX_STATE_VALUE_BYTES = 1024 * 1024;
export const MAX_STATE_BYTES = 64 * 1024 * 1024;
const DELETED = 0xffffffff;
const RECORD_HEADER = 12;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(parts: Uint8Array[]): number {
  let crc = 0xffffffff;
  for (const part of parts) for (let i = 0; i < part.length; i++) crc = CRC_TABLE[(crc ^ part[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** [key length u32][value length u32, or DELETED][crc u32 of both lengths, key and value][key][value] */
function encodeRecord(key: Uint8Array, value: Uint8Array | null): Buffer {
  const record = Buffer.alloc(RECORD_HEADER + key.length + (value?.length ?? 0));
  record.writeUInt32LE(key.length, 0);
  record.writeUInt32LE(value ? value.length : DELETED, 4);
  record.set(key, RECORD_HEADER);
  if (value) record.set(value, RECORD_HEADER + key.length);
  record.writeUInt32LE(crc32([record.subarray(0, 8), record.subarray(RECORD_HEADER)]), 8);
  return record;
}

export class StateStore {
  readonly file: string;
  readonly #values = new Map<string, Uint8Array>();
  #fd: number;
  #fileBytes = 0;
  #liveBytes = 0;
  /** Bytes cut from a torn or corrupt tail when the store was opened. */
  readonly truncatedBytes: number;

  constructor(file: string) {
    this.file = file;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const data = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
    let at = 0;
    while (at + RECORD_HEADER <= data.length) {
      const keyLength = data.readUInt32LE(at);
      const valueField = data.readUInt32LE(at + 4);
      const valueLength = valueField === DELETED ? 0 : valueField;
      if (keyLength > MAX_STATE_KEY_BYTES || valueLength > MAX_STATE_VALUE_BYTES) break;
      const end = at + RECORD_HEADER + keyLength + valueLength;
      if (end > data.length) break;
      if (crc32([data.subarray(at, at + 8), data.subarray(at + RECORD_HEADER, end)]) !== data.readUInt32LE(at + 8)) break;
      const key = data.toString('utf8', at + RECORD_HEADER, at + RECORD_HEADER + keyLength);
      this.#forget(key);
      if (valueField !== DELETED) this.#remember(key, data.slice(at + RECORD_HEADER + keyLength, end));
      at = end;
    }
    this.truncatedBytes = data.length - at;
    this.#fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    if (this.truncatedBytes > 0) {
      fs.ftruncateSync(this.#fd, at);
      fs.fdatasyncSync(this.#fd);
    }
    this.#fileBytes = at;
  }

  get size(): number {
    return this.#values.size;
  }

  get(key: string): Uint8Array | null {
    return this.#values.get(key) ?? null;
  }

  /** null when stored durably, else why not. */
  set(key: string, value: Uint8Array): string | null {
    const keyBytes = Buffer.from(key, 'utf8');
    if (keyBytes.length === 0 || keyBytes.length > MAX_STATE_KEY_BYTES) return `a state key must be 1..${MAX_STATE_KEY_BYTES} bytes, got ${keyBytes.length}`;
    if (value.length > MAX_STATE_VALUE_BYTES) return `a state value must be at most ${MAX_STATE_VALUE_BYTES} bytes, got ${value.length}`;
    const previous = this.#values.get(key);
    // Live bytes count key and value: replacing a value changes only the value's share.
    const growth = previous ? value.length - previous.length : keyBytes.length + value.length;
    if (this.#liveBytes + growth > MAX_STATE_BYTES) return `the workflow's state would exceed ${MAX_STATE_BYTES} bytes`;
    this.#append(encodeRecord(keyBytes, value));
    this.#forget(key);
    this.#remember(key, Uint8Array.from(value));
    this.#maybeCompact();
    return null;
  }

  delete(key: string): string | null {
    if (!this.#values.has(key)) return null;
    this.#append(encodeRecord(Buffer.from(key, 'utf8'), null));
    this.#forget(key);
    this.#maybeCompact();
    return null;
  }

  close(): void {
    if (this.#fd >= 0) fs.closeSync(this.#fd);
    this.#fd = -1;
  }

  #remember(key: string, value: Uint8Array): void {
    this.#values.set(key, value);
    this.#liveBytes += Buffer.byteLength(key) + value.length;
  }

  #forget(key: string): void {
    const previous = this.#values.get(key);
    if (!previous) return;
    this.#values.delete(key);
    this.#liveBytes -= Buffer.byteLength(key) + previous.length;
  }

  #append(record: Buffer): void {
    fs.writeSync(this.#fd, record, 0, record.length, this.#fileBytes);
    fs.fdatasyncSync(this.#fd);
    this.#fileBytes += record.length;
  }

  #maybeCompact(): void {
    if (this.#fileBytes < 64 * 1024 || this.#fileBytes < 2 * (this.#liveBytes + this.#values.size * RECORD_HEADER)) return;
    const temporary = `${this.file}.compact`;
    const records = [...this.#values].map(([key, value]) => encodeRecord(Buffer.from(key, 'utf8'), value));
    const fd = fs.openSync(temporary, 'w', 0o644);
    try {
      for (const record of records) fs.writeSync(fd, record);
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temporary, this.file);
    fs.closeSync(this.#fd);
    this.#fd = fs.openSync(this.file, fs.constants.O_RDWR);
    this.#fileBytes = records.reduce((n, r) => n + r.length, 0);
  }
}
