// Points in over the network: WebSocket messages (binary Slung events, JSON text), HTTP line
// protocol (/write, /api/v2/write) and Prometheus remote_write (/api/v1/write). Parsing is native, straight from the network buffer; a bad
// message or body writes nothing of itself and says what was wrong and where.
import { gunzipSync } from 'node:zlib';
import { native } from '../../bindings/index.js';
import { SluiceError } from '../errors.js';
import { parseSeriesKey } from '../query/series-index.js';
import { encodeEvents, type FrameEvent } from '../ingest/event-frame.js';
import type { LineProtocolPrecision } from '../ingest/line-protocol.js';
import type { Database } from '../tsdb/index.js';
import type { WsConnection } from './backend.js';
import { jsonReply, tooLarge, type HttpHandler, type HttpReply, type HttpRequest } from './http.js';

/** RFC 6455 §7.4.1 close codes the server uses. */
export const CLOSE_CODES = { goingAway: 1001, invalidPayload: 1007, policyViolation: 1008, tooBig: 1009, internalError: 1011 } as const;

/** The distinct series names of a parsed batch's canonical keys. */
function seriesNamesOf(keys: string[]): Set<string> {
  return new Set(keys.map((key) => parseSeriesKey(key).name));
}

const MAX_JSON_EVENTS = 1_000_000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** One WebSocket message from a producer: written whole (true), or refused whole and the
 * connection closed (false). */
export function ingestMessage(
  db: Database,
  connection: WsConnection,
  message: Uint8Array | JsonMessage,
  refuseSeries?: (names: Iterable<string>) => string | undefined,
): boolean {
  try {
    const frame = message instanceof Uint8Array ? message : encodeEvents(jsonEvents(message));
    if (refuseSeries) {
      const refusal = refuseSeries(seriesNamesOf(native().addon.parseEventFrame(frame).seriesKeys));
      if (refusal) {
        connection.send(JSON.stringify({ error: refusal, code: 'SLUICE_FORBIDDEN' }));
        connection.close(CLOSE_CODES.policyViolation, 'forbidden');
        return false;
      }
    }
    db.writeEventFrame(frame, { producer: connection.id });
    if (connection.acks) {
      // Messages are numbered from 1 per connection; acks go out in order once durable.
      const sequence = ++connection.written;
      db.whenDurable().then(
        () => connection.send(`{"ack":${sequence}}`),
        () => undefined, // the database closed: no ack, the producer resends
      );
    }
    return true;
  } catch (error) {
    const { code, message, offset, event } = error as { code?: string; message: string; offset?: number; event?: number };
    const refused = code === 'SLUICE_FRAME' || code === 'SLUICE_INVALID_ARGUMENT';
    connection.send(JSON.stringify({ error: message, code: code ?? 'SLUICE_INTERNAL', event, offset }));
    connection.close(refused ? CLOSE_CODES.invalidPayload : CLOSE_CODES.internalError, refused ? 'invalid message' : 'write failed');
    return false;
  }
}

function badJson(message: string, event?: number): SluiceError {
  return Object.assign(new SluiceError('SLUICE_FRAME', `JSON message: ${message}`), event === undefined ? {} : { event });
}

/** A text message read once: its JSON value, or why it is not JSON (reported if it is meant as points). */
export type JsonMessage = { value: unknown; error?: undefined } | { value?: undefined; error: SluiceError };

export function readJsonMessage(data: Uint8Array): JsonMessage {
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return { error: badJson('not valid UTF-8') };
  }
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (error) {
    return { error: badJson(`not JSON (${(error as Error).message})`) };
  }
}

/**
 * A JSON text message: one event or an array of them,
 * `{"series": "temp", "tags": {"sensor": "1"}, "timestamp": 1700000000000000, "value": 21.5}`;
 * timestamp in µs (a number, or a string of digits beyond 2^53), the server's clock when absent.
 */
function jsonEvents(message: JsonMessage): FrameEvent[] {
  if (message.error) throw message.error;
  const value = message.value;
  const items = Array.isArray(value) ? value : [value];
  if (items.length > MAX_JSON_EVENTS) throw badJson(`more than ${MAX_JSON_EVENTS} events in one message`);
  const now = BigInt(Date.now()) * 1000n;
  return items.map((item: unknown, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw badJson('each event must be an object {series, tags, timestamp, value}', i);
    const { series, tags, timestamp, value: point } = item as Record<string, unknown>;
    if (typeof series !== 'string' || series === '') throw badJson('"series" must be a non-empty string', i);
    if (typeof point !== 'number') throw badJson('"value" must be a number', i);
    if (tags !== undefined && (typeof tags !== 'object' || tags === null || Array.isArray(tags) || Object.values(tags).some((v) => typeof v !== 'string'))) {
      throw badJson('"tags" must be an object of strings, such as {"sensor": "1"}', i);
    }
    let time: bigint;
    if (timestamp === undefined) time = now;
    else if (typeof timestamp === 'number' && Number.isSafeInteger(timestamp)) time = BigInt(timestamp);
    else if (typeof timestamp === 'string' && /^-?\d{1,19}$/.test(timestamp)) time = BigInt(timestamp);
    else throw badJson('"timestamp" must be µs since the epoch: a safe integer, or a string of digits', i);
    return { series, tags: tags as Record<string, string> | undefined, timestamp: time, value: point };
  });
}

