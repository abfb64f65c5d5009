// Epoch-aligned tumbling windows over one series' points, visited in time order, written straight
// into the caller's output columns (no growth, no copy). Decimal blocks are aggregated on their
// scaled integers; a block whose timestamps are a constant stride is cut into windows by
// arithmetic, without decoding its timestamps; windows that lie inside one block are computed for
// the requested op only. The results are bit for bit those of adding every run of points to an
// Accumulator.
#pragma once

#include <cstddef>
#include <cstdint>

#include "accumulator.h"
#include "segment.h"

namespace sluice {

class WindowAggregator {
 public:
  // Windows go to starts[k], values[k] for k < capacity; capacity must bound the number of windows
  // (Finish() reports it if it did not). `large_output`: this is part of an output too large for
  // the cache, which runs of one-point windows then bypass (window_writer.h).
  WindowAggregator(int64_t every, AggregateOp op, int64_t* starts, double* values, size_t capacity,
                   bool large_output = false);

  // A block whose points all lie in the window starting at `bucket`: from its summary.
  void AddBlockSummary(int64_t bucket, const BlockMeta& meta);
  // n points later than everything added so far.
  void AddPoints(const int64_t* ts, const double* values, size_t n);
  // A block decoded as decimal integers (Segment::DecodeBlockForAggregation, shape.decimal); when
  // shape.stride, `ts` is scratch of n elements the slow path may fill. `integers` may be
  // rewritten (running totals turned back into values).
  void AddDecimalBlock(const AggregationBlock& shape, int64_t* ts, int64_t* integers, size_t n);
  // Closes the last window; false if more windows than `capacity` were found.
  bool Finish(size_t& count);

 private:
  void Emit();
  void Enter(int64_t bucket);
  // Moves to the window of ts[i] and returns where its run of points ends.
  size_t WindowRun(const int64_t* ts, size_t i, size_t n);
  // Windows over a decimal block whose runs `Runs` gives; kOp selects what interior windows compute.
  // `integers`: PlainIntegers or CumulativeIntegers (window_aggregator.cc).
  template <AggregateOp kOp, typename Runs, typename Integers>
  void AddDecimalRuns(Runs runs, Integers integers, size_t n, double divisor);
  template <typename Runs>
  void DispatchDecimalRuns(const Runs& runs, const int64_t* integers, bool cumulative, size_t n, double divisor);
  // Scaled sums that might overflow int64: per run, with a fallback to adding doubles.
  void AddDecimalChecked(const int64_t* ts, const int64_t* integers, size_t n, double divisor);

  const int64_t every_;
  const AggregateOp op_;
  int64_t* const starts_;
  double* const values_;
  const size_t capacity_;
  const bool large_output_;
  size_t count_ = 0;
  bool overflowed_ = false;
  Accumulator window_;
  int64_t current_ = INT64_MIN;
  int64_t current_end_ = INT64_MIN;  // first timestamp past the current window
};

}  // namespace sluice
