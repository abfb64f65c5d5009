// A brute-force model of one series: what the engine must answer, computed the obvious way.
export class ReferenceSeries {
  private readonly points = new Map<bigint, number>(); // last write wins

  write(timestamp: bigint, value: number): void {
    this.points.set(timestamp, value);
  }

  /** Points in [start, end], sorted by time. */
  range(start: bigint, end: bigint): [bigint, number][] {
    return [...this.points.entries()]
      .filter(([t]) => t >= start && t <= end)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  aggregate(op: string, start: bigint, end: bigint): number | null {
    const values = this.range(start, end).map(([, v]) => v);
    if (op === 'count') return values.length;
    if (op === 'sum') return values.reduce((a, b) => a + b, 0);
    if (values.length === 0) return null;
    switch (op) {
      case 'avg':
        return values.reduce((a, b) => a + b, 0) / values.length;
      case 'min':
        return Math.min(...values);
      case 'max':
        return Math.max(...values);
      case 'first':
        return values[0]!;
      case 'last':
        return values[values.length - 1]!;
    }
    throw new Error(`unknown op ${op}`);
  }
}
