// The inverted index from series names and tags to series, so a query touches only the series its
// filter matches. Built from the engine's catalog of series keys (native/series_catalog.h) and kept
// current by asking for the keys seen since the last look.
import type { TagFilter } from '../dsl/ast.js';

export interface SeriesEntry {
  /** The canonical key (native/series_key.h). */
  key: string;
  name: string;
  tags: Record<string, string>;
  /** The tags as the engine takes them: [k1, v1, k2, v2, ...], keys sorted. */
  flatTags: string[];
}

interface NameIndex {
  all: SeriesEntry[];
  /** tag key -> tag value -> series holding that pair. */
  byTag: Map<string, Map<string, Set<SeriesEntry>>>;
}

/** Splits a canonical key `name,k1=v1,k2=v2` (backslash escapes) into its parts. */
export function parseSeriesKey(key: string): SeriesEntry {
  const parts: string[] = [];
  const separators: string[] = [];
  let current = '';
  for (let i = 0; i < key.length; i++) {
    const ch = key[i]!;
    if (ch === '\\' && i + 1 < key.length) {
      current += key[++i]!;
    } else if (ch === ',' || (ch === '=' && parts.length > 0 && separators[separators.length - 1] === ',')) {
      parts.push(current);
      separators.push(ch);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  const name = parts[0]!;
  const tags: Record<string, string> = {};
  const flatTags: string[] = [];
  for (let i = 1; i + 1 < parts.length; i += 2) {
    tags[parts[i]!] = parts[i + 1]!;
    flatTags.push(parts[i]!, parts[i + 1]!);
  }
  return { key, name, tags, flatTags };
}

/** Whether a series with these tags passes the filter. `key=""` matches series without the key. */
export function matchesFilter(filter: TagFilter | null, tags: Readonly<Record<string, string>>): boolean {
  if (filter === null) return true;
  switch (filter.kind) {
    case 'match':
      return ((Object.hasOwn(tags, filter.key) ? tags[filter.key] : '') === filter.value) !== filter.negated;
    case 'not':
      return !matchesFilter(filter.term, tags);
    case 'and':
      return filter.terms.every((term) => matchesFilter(term, tags));
    case 'or':
      return filter.terms.some((term) => matchesFilter(term, tags));
  }
}

export class SeriesIndex {
  #known = 0;
  readonly #names = new Map<string, NameIndex>();

  /** `fetchSince(n)`: the catalog's keys from position n on. */
  constructor(private readonly fetchSince: (from: number) => string[]) {}

  get size(): number {
    return this.#known;
  }

  /** Takes in the keys the engine has seen since the last call. */
  refresh(): void {
    const keys = this.fetchSince(this.#known);
    this.#known += keys.length;
    for (const key of keys) this.#add(parseSeriesKey(key));
  }

  /** The series of these names whose tags pass `filter`. */
  match(names: readonly string[], filter: TagFilter | null): SeriesEntry[] {
    this.refresh();
    const out: SeriesEntry[] = [];
    for (const name of new Set(names)) {
      const index = this.#names.get(name);
      if (!index) continue;
      if (filter === null) {
        out.push(...index.all);
        continue;
      }
      const candidates = this.#candidates(index, filter);
      // The sets narrow the candidates; the filter itself decides (it also handles NOT and "").
      for (const entry of candidates ?? index.all) if (matchesFilter(filter, entry.tags)) out.push(entry);
    }
    return out;
  }

  #add(entry: SeriesEntry): void {
    let index = this.#names.get(entry.name);
    if (!index) {
      index = { all: [], byTag: new Map() };
      this.#names.set(entry.name, index);
    }
    index.all.push(entry);
    for (const [key, value] of Object.entries(entry.tags)) {
      let values = index.byTag.get(key);
      if (!values) index.byTag.set(key, (values = new Map()));
      let set = values.get(value);
      if (!set) values.set(value, (set = new Set()));
      set.add(entry);
    }
  }

  /** A superset of the matching series from the index alone, or undefined for "could be any". */
  #candidates(index: NameIndex, filter: TagFilter): Iterable<SeriesEntry> | undefined {
    switch (filter.kind) {
      case 'match':
        if (filter.negated || filter.value === '') return undefined;
        return index.byTag.get(filter.key)?.get(filter.value) ?? [];
      case 'not':
        return undefined;
      case 'and': {
        let smallest: Set<SeriesEntry> | SeriesEntry[] | undefined;
        for (const term of filter.terms) {
          const candidates = this.#candidates(index, term);
          if (candidates === undefined) continue;
          const size = candidates instanceof Set ? candidates.size : (candidates as SeriesEntry[]).length;
          const smallestSize = smallest instanceof Set ? smallest.size : smallest?.length;
          if (smallestSize === undefined || size < smallestSize) smallest = candidates as Set<SeriesEntry> | SeriesEntry[];
        }
        return smallest;
      }
      case 'or': {
        const union = new Set<SeriesEntry>();
        for (const term of filter.terms) {
          const candidates = this.#candidates(index, term);
          if (candidates === undefined) return undefined;
          for (const entry of candidates) union.add(entry);
        }
        return union;
      }
    }
  }
}
