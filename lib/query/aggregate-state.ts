// The running state of one aggregate, mergeable across series: the query engine fills one per
// series (from block summaries or from decoded points) and merges them per window and group; live
// queries keep one per group and window.
import { quantileOf, type QueryOp } from '../dsl/ast.js';

/** Which parts of the state an op needs beyond count/sum/min/max/first/last. */
export interface StateNeeds {
  /** STDDEV: mean and sum of squared deviations (Welford; Chan's formula to merge). */
  moments: boolean;
  /** Percentiles: every value (exact). */
  values: boolean;
}

export function needsOf(op: QueryOp): StateNeeds {
  return { moments: op === 'STDDEV', values: quantileOf(op) !== null };
}

export class AggregateState {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  first = NaN;
  firstTime = Infinity;
  last = NaN;
  lastTime = -Infinity;
  mean = 0;
  m2 = 0;
  /** DELTA and RATE over several series: the sum of each series' own change. */
  deltaSum = 0;
  deltaSeries = 0;
  rateSum = 0;
  rateSeries = 0;
  values: number[] | undefined;

  constructor(readonly needs: StateNeeds) {
    if (needs.values) this.values = [];
  }

  /** One point of one series, in any order. */
  add(time: number, value: number): void {
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    if (time < this.firstTime) {
      this.firstTime = time;
      this.first = value;
    }
    if (time >= this.lastTime) {
      this.lastTime = time;
      this.last = value;
    }
    if (this.needs.moments) {
      const delta = value - this.mean;
      this.mean += delta / this.count;
      this.m2 += delta * (value - this.mean);
    }
    this.values?.push(value);
  }

  /** A block summary of one series (the engine's aggregate: sum, min, max, first, last, times). */
  addSummary(count: number, sum: number, min: number, max: number, first: number, firstTime: number, last: number, lastTime: number): void {
    if (count === 0) return;
    this.count += count;
    this.sum += sum;
    if (min < this.min) this.min = min;
    if (max > this.max) this.max = max;
    if (firstTime < this.firstTime) {
      this.firstTime = firstTime;
      this.first = first;
    }
    if (lastTime >= this.lastTime) {
      this.lastTime = lastTime;
      this.last = last;
    }
  }

  /** Marks this as the points of one series: its change (last − first) feeds DELTA and RATE.
   * Idempotent, so a series' state can be sealed again after more points; call before merging. */
  sealSeries(): this {
    this.deltaSeries = this.count > 0 ? 1 : 0;
    this.deltaSum = this.count > 0 ? this.last - this.first : 0;
    this.rateSeries = this.lastTime > this.firstTime ? 1 : 0;
    this.rateSum = this.rateSeries ? this.deltaSum / ((this.lastTime - this.firstTime) / 1e6) : 0;
    return this;
  }

  /** Takes in another (sealed) series' state over the same window. */
  merge(other: AggregateState): void {
    if (other.count === 0) return;
    if (this.needs.moments) {
      const count = this.count + other.count;
      const delta = other.mean - this.mean;
      this.m2 += other.m2 + (delta * delta * this.count * other.count) / count;
      this.mean += (delta * other.count) / count;
    }
    this.addSummary(other.count, other.sum, other.min, other.max, other.first, other.firstTime, other.last, other.lastTime);
    this.deltaSum += other.deltaSum;
    this.deltaSeries += other.deltaSeries;
    this.rateSum += other.rateSum;
    this.rateSeries += other.rateSeries;
    if (this.values && other.values) for (const value of other.values) this.values.push(value);
  }

  /** The op's value: null when it needs a point and there is none (COUNT and SUM give 0). */
  result(op: QueryOp): number | null {
    switch (op) {
      case 'COUNT':
        return this.count;
      case 'SUM':
        return this.sum;
    }
    if (this.count === 0) return null;
    switch (op) {
      case 'AVG':
        return this.sum / this.count;
      case 'MIN':
        return this.min === Infinity ? NaN : this.min;
      case 'MAX':
        return this.max === -Infinity ? NaN : this.max;
      case 'FIRST':
        return this.first;
      case 'LAST':
        return this.last;
      case 'STDDEV':
        return Math.sqrt(this.m2 / this.count);
      case 'DELTA':
        return this.deltaSeries ? this.deltaSum : null;
      case 'RATE':
        return this.rateSeries ? this.rateSum : null;
    }
    return percentile(this.values ?? [], quantileOf(op)!);
  }
}

/** The exact q-quantile, interpolating linearly between the two nearest ranks; NaNs are ignored. */
export function percentile(values: ArrayLike<number>, q: number): number | null {
  const sorted = Float64Array.from(values).sort(); // numeric order, NaNs last
  let n = sorted.length;
  while (n > 0 && Number.isNaN(sorted[n - 1])) n--;
  if (n === 0) return null;
  const rank = q * (n - 1);
  const lower = Math.floor(rank);
  const upper = Math.min(lower + 1, n - 1);
  const fraction = rank - lower;
  return fraction === 0 ? sorted[lower]! : sorted[lower]! + (sorted[upper]! - sorted[lower]!) * fraction;
}
