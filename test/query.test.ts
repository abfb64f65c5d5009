import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir } from './helpers/paths.js';
import { sluice } from './helpers/sluice.js';

type Database = Awaited<ReturnType<typeof sluice.open>>;
type Query = ReturnType<typeof sluice.parseQuery>;
type TagFilter = NonNullable<Query['filter']>;
type LiveEvent = import('../dist/lib/index.js').LiveEvent;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openDb(options: Parameters<typeof sluice.open>[0] = {}): Promise<Database> {
  const temp = makeTempDir('sluice-query-');
  cleanups.push(temp.cleanup);
  const db = await sluice.open({ dir: temp.dir, durability: 'none', ...options });
  cleanups.push(() => db.close());
  return db;
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

// ---- A brute-force reference: every point in a list, every answer computed the obvious way. ----

interface RefSeries {
  name: string;
  tags: Record<string, string>;
  points: Map<number, number>; // last write wins
}

function refFilter(filter: TagFilter | null, tags: Record<string, string>): boolean {
  if (!filter) return true;
  if (filter.kind === 'match') return ((tags[filter.key] ?? '') === filter.value) !== filter.negated;
  if (filter.kind === 'not') return !refFilter(filter.term, tags);
  if (filter.kind === 'and') return filter.terms.every((t) => refFilter(t, tags));
  return filter.terms.some((t) => refFilter(t, tags));
}

/** The answer, or for FIRST/LAST with ties across series every acceptable answer. */
function refOp(op: string, perSeries: Array<Array<[number, number]>>): number | null | number[] {
  const all = perSeries.flat();
  const values = all.map(([, v]) => v);
  if (op === 'COUNT') return values.length;
  if (op === 'SUM') return values.reduce((a, b) => a + b, 0);
  if (values.length === 0) return null;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  switch (op) {
    case 'AVG':
      return mean;
    case 'MIN':
      return Math.min(...values);
    case 'MAX':
      return Math.max(...values);
    case 'FIRST': {
      const t = Math.min(...all.map(([time]) => time));
      return all.filter(([time]) => time === t).map(([, v]) => v);
    }
    case 'LAST': {
      const t = Math.max(...all.map(([time]) => time));
      return all.filter(([time]) => time === t).map(([, v]) => v);
    }
    case 'STDDEV':
      return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
    case 'DELTA':
      return perSeries.filter((p) => p.length).reduce((a, p) => a + (p[p.length - 1]![1] - p[0]![1]), 0);
    case 'RATE': {
      const rated = perSeries.filter((p) => p.length > 1 && p[p.length - 1]![0] > p[0]![0]);
      if (!rated.length) return null;
      return rated.reduce((a, p) => a + (p[p.length - 1]![1] - p[0]![1]) / ((p[p.length - 1]![0] - p[0]![0]) / 1e6), 0);
    }
  }
  const q = Number(op.slice(1)) / 100;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = q * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

function refQuery(series: RefSeries[], query: Query, now: number): unknown {
  const resolve = (b: NonNullable<Query['range']>['start']) => (b.kind === 'now' ? now : b.kind === 'ago' ? now - Number(b.us) : Number(b.us));
  const start = query.range ? resolve(query.range.start) : -Infinity;
  const end = query.range ? resolve(query.range.end) : Infinity;
  const chosen = series.filter((s) => query.series.includes(s.name) && refFilter(query.filter, s.tags));
  const groups = new Map<string, { tags: Record<string, string>; members: RefSeries[] }>();
  for (const s of chosen) {
    const values = query.groupBy.map((k) => s.tags[k] ?? null);
    const id = JSON.stringify(values);
    if (!groups.has(id)) {
      const tags: Record<string, string> = {};
      query.groupBy.forEach((k, i) => values[i] !== null && (tags[k] = values[i]!));
      groups.set(id, { tags, members: [] });
    }
    groups.get(id)!.members.push(s);
  }
  if (!query.groupBy.length) groups.set('', { tags: {}, members: chosen });
  const pointsOf = (s: RefSeries, from: number, to: number) =>
    [...s.points].filter(([t]) => t >= from && t <= to && t >= start && t <= end).sort((a, b) => a[0] - b[0]);
  const evaluate = (members: RefSeries[]) => {
    if (query.everyUs === null) {
      const per = members.map((s) => pointsOf(s, -Infinity, Infinity));
      return { count: per.flat().length, value: refOp(query.op, per) };
    }
    const every = Number(query.everyUs);
    const windows = new Set(members.flatMap((s) => pointsOf(s, -Infinity, Infinity).map(([t]) => Math.floor(t / every) * every)));
    return {
      count: windows.size,
      buckets: [...windows].sort((a, b) => a - b).map((w) => ({ t: w, value: refOp(query.op, members.map((s) => pointsOf(s, w, w + every - 1))) })),
    };
  };
  const sortedGroups = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g);
  if (!query.groupBy.length) {
    const r = evaluate(chosen);
    return query.everyUs === null ? r.value : r.buckets;
  }
  return sortedGroups.flatMap((g): unknown[] => {
    const r = evaluate(g.members);
    if (r.count === 0) return [];
    return query.everyUs === null ? [{ tags: g.tags, value: r.value }] : [{ tags: g.tags, buckets: r.buckets }];
  });
}

/** Deep comparison with a relative tolerance; arrays of candidates for FIRST/LAST ties. */
function expectMatches(actual: unknown, expected: unknown, where: string): void {
  if (Array.isArray(expected) && typeof expected[0] === 'number' && typeof actual === 'number') {
    expect(expected, `${where}: ${actual} is not among the tied answers`).toContain(actual);
    return;
  }
  if (typeof expected === 'number' && typeof actual === 'number') {
    const tolerance = 1e-9 * Math.max(1, Math.abs(expected));
    expect(Math.abs(actual - expected), `${where}: ${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance);
    return;
  }
  if (expected === null || typeof expected !== 'object') {
    expect(actual, where).toEqual(expected);
    return;
  }
  expect(typeof actual, where).toBe('object');
  if (Array.isArray(expected)) {
    expect(Array.isArray(actual) && actual.length, `${where}: length`).toBe(expected.length);
    expected.forEach((e, i) => expectMatches((actual as unknown[])[i], e, `${where}[${i}]`));
    return;
  }
  const keys = Object.keys(expected);
  expect(Object.keys(actual as object).sort(), where).toEqual(keys.sort());
  for (const key of keys) {
    const e = (expected as Record<string, unknown>)[key];
    const a = (actual as Record<string, unknown>)[key];
    if (key === 'tags') expect(a, `${where}.tags`).toEqual(e);
    else expectMatches(a, e, `${where}.${key}`);
  }
}

const OPS = ['AVG', 'MIN', 'MAX', 'SUM', 'COUNT', 'FIRST', 'LAST', 'STDDEV', 'RATE', 'DELTA', 'P50', 'P90', 'P99', 'P100'];
const SERIES_TAGS: Array<Record<string, string>> = [
  { host: 'a', region: 'eu' },
  { host: 'b', region: 'eu' },
  { host: 'c', region: 'us' },
  { host: 'd' },
];

const atom = fc.oneof(
  fc.record({ kind: fc.constant('match' as const), key: fc.constantFrom('host', 'region'), value: fc.constantFrom('a', 'b', 'c', 'eu', 'us', ''), negated: fc.boolean() }),
);
const filterArb: fc.Arbitrary<TagFilter> = fc.letrec<{ f: TagFilter }>((tie) => ({
  f: fc.oneof(
    { depthSize: 'small' },
    atom,
    fc.record({ kind: fc.constant('not' as const), term: tie('f') }),
    fc.record({ kind: fc.constant('and' as const), terms: fc.array(tie('f'), { minLength: 2, maxLength: 3 }) }),
    fc.record({ kind: fc.constant('or' as const), terms: fc.array(tie('f'), { minLength: 2, maxLength: 3 }) }),
  ),
})).f;
const queryArb: fc.Arbitrary<Query> = fc.record({
  op: fc.constantFrom(...OPS) as fc.Arbitrary<Query['op']>,
  series: fc.constantFrom(['cpu'], ['mem'], ['cpu', 'mem']),
  filter: fc.option(filterArb, { nil: null }),
  range: fc.option(
    fc.oneof(
      fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 })).map(([a, b]) => ({
        start: { kind: 'at' as const, us: BigInt(Math.min(a, b) * 1e6) },
        end: { kind: 'at' as const, us: BigInt(Math.max(a, b) * 1e6) },
      })),
      fc.integer({ min: 1, max: 300 }).map((s) => ({ start: { kind: 'ago' as const, us: BigInt(s * 1e6) }, end: { kind: 'now' as const } })),
    ),
    { nil: null },
  ),
  everyUs: fc.option(fc.constantFrom(7_000_000n, 30_000_000n, 60_000_000n, 1_000_000n), { nil: null }),
  groupBy: fc.constantFrom([], ['host'], ['region'], ['region', 'host']),
});

describe('db.query against a brute-force reference', () => {
  it('answers random queries over random data (memtable and segments, duplicates, out of order)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            series: fc.constantFrom('cpu', 'mem'),
            tags: fc.nat({ max: SERIES_TAGS.length - 1 }),
            t: fc.integer({ min: 0, max: 250 }),
            v: fc.integer({ min: -1000, max: 1000 }).map((x) => x / 8),
          }),
          { minLength: 0, maxLength: 120 },
        ),
        fc.nat({ max: 120 }),
        fc.array(queryArb, { minLength: 15, maxLength: 15 }),
        async (points, flushAt, queries) => {
          const db = await openDb();
          const ref = new Map<string, RefSeries>();
          for (let i = 0; i < points.length; i++) {
            if (i === flushAt) await db.flush();
            const p = points[i]!;
            const tags = SERIES_TAGS[p.tags]!;
            const t = p.t * 1_000_000;
            db.write(p.series, tags, t, p.v);
            const id = `${p.series}${JSON.stringify(tags)}`;
            if (!ref.has(id)) ref.set(id, { name: p.series, tags, points: new Map() });
            ref.get(id)!.points.set(t, p.v);
          }
          const now = 260_000_000;
          for (const q of queries) {
            const text = sluice.printQuery(q);
            expectMatches(db.query(text, { now }), refQuery([...ref.values()], q, now), text);
          }
          await db.close();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('uses the inverted index: series written after a query are found by the next one', async () => {
    const db = await openDb();
    db.write('cpu', { host: 'a' }, 1, 1);
    expect(db.query('COUNT:cpu:[host=b]')).toBe(0);
    db.write('cpu', { host: 'b' }, 1, 5);
    db.write('cpu', { host: 'b', rack: '7' }, 2, 6);
    expect(db.query('COUNT:cpu:[host=b]')).toBe(2);
    expect(db.query('SUM:cpu:[rack=""]')).toBe(6);
    expect(db.query('SUM:cpu:[rack!=""]')).toBe(6);
    expect(db.query('AVG:nothing:[host=b]')).toBeNull();
  });

  it('finds series from segments and the log after a restart', async () => {
    const temp = makeTempDir('sluice-query-');
    cleanups.push(temp.cleanup);
    const first = await sluice.open({ dir: temp.dir });
    first.write('temp', { room: 'hall' }, 10, 20);
    await first.flush();
    first.write('temp', { room: 'attic' }, 10, 30);
    await first.close();
    const db = await sluice.open({ dir: temp.dir });
    cleanups.push(() => db.close());
    expect(db.query('AVG:temp BY room')).toEqual([
      { tags: { room: 'attic' }, value: 30 },
      { tags: { room: 'hall' }, value: 20 },
    ]);
  });

  it('gives windowed results over 1 M points the same as aggregateWindows', async () => {
    const db = await openDb();
    const n = 200_000;
    const ts = new BigInt64Array(n);
    const vs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      ts[i] = BigInt(i) * 10_000_000n;
      vs[i] = Math.round(Math.sin(i / 100) * 10_000) / 100;
    }
    db.writeBatch('big', { host: 'one' }, ts, vs);
    await db.flush();
    const low = db.aggregateWindows({ series: 'big', tags: { host: 'one' }, op: 'avg', every: '1h' });
    const buckets = db.query('AVG:big:[host=one]:[]:[1h]') as Array<{ t: number; value: number }>;
    expect(buckets.length).toBe(low.values.length);
    expect(buckets.map((b) => b.value)).toEqual([...low.values]);
    expect(buckets.map((b) => BigInt(b.t))).toEqual([...low.starts]);
    expect(db.query('AVG:big:[host=one]')).toBe(db.aggregate({ series: 'big', tags: { host: 'one' }, op: 'avg' }));
  });

  it('refuses bad queries with SLUICE_QUERY and bad options clearly', async () => {
    const db = await openDb();
    expect(() => db.query('AVG:temp:[x=1]:[1q]')).toThrow(expect.objectContaining({ code: 'SLUICE_QUERY', column: 18 }));
    expect(() => db.query(42 as never)).toThrow(expect.objectContaining({ code: 'SLUICE_INVALID_ARGUMENT' }));
    expect(() => db.query('AVG:temp', { now: 1.5 })).toThrow(expect.objectContaining({ code: 'SLUICE_INVALID_ARGUMENT' }));
    await db.close();
    expect(() => db.query('AVG:temp')).toThrow(expect.objectContaining({ code: 'SLUICE_CLOSED' }));
  });
});

describe('db.live', () => {
  it('updates the aggregate on every matching write, with tags and producer ids', async () => {
    const db = await openDb();
    const events: LiveEvent[] = [];
    const handle = db.live('AVG:temp:[sensor=1 OR sensor=2]', (event) => void events.push(event));
    db.write('temp', { sensor: '1' }, 1_000, 10, { producer: 7 });
    db.write('temp', { sensor: '3' }, 1_001, 99, { producer: 8 }); // filtered out
    db.write('other', { sensor: '1' }, 1_002, 99); // another series
    db.writeBatch('temp', { sensor: '2' }, new BigInt64Array([2_000n, 3_000n]), new Float64Array([20, 30]), { producer: 9 });
    expect(events).toEqual([]); // delivered after the write returns, never inside it
    await tick();
    expect(events).toEqual([
      { timestamp: 1_000, value: 10, tags: { sensor: '1' }, series: 'temp', producers: [7] },
      { timestamp: 3_000, value: 20, tags: { sensor: '2' }, series: 'temp', producers: [9] },
    ]);
    db.writeLines('temp,sensor=1 value=40 4000\ntemp,sensor=9 value=1 5000\n', { precision: 'us', producer: 11 });
    await tick();
    expect(events[2]).toEqual({ timestamp: 4_000, value: 25, tags: { sensor: '1' }, series: 'temp', producers: [11] });
    expect(events).toHaveLength(3);
    handle.close();
    db.write('temp', { sensor: '1' }, 5_000, 1);
    await tick();
    expect(events).toHaveLength(3);
    expect(handle.stats()).toMatchObject({ delivered: 3, dropped: 0 });
  });

  it('gives every query of a one-point write that point, also when a write is made from inside the dispatch', async () => {
    // One-point writes hand live queries the database's own one-element arrays; a write made while
    // they are being read (only internal consumers could) must not change what the others see.
    const db = await openDb();
    const seen: Array<[string, number, number | null]> = [];
    const internal = { deliverDuringWrite: true } as Parameters<typeof db.live>[2];
    let nested = false;
    db.live('SUM:temp:[]', (event) => {
      seen.push(['first', event.timestamp, event.value]);
      if (!nested) {
        nested = true;
        db.write('temp', { sensor: '2' }, 2_000, 222);
      }
    }, internal);
    db.live('SUM:temp:[]', (event) => void seen.push(['second', event.timestamp, event.value]), internal);
    db.write('temp', { sensor: '1' }, 1_000, 111);
    // Each event's time is the newest point of the write that made it; the sums count each point once.
    expect(seen).toEqual([
      ['first', 1_000, 111],
      ['first', 2_000, 333],
      ['second', 2_000, 222],
      ['second', 1_000, 333],
    ]);
    db.write('temp', undefined, 3_000, 333);
    expect(seen.slice(4)).toEqual([
      ['first', 3_000, 666],
      ['second', 3_000, 666],
    ]);
  });

  it('hands out frozen tags that are not the writer\'s object, so no consumer changes them for another', async () => {
    const db = await openDb();
    const plain: LiveEvent[] = [];
    const grouped: LiveEvent[] = [];
    db.live('LAST:temp:[]', (event) => {
      plain.push(event);
      // A careless consumer: in strict code, changing the shared tags throws instead of leaking.
      expect(() => ((event.tags as Record<string, string>).sensor = 'changed')).toThrow(TypeError);
    });
    db.live('LAST:temp:[] BY sensor', (event) => void grouped.push(event));
    const tags = { sensor: '1' };
    db.write('temp', tags, 1_000, 10);
    tags.sensor = '2'; // the writer reuses its object
    db.write('temp', tags, 2_000, 20);
    await tick();
    expect(plain.map((event) => event.tags)).toEqual([{ sensor: '1' }, { sensor: '2' }]);
    expect(grouped.map((event) => event.tags)).toEqual([{ sensor: '1' }, { sensor: '2' }]);
    for (const event of [...plain, ...grouped]) {
      expect(Object.isFrozen(event.tags)).toBe(true);
      expect(event.tags).not.toBe(tags);
    }
    await db.close();
  });

  it('keeps a sliding range behind the newest point, starting from stored points', async () => {
    const db = await openDb();
    const now = Date.now() * 1000;
    db.write('load', { host: 'a' }, now - 30_000_000, 100); // 30 s ago: inside [1m]
    db.write('load', { host: 'a' }, now - 120_000_000, 1_000); // 2 min ago: outside
    const handle = db.live('SUM:load:[]:[1m,now]');
    db.write('load', { host: 'a' }, now, 1);
    expect(handle.poll()).toMatchObject({ timestamp: now, value: 101 });
    db.write('load', { host: 'b' }, now + 45_000_000, 10); // the 30 s-old point leaves the minute
    expect(handle.poll()).toMatchObject({ value: 11, tags: { host: 'b' } });
    db.write('load', { host: 'b' }, now - 60_000_000, 5); // older than the range now: late
    expect(handle.poll()).toBeUndefined();
    expect(handle.stats().late).toBe(1);
    const max = db.live('MAX:load:[]:[10s]');
    for (const [t, v] of [[1, 5], [2, 9], [3, 4], [13, 3], [14, 2]] as const) db.write('load', { host: 'a' }, now + 100_000_000 + t * 1_000_000, v);
    const values: Array<number | null> = [];
    for (let e = max.poll(); e; e = max.poll()) values.push(e.value);
    expect(values).toEqual([5, 9, 9, 4, 3]);
  });

  it('emits each tumbling window once when a later point closes it, per group, counting late points', async () => {
    const db = await openDb();
    const handle = db.live('COUNT:req:[]:[]:[10s] BY route');
    const w = (route: string, s: number, producer: number) => db.write('req', { route, code: '200' }, s * 1_000_000, 1, { producer });
    w('/a', 1, 1);
    w('/b', 2, 2);
    w('/a', 9, 3);
    expect(handle.poll()).toBeUndefined();
    w('/b', 12, 4); // closes [0, 10 s) for both groups
    expect(handle.poll()).toEqual({ timestamp: 0, value: 2, tags: { route: '/a' }, series: 'req', producers: [1, 3], window: { start: 0, end: 10_000_000 } });
    expect(handle.poll()).toEqual({ timestamp: 0, value: 1, tags: { route: '/b' }, series: 'req', producers: [2], window: { start: 0, end: 10_000_000 } });
    w('/a', 5, 5); // its window is closed
    expect(handle.stats().late).toBe(1);
    w('/a', 35, 6);
    expect(handle.poll()).toMatchObject({ timestamp: 10_000_000, value: 1, tags: { route: '/b' } });
    expect(handle.poll()).toBeUndefined();
  });

  it('never slows ingest for a slow consumer: the buffer is bounded and drops are counted', async () => {
    const db = await openDb();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const seen: number[] = [];
    const handle = db.live(
      'LAST:tick',
      async (event) => {
        seen.push(event.value!);
        await gate;
      },
      { bufferSize: 4 },
    );
    db.write('tick', {}, 1, 1);
    await tick(); // the consumer takes event 1 and blocks
    for (let i = 2; i <= 10; i++) db.write('tick', {}, i, i);
    expect(handle.stats()).toMatchObject({ buffered: 4, dropped: 5 });
    release();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(seen).toEqual([1, 7, 8, 9, 10]); // the freshest were kept
    expect(handle.stats()).toMatchObject({ buffered: 0, delivered: 5, dropped: 5 });
  });

  it('counts errors thrown by the callback and keeps going', async () => {
    const db = await openDb();
    let calls = 0;
    const handle = db.live('COUNT:x', () => {
      calls++;
      throw new Error('consumer bug');
    });
    db.write('x', {}, 1, 1);
    db.write('x', {}, 2, 1);
    await tick();
    expect(calls).toBe(2);
    expect(handle.stats().callbackErrors).toBe(2);
    expect((handle.lastError as Error).message).toBe('consumer bug');
  });

  it('closes its queries with the database, and refuses bad arguments', async () => {
    const db = await openDb();
    const handle = db.live('COUNT:x');
    expect(() => db.live('COUNT:x:[]:[2h,1h]')).toThrow(expect.objectContaining({ code: 'SLUICE_QUERY' }));
    expect(() => db.live('COUNT:x', 'nope' as never)).toThrow(expect.objectContaining({ code: 'SLUICE_INVALID_ARGUMENT' }));
    expect(() => db.live('COUNT:x', undefined, { bufferSize: 0 })).toThrow(expect.objectContaining({ code: 'SLUICE_INVALID_ARGUMENT' }));
    expect(() => db.write('x', {}, 1, 1, { producer: -1 })).toThrow(expect.objectContaining({ code: 'SLUICE_INVALID_ARGUMENT' }));
    await db.close();
    expect(handle.closed).toBe(true);
  });
});

describe('live queries against db.query over the same points', () => {
  const liveOps = ['AVG', 'MIN', 'MAX', 'SUM', 'COUNT', 'FIRST', 'LAST', 'STDDEV', 'DELTA', 'RATE', 'P50', 'P90'];
  const writesArb = fc.array(
    fc.record({ host: fc.constantFrom('a', 'b', 'c'), step: fc.integer({ min: -3, max: 8 }), v: fc.integer({ min: -50, max: 50 }) }),
    { minLength: 1, maxLength: 60 },
  );

  it('a sliding range gives, after every write, the aggregate of [newest − range, newest]', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...liveOps), fc.constantFrom('[]', '[host!=c]'), writesArb, async (op, filter, writes) => {
        const db = await openDb();
        const live = db.live(`${op}:cpu:${filter}:[10s]`, undefined, { bufferSize: 1000 });
        let t = 1_000;
        let newest = -Infinity;
        let late = 0;
        const written = new Set<string>();
        for (const w of writes) {
          t += w.step * 1_000_000; // mostly forward, sometimes back (several steps back can leave the range)
          // Live queries aggregate writes as they come: a rewrite would count twice (docs/query.md);
          // and one time per point keeps FIRST/LAST free of ties between series.
          if (written.has(`${t}`)) continue;
          written.add(`${t}`);
          db.write('cpu', { host: w.host }, t, w.v / 4);
          const event = live.poll();
          if (filter === '[host!=c]' && w.host === 'c') {
            expect(event).toBeUndefined();
            continue;
          }
          if (t < newest - 10_000_000) {
            // Older than the range behind the newest point: late, counted, no event.
            expect(event).toBeUndefined();
            late++;
            continue;
          }
          newest = Math.max(newest, t); // the range follows the newest point the query has seen
          const expected = db.query(`${op}:cpu:${filter}:[${newest - 10_000_000},${newest}]`);
          expectMatches(event?.value, expected, `${op} after t=${t}`);
        }
        expect(live.stats().late).toBe(late);
        await db.close();
      }),
      { numRuns: Number(process.env.SLUICE_PROPERTY_RUNS ?? 60) },
    );
  });

  it('tumbling windows per group emit what db.query gives for each closed window', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...liveOps), writesArb, async (op, writes) => {
        const db = await openDb();
        const live = db.live(`${op}:cpu:[]:[]:[5s] BY host`, undefined, { bufferSize: 1000 });
        let t = 0;
        let newest = -1;
        let late = 0;
        const written = new Set<string>();
        for (const w of writes) {
          t = Math.max(0, t + w.step * 1_000_000);
          if (written.has(`${w.host}@${t}`)) continue;
          written.add(`${w.host}@${t}`);
          if (Math.floor(t / 5e6) < Math.floor(newest / 5e6)) late++;
          else newest = Math.max(newest, t);
          db.write('cpu', { host: w.host }, t, w.v / 4);
        }
        expect(live.stats().late).toBe(late);
        const closedBefore = Math.floor(newest / 5e6) * 5e6;
        const emitted = new Map<string, unknown>();
        for (let e = live.poll(); e; e = live.poll()) {
          expect(e.window!.end - e.window!.start).toBe(5e6);
          expect(e.window!.end).toBeLessThanOrEqual(closedBefore);
          emitted.set(`${e.tags.host}@${e.window!.start}`, e.value);
        }
        // Without late points, every closed window of every group was emitted once, as db.query says.
        if (late === 0) {
          const groups = closedBefore === 0 ? [] : db.query(`${op}:cpu:[]:[0,${closedBefore - 1}]:[5s] BY host`) as Array<{ tags: { host: string }; buckets: Array<{ t: number; value: number | null }> }>;
          const expected = new Map(groups.flatMap((g) => g.buckets.map((b) => [`${g.tags.host}@${b.t}`, b.value] as const)));
          expect([...emitted.keys()].sort()).toEqual([...expected.keys()].sort());
          for (const [key, value] of expected) expectMatches(emitted.get(key), value, key);
        }
        await db.close();
      }),
      { numRuns: 60 },
    );
  });
});

describe('series keys and native query kernels', () => {
  it('splits every canonical key back into its name and tags', async () => {
    const { bindings } = await import('./helpers/sluice.js');
    const { parseSeriesKey } = (await import('../dist/lib/query/series-index.js')) as typeof import('../dist/lib/query/series-index.js');
    const text = fc.string({ minLength: 1, maxLength: 8, unit: fc.constantFrom('a', 'Z', '0', ',', '=', ' ', '\\', '"', ':', 'é') });
    fc.assert(
      fc.property(text, fc.dictionary(text, text, { maxKeys: 5 }), (name, tags) => {
        const flat = Object.entries(tags).flat();
        const key = bindings.native().addon.seriesKey(name, flat);
        const parsed = parseSeriesKey(key);
        expect(parsed.name).toBe(name);
        expect(parsed.tags).toEqual(tags);
        expect(parsed.key).toBe(key);
      }),
      { numRuns: 2000 },
    );
  });

  it('checks the arguments of the native kernels again', async () => {
    const { bindings } = await import('./helpers/sluice.js');
    const addon = bindings.native().addon;
    const temp = makeTempDir('sluice-kernels-');
    cleanups.push(temp.cleanup);
    const engine = addon.engineOpen(temp.dir, 0, 100, 1 << 20, 0n, 4, [], 0, 1);
    cleanups.push(() => addon.engineClose(engine));
    addon.engineWritePoint(engine, 'x', [], 1, 3);
    addon.engineWritePoint(engine, 'x', [], 2, 5);
    expect(addon.engineMoments(engine, ['x'], 0n, 10n)).toEqual({ count: 2, mean: 4, m2: 2 });
    expect(addon.engineQuantiles(engine, ['x', 'missing'], 0n, 10n, new Float64Array([0, 0.5, 1]), 10).values).toEqual(new Float64Array([3, 4, 5]));
    expect(() => addon.engineQuantiles(engine, ['x'], 0n, 10n, new Float64Array([1.5]), 10)).toThrow(/quantiles must be in \[0, 1\]/);
    expect(() => addon.engineQuantiles(engine, ['x'], 0n, 10n, new Float64Array([0.5]), 1)).toThrow(expect.objectContaining({ code: 'SLUICE_LIMIT' }));
    expect(() => addon.engineQuantiles(engine, ['x'], 0n, 10n, [0.5] as never, 10)).toThrow(/Float64Array/);
    expect(() => addon.engineMoments(engine, 'x' as never, 0n, 10n)).toThrow(/array of series keys/);
    expect(() => addon.engineMoments(engine, [''], 0n, 10n)).toThrow(/1\.\.8192 bytes/);
    expect(() => addon.engineMoments(engine, [7] as never, 0n, 10n)).toThrow(/array of series keys/);
    expect(() => addon.engineSeriesKeys(engine, -1)).toThrow();
    expect(addon.engineSeriesKeys(engine, 0)).toEqual(['x']);
    expect(addon.engineSeriesKeys(engine, 1)).toEqual([]);
  });
});