const V1_PRECISIONS: Record<string, LineProtocolPrecision> = { n: 'ns', ns: 'ns', u: 'us', us: 'us', µ: 'us', ms: 'ms', s: 's' };
const V2_PRECISIONS: Record<string, LineProtocolPrecision> = { ns: 'ns', us: 'us', ms: 'ms', s: 's' };

/** POST /write (InfluxDB 1.x) and /api/v2/write (2.x): line protocol, optionally gzip; 204 when written. */
export function lineProtocolHandler(db: Database, version: 1 | 2, maxBodyBytes: number, onResult: (written: boolean) => void): HttpHandler {
  const precisions = version === 1 ? V1_PRECISIONS : V2_PRECISIONS;
  return (request): HttpReply => {
    const reply = writeLineProtocol(db, precisions, maxBodyBytes, request);
    onResult(reply.status === 204);
    return reply;
  };
}

function writeLineProtocol(db: Database, precisions: Record<string, LineProtocolPrecision>, maxBodyBytes: number, request: HttpRequest): HttpReply {
  const params = new URLSearchParams(request.query);
  const rawPrecision = params.get('precision') ?? 'ns';
  const precision = precisions[rawPrecision];
  if (!precision) {
    return influxError(400, 'SLUICE_INVALID_ARGUMENT', `precision must be one of ${Object.keys(precisions).join(', ')}, got "${rawPrecision}"`);
  }
  let body = request.body;
  const encoding = (request.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding === 'gzip') {
    try {
      body = gunzipSync(body, { maxOutputLength: maxBodyBytes });
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') return tooLarge(maxBodyBytes);
      return influxError(400, 'SLUICE_INVALID_ARGUMENT', `the body is not valid gzip: ${(error as Error).message}`);
    }
  } else if (encoding !== 'identity') {
    return influxError(415, 'SLUICE_INVALID_ARGUMENT', `content-encoding ${encoding} is not supported; use gzip or none`);
  }
  try {
    if (request.refuseSeries) {
      const refusal = request.refuseSeries(seriesNamesOf(native().addon.parseLineProtocol(body, precision, BigInt(Date.now()) * 1000n).seriesKeys));
      if (refusal) return refusal;
    }
    db.writeLines(body, { precision });
  } catch (error) {
    const { code, message, line, column } = error as SluiceError;
    if (code === 'SLUICE_PARSE' || code === 'SLUICE_INVALID_ARGUMENT') return influxError(400, code, message, { line, column });
    return influxError(500, code ?? 'SLUICE_INTERNAL', message);
  }
  return { status: 204, body: '' };
}

/** Influx clients read `error` (1.x) or `code` and `message` (2.x): give both. */
function influxError(status: number, code: string, message: string, where: { line?: number; column?: number } = {}): HttpReply {
  return jsonReply(status, { error: message, message, code, ...where });
}

/**
 * POST /api/v1/write: Prometheus remote_write 1.0, a snappy block holding a protobuf WriteRequest;
 * 204 when written. The body's uncompressed size is held to maxBodyBytes too (413 when the snappy
 * preamble declares more).
 */
export function remoteWriteHandler(db: Database, maxBodyBytes: number, onResult: (written: boolean) => void): HttpHandler {
  return (request): HttpReply => {
    const reply = writeRemoteWrite(db, maxBodyBytes, request);
    onResult(reply.status === 204);
    return reply;
  };
}

function writeRemoteWrite(db: Database, maxBodyBytes: number, request: HttpRequest): HttpReply {
  const encoding = request.headers['content-encoding']?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== 'snappy') {
    return remoteWriteError(415, 'SLUICE_INVALID_ARGUMENT', `content-encoding ${encoding} is not supported; remote_write bodies are snappy`);
  }
  const contentType = request.headers['content-type'];
  if (contentType !== undefined && !isWriteRequestType(contentType)) {
    return remoteWriteError(
      415,
      'SLUICE_INVALID_ARGUMENT',
      `content-type ${contentType} is not supported; use application/x-protobuf (remote_write 1.0, prometheus.WriteRequest)`,
    );
  }
  try {
    if (request.refuseSeries) {
      const refusal = request.refuseSeries(seriesNamesOf(native().addon.parseRemoteWrite(request.body, maxBodyBytes).seriesKeys));
      if (refusal) return refusal;
    }
    db.writeRemoteWrite(request.body, { maxUncompressedBytes: maxBodyBytes });
  } catch (error) {
    const { code, message, offset } = error as SluiceError;
    if (code === 'SLUICE_TOO_LARGE') return remoteWriteError(413, code, message);
    if (code === 'SLUICE_PARSE' || code === 'SLUICE_INVALID_ARGUMENT') return remoteWriteError(400, code, message, offset);
    return remoteWriteError(500, code ?? 'SLUICE_INTERNAL', message);
  }
  return { status: 204, body: '' };
}

/** application/x-protobuf, with no `proto` parameter or the 1.0 message (2.0 sends io.prometheus.write.v2.Request). */
function isWriteRequestType(contentType: string): boolean {
  const [mediaType, ...parameters] = contentType.split(';').map((part) => part.trim().toLowerCase());
  if (mediaType !== 'application/x-protobuf') return false;
  const proto = parameters.find((parameter) => parameter.startsWith('proto='));
  return proto === undefined || proto.slice('proto='.length).replace(/^"|"$/g, '') === 'prometheus.writerequest';
}

function remoteWriteError(status: number, code: string, message: string, offset?: number): HttpReply {
  return jsonReply(status, { error: message, message, code, ...(offset === undefined ? {} : { offset }) });
}
