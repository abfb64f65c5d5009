// GET /query?q=<dsl>[&now=<µs>]: the query language over HTTP (docs/query.md). The result is the
// JSON of db.query; a bad query is a 400 whose JSON names the column, what was found and expected.
import { parseQuery } from '../dsl/parser.js';
import type { Database } from '../tsdb/index.js';
import { jsonReply, type HttpHandler } from './http.js';

export function queryHandler(db: Database): HttpHandler {
  return (request) => {
    const params = new URLSearchParams(request.query);
    const q = params.get('q');
    if (q === null || q === '') {
      return jsonReply(400, { error: 'the query goes in the q parameter, such as /query?q=AVG:temp:[sensor=1]:[1h]', code: 'SLUICE_INVALID_ARGUMENT' });
    }
    const rawNow = params.get('now');
    if (rawNow !== null && !/^-?\d{1,19}$/.test(rawNow)) {
      return jsonReply(400, { error: `now must be microseconds since the epoch (an integer), got ${JSON.stringify(rawNow)}`, code: 'SLUICE_INVALID_ARGUMENT' });
    }
    try {
      if (request.refuseSeries) {
        const refusal = request.refuseSeries(parseQuery(q).series);
        if (refusal) return refusal;
      }
      const result = db.query(q, rawNow === null ? {} : { now: BigInt(rawNow) });
      return jsonReply(200, { query: q, result });
    } catch (error) {
      const { code, message, column, found, expected } = error as { code?: string; message: string; column?: number; found?: string; expected?: string };
      if (code === 'SLUICE_QUERY' || code === 'SLUICE_INVALID_ARGUMENT' || code === 'SLUICE_LIMIT') {
        return jsonReply(400, { error: message, code, column, found, expected });
      }
      return jsonReply(500, { error: message, code: code ?? 'SLUICE_INTERNAL' });
    }
  };
}
