// The running aggregate every read path shares (whole-range aggregates, tumbling windows, rollups),
// and the epoch-aligned bucket of a timestamp.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "segment.h"

namespace sluice {

enum class AggregateOp : uint8_t { kCount, kSum, kAvg, kMin, kMax, kFirst, kLast };

struct AggregateResult {
  uint64_t count = 0;
  double value = 0;  // NaN when there is no point (count 0) and the op needs one
  // The whole summary, so callers can merge several series' results exactly (NaN/0 when empty).
  double sum = 0, min = NAN, max = NAN, first = NAN, last = NAN;
  int64_t first_time = 0, last_time = 0;
};

// The floor of t / every (every > 0): the index of t's epoch-aligned window.
inline int64_t FloorDivide(int64_t t, int64_t every) {
  int64_t q = t / every;
  if (t % every != 0 && t < 0) --q;
  return q;
}

// The start of the epoch-aligned window of width `every` holding t.
inline int64_t FloorToBucket(int64_t t, int64_t every) { return FloorDivide(t, every) * every; }

// Running aggregate over points visited in time order.
struct Accumulator {
  uint64_t count = 0;
  double sum = 0;
  double min = INFINITY, max = -INFINITY;
  double first = NAN, last = NAN;
  int64_t first_time = 0, last_time = 0;  // kept by AddTimes and AddBlock

  // The time range of a run about to be added (after everything added so far).
  void AddTimes(int64_t run_first_time, int64_t run_last_time) {
    if (count == 0) first_time = run_first_time;
    last_time = run_last_time;
  }
  void Add(double value) {
    if (count == 0) first = value;
    last = value;
    ++count;
    sum += value;
    if (value < min) min = value;
    if (value > max) max = value;
  }
  // The same as Add() for each value, with the running state in registers: four lanes, so the
  // adds and compares of neighbouring values do not wait on each other.
  void AddRun(const double* values, size_t n) {
    if (n == 0) return;
    if (count == 0) first = values[0];
    last = values[n - 1];
    count += n;
    double sums[4] = {0, 0, 0, 0};
    double mins[4] = {min, min, min, min};
    double maxs[4] = {max, max, max, max};
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
      for (int lane = 0; lane < 4; ++lane) {
        const double v = values[i + lane];
        sums[lane] += v;
        mins[lane] = v < mins[lane] ? v : mins[lane];  // NaN never compares: ignored
        maxs[lane] = v > maxs[lane] ? v : maxs[lane];
      }
    }
    for (; i < n; ++i) {
      sums[0] += values[i];
      mins[0] = values[i] < mins[0] ? values[i] : mins[0];
      maxs[0] = values[i] > maxs[0] ? values[i] : maxs[0];
    }
    sum += (sums[0] + sums[1]) + (sums[2] + sums[3]);
    for (int lane = 0; lane < 4; ++lane) {
      min = mins[lane] < min ? mins[lane] : min;
      max = maxs[lane] > max ? maxs[lane] : max;
    }
  }
  // Points already summarised, later than everything added so far.
  void AddSummary(uint64_t n, double run_sum, double run_min, double run_max, double run_first, double run_last) {
    if (count == 0) first = run_first;
    last = run_last;
    count += n;
    sum += run_sum;
    if (run_min < min) min = run_min;
    if (run_max > max) max = run_max;
  }
  void AddBlock(const BlockMeta& meta) {
    AddTimes(meta.min_time, meta.max_time);
    AddSummary(meta.count, meta.sum, meta.min, meta.max, meta.first, meta.last);
  }
  AggregateResult Result(AggregateOp op) const {
    AggregateResult result;
    result.count = count;
    if (count) {
      result.sum = sum;
      result.min = min == INFINITY ? NAN : min;
      result.max = max == -INFINITY ? NAN : max;
      result.first = first;
      result.last = last;
      result.first_time = first_time;
      result.last_time = last_time;
    }
    switch (op) {
      case AggregateOp::kCount: result.value = static_cast<double>(count); break;
      case AggregateOp::kSum: result.value = sum; break;
      case AggregateOp::kAvg: result.value = count ? sum / static_cast<double>(count) : NAN; break;
      case AggregateOp::kMin: result.value = count && min != INFINITY ? min : NAN; break;
      case AggregateOp::kMax: result.value = count && max != -INFINITY ? max : NAN; break;
      case AggregateOp::kFirst: result.value = first; break;
      case AggregateOp::kLast: result.value = last; break;
    }
    return result;
  }
};

}  // namespace sluice
