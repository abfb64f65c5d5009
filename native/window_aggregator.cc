#include "window_aggregator.h"

#include <algorithm>

#include "decimal_codec.h"
#include "window_writer.h"

namespace sluice {
namespace {

// A block's points from index `i` (the caller's) to `end` lie in the window starting at `bucket`;
// `fresh` (first run of a block only): that window is not the one already open.
struct Run {
  size_t end;
  int64_t bucket;
  bool fresh;
};

// Runs over decoded timestamps: the same moves as WindowAggregator::WindowRun, so equal results.
class ArrayRuns {
 public:
  ArrayRuns(const int64_t* ts, size_t n, int64_t every, int64_t bucket, int64_t bucket_end)
      : ts_(ts), n_(n), every_(every), bucket_(bucket), end_(bucket_end) {}
  Run First() { return Next(0); }
  bool Regular(size_t&, uint64_t&) const { return false; }  // (NextBucket() then unused)
  uint64_t NextBucket() const { return static_cast<uint64_t>(end_); }
  Run Next(size_t i) {
    bool fresh = false;
    if (ts_[i] >= end_ || ts_[i] < bucket_) {
      const bool next_window = bucket_ != INT64_MIN && ts_[i] >= end_ &&
                               static_cast<uint64_t>(ts_[i]) - static_cast<uint64_t>(end_) < static_cast<uint64_t>(every_);
      bucket_ = next_window ? end_ : FloorToBucket(ts_[i], every_);
      end_ = bucket_ > INT64_MAX - every_ ? INT64_MAX : bucket_ + every_;
      fresh = true;
    }
    size_t j = i + 1;
    while (j < n_ && ts_[j] < end_) ++j;
    return {j, bucket_, fresh};
  }

 private:
  const int64_t* ts_;
  size_t n_;
  int64_t every_;
  int64_t bucket_, end_;
};

// Timestamps first + i * step with step ≥ every: each point is alone in its window, and the next
// window start follows from the previous one by adding (no division per point).
class SparseStrideRuns {
 public:
  SparseStrideRuns(int64_t first, int64_t step, int64_t every, int64_t open_bucket)
      : every_(static_cast<uint64_t>(every)),
        whole_(static_cast<uint64_t>(step / every * every)),
        rest_(static_cast<uint64_t>(step % every)) {
    const int64_t bucket = FloorToBucket(first, every);
    bucket_ = static_cast<uint64_t>(bucket);
    offset_ = static_cast<uint64_t>(first) - bucket_;
    fresh_ = bucket != open_bucket;
  }
  Run First() { return {1, Advance(), fresh_}; }
  Run Next(size_t i) { return {i + 1, Advance(), false}; }
  // When every window from the next run on holds `per_window` points and starts `bucket_step`
  // after the previous one (here: step a multiple of every, one point per window).
  bool Regular(size_t& per_window, uint64_t& bucket_step) const {
    per_window = 1;
    bucket_step = whole_;
    return rest_ == 0;
  }
  uint64_t NextBucket() const { return bucket_; }

 private:
  // The current point's window start; moves to the next point's.
  int64_t Advance() {
    const int64_t bucket = static_cast<int64_t>(bucket_);
    offset_ += rest_;
    const uint64_t carry = offset_ >= every_ ? every_ : 0;
    offset_ -= carry;
    bucket_ += whole_ + carry;  // wraps harmlessly past the block's last point
    return bucket;
  }
  uint64_t every_, whole_, rest_;
  uint64_t bucket_, offset_;  // offset: the point's distance from its window start, < every
  bool fresh_;
};

// Timestamps first + i * step with step < every: after the first window of the block, a window
// holds `full` or `full - 1` points (full = ceil(every / step)), told apart by one comparison.
class DenseStrideRuns {
 public:
  DenseStrideRuns(int64_t first, int64_t step, int64_t every, size_t n, int64_t open_bucket)
      : every_(static_cast<uint64_t>(every)), step_(static_cast<uint64_t>(step)), n_(n) {
    const int64_t bucket = FloorToBucket(first, every);
    bucket_ = static_cast<uint64_t>(bucket);
    offset_ = static_cast<uint64_t>(first) - bucket_;
    full_ = (every_ - 1) / step_ + 1;
    fresh_ = bucket != open_bucket;
  }
  Run First() {
    // ceil((every - offset) / step) points: the one division of the block.
    return Take(0, (every_ - offset_ - 1) / step_ + 1, fresh_);
  }
  Run Next(size_t i) {
    // Here offset < step, so the window holds full - 1 points, or full if one more fits.
    return Take(i, offset_ + (full_ - 1) * step_ < every_ ? full_ : full_ - 1, false);
  }
  // every a multiple of step: after the first window, each holds every / step points (offset
  // < step, so all of them fit, and the next window's offset is the same again).
  bool Regular(size_t& per_window, uint64_t& bucket_step) const {
    per_window = static_cast<size_t>(full_);
    bucket_step = every_;
    return every_ % step_ == 0;
  }
  uint64_t NextBucket() const { return bucket_; }

 private:
  Run Take(size_t i, uint64_t count, bool fresh) {
    const Run run{std::min(i + static_cast<size_t>(count), n_), static_cast<int64_t>(bucket_), fresh};
    offset_ = offset_ + count * step_ - every_;  // the next window's first point (< step past its start)
    bucket_ += every_;
    return run;
  }
  uint64_t every_, step_;
  size_t n_;
  uint64_t full_;
  uint64_t bucket_, offset_;
  bool fresh_;
};

// A block's scaled integers as decoded, or as running totals (DecodeDecimalIntegers' cumulative
// form: a run's sum is one subtraction, a value the difference of neighbours). Differences wrap
// in uint64 and are exact: every integer and, the caller checked, every run's sum fits in int64.
struct PlainIntegers {
  static constexpr bool kDifferences = false;
  const int64_t* integers;
  const int64_t* Data() const { return integers; }
  int64_t At(size_t j) const { return integers[j]; }
  int64_t Sum(size_t from, size_t to) const {
    int64_t sum = 0;
    for (size_t j = from; j < to; ++j) sum += integers[j];
    return sum;
  }
};
struct CumulativeIntegers {
  static constexpr bool kDifferences = true;
  const int64_t* totals;
  const int64_t* Data() const { return totals; }
  uint64_t Total(size_t j) const { return static_cast<uint64_t>(totals[j]); }  // of integers 0..j
  int64_t At(size_t j) const { return static_cast<int64_t>(j == 0 ? Total(0) : Total(j) - Total(j - 1)); }
  int64_t Sum(size_t from, size_t to) const {
    return static_cast<int64_t>(Total(to - 1) - (from == 0 ? 0 : Total(from - 1)));
  }
};

// The value of one op over integers [from, to) when they are a whole window: what an Accumulator
// given that one run would return, computing only what the op needs.
template <AggregateOp kOp, typename Integers>
inline double WindowValue(const Integers& integers, size_t from, size_t to, double divisor) {
  if constexpr (kOp == AggregateOp::kCount) {
    return static_cast<double>(static_cast<uint64_t>(to - from));
  } else if constexpr (kOp == AggregateOp::kSum || kOp == AggregateOp::kAvg) {
    const double total = static_cast<double>(integers.Sum(from, to)) / divisor;
    if constexpr (kOp == AggregateOp::kAvg) {
      return total / static_cast<double>(static_cast<uint64_t>(to - from));
    } else {
      return total;
    }
  } else if constexpr (kOp == AggregateOp::kMin) {
    int64_t low = integers.At(from);
    for (size_t j = from + 1; j < to; ++j) low = integers.At(j) < low ? integers.At(j) : low;
    return static_cast<double>(low) / divisor;
  } else if constexpr (kOp == AggregateOp::kMax) {
    int64_t high = integers.At(from);
    for (size_t j = from + 1; j < to; ++j) high = integers.At(j) > high ? integers.At(j) : high;
    return static_cast<double>(high) / divisor;
  } else if constexpr (kOp == AggregateOp::kFirst) {
    return static_cast<double>(integers.At(from)) / divisor;
  } else {
    return static_cast<double>(integers.At(to - 1)) / divisor;
  }
}

// `windows` whole windows of `per_window` integers each from `from` (≥ 1), for count, sum or avg:
// the same values WindowValue gives, without a run to find per window. Written straight to the
// output (staging chunks in a buffer and copying them out measured slower: the output is
// megabytes). With one point per window the value is that integer / divisor (the division by a
// count of 1 that WindowValue makes changes nothing: x / 1 == x: window_writer.h), else the
// chunk's sums are written first and divided in a loop of their own while those lines are still
// in L1 (a loop with no dependency between iterations, which the compiler can vectorise). The
// divisions were a large part of narrow windows' cost.
template <AggregateOp kOp, typename Integers>
void WriteRegularWindows(const Integers& integers, size_t from, size_t per_window, size_t windows,
                         uint64_t first_bucket, uint64_t bucket_step, double divisor, int64_t* starts,
                         double* values, bool stream) {
  if (kOp != AggregateOp::kCount && per_window == 1) {
    return WriteOnePointWindows(integers.Data() + from, Integers::kDifferences, windows, first_bucket, bucket_step,
                                divisor, starts, values, stream);
  }
  constexpr size_t kChunk = 256;
  const double count = static_cast<double>(static_cast<uint64_t>(per_window));
  uint64_t bucket = first_bucket;
  size_t at = from;
  for (size_t done = 0; done < windows; done += kChunk) {
    const size_t chunk = std::min(kChunk, windows - done);
    int64_t* const chunk_starts = starts + done;
    double* const chunk_values = values + done;
    for (size_t k = 0; k < chunk; ++k, at += per_window) {
      chunk_starts[k] = static_cast<int64_t>(bucket);
      bucket += bucket_step;
      if constexpr (kOp == AggregateOp::kCount) {
        chunk_values[k] = count;
      } else {
        chunk_values[k] = static_cast<double>(integers.Sum(at, at + per_window));
      }
    }
    if constexpr (kOp != AggregateOp::kCount) {
      if (kOp == AggregateOp::kAvg && per_window != 1) {
        for (size_t k = 0; k < chunk; ++k) chunk_values[k] = chunk_values[k] / divisor / count;
      } else {
        for (size_t k = 0; k < chunk; ++k) chunk_values[k] = chunk_values[k] / divisor;
      }
    }
  }
}

// integers [from, to) as one run of `window`. For count, sum and avg (kOp), whose windows never
// read the run's extremes, the pass over the run for them is left out.
template <AggregateOp kOp, typename Integers>
void AddIntegerRun(Accumulator& window, const Integers& integers, size_t from, size_t to, double divisor) {
  constexpr bool kExtremes = kOp != AggregateOp::kCount && kOp != AggregateOp::kSum && kOp != AggregateOp::kAvg;
  int64_t low = integers.At(from), high = low;
  if constexpr (kExtremes) {
    for (size_t j = from + 1; j < to; ++j) {
      const int64_t value = integers.At(j);
      low = value < low ? value : low;
      high = value > high ? value : high;
    }
  }
  window.AddSummary(to - from, static_cast<double>(integers.Sum(from, to)) / divisor,
                    kExtremes ? static_cast<double>(low) / divisor : INFINITY,
                    kExtremes ? static_cast<double>(high) / divisor : -INFINITY,
                    static_cast<double>(integers.At(from)) / divisor, static_cast<double>(integers.At(to - 1)) / divisor);
}

}  // namespace

WindowAggregator::WindowAggregator(int64_t every, AggregateOp op, int64_t* starts, double* values, size_t capacity,
                                   bool large_output)
    : every_(every), op_(op), starts_(starts), values_(values), capacity_(capacity), large_output_(large_output) {}

void WindowAggregator::Emit() {
  if (window_.count == 0) return;
  if (count_ == capacity_) {
    overflowed_ = true;
  } else {
    starts_[count_] = current_;
    values_[count_] = window_.Result(op_).value;
    ++count_;
  }
  window_ = Accumulator();
}

void WindowAggregator::Enter(int64_t bucket) {
  Emit();
  current_ = bucket;
  current_end_ = bucket > INT64_MAX - every_ ? INT64_MAX : bucket + every_;
}

size_t WindowAggregator::WindowRun(const int64_t* ts, size_t i, size_t n) {
  // Points come in time order: when one leaves the window it is most often for the next one,
  // which needs no division.
  if (ts[i] >= current_end_ || ts[i] < current_) {
    const bool next_window = current_ != INT64_MIN && ts[i] >= current_end_ &&
                             static_cast<uint64_t>(ts[i]) - static_cast<uint64_t>(current_end_) <
                                 static_cast<uint64_t>(every_);
    Enter(next_window ? current_end_ : FloorToBucket(ts[i], every_));
  }
  size_t run_end = i + 1;
  while (run_end < n && ts[run_end] < current_end_) ++run_end;
  return run_end;
}

void WindowAggregator::AddBlockSummary(int64_t bucket, const BlockMeta& meta) {
  if (bucket != current_) Enter(bucket);
  window_.AddBlock(meta);
}

void WindowAggregator::AddPoints(const int64_t* ts, const double* values, size_t n) {
  for (size_t i = 0; i < n;) {
    const size_t run_end = WindowRun(ts, i, n);
    window_.AddRun(values + i, run_end - i);
    i = run_end;
  }
}

template <AggregateOp kOp, typename Runs, typename Integers>
void WindowAggregator::AddDecimalRuns(Runs runs, Integers integers, size_t n, double divisor) {
  // The first run may continue the window a previous block left open, and the last may be
  // continued by the next block: both go through the Accumulator. The runs between are whole
  // windows and go straight to the output. (`runs` and the output pointers are locals so they
  // stay in registers across the stores.)
  Run run = runs.First();
  if (run.fresh) Enter(run.bucket);
  AddIntegerRun<kOp>(window_, integers, 0, run.end, divisor);
  if (run.end == n) return;
  Emit();
  size_t i = run.end;
  int64_t* const starts = starts_;
  double* const values = values_;
  const size_t capacity = capacity_;
  size_t written = count_;
  if constexpr (kOp == AggregateOp::kCount || kOp == AggregateOp::kSum || kOp == AggregateOp::kAvg) {
    size_t per_window;
    uint64_t bucket_step;
    // Windows whose run ends before the block does are whole; the last run stays open.
    const size_t interior = runs.Regular(per_window, bucket_step) ? (n - 1 - i) / per_window : 0;
    if (interior > 0 && capacity - written >= interior) {
      const uint64_t first_bucket = runs.NextBucket();
      WriteRegularWindows<kOp>(integers, i, per_window, interior, first_bucket, bucket_step, divisor, starts + written,
                               values + written, large_output_);
      count_ = written + interior;
      i += interior * per_window;
      const int64_t bucket = static_cast<int64_t>(first_bucket + interior * bucket_step);
      current_ = bucket;
      current_end_ = bucket > INT64_MAX - every_ ? INT64_MAX : bucket + every_;
      AddIntegerRun<kOp>(window_, integers, i, n, divisor);
      return;
    }
  }
  for (;;) {
    run = runs.Next(i);
    if (run.end == n) break;
    if (written == capacity) {
      overflowed_ = true;
      break;
    }
    starts[written] = run.bucket;
    values[written] = WindowValue<kOp>(integers, i, run.end, divisor);
    ++written;
    i = run.end;
  }
  count_ = written;
  current_ = run.bucket;
  current_end_ = run.bucket > INT64_MAX - every_ ? INT64_MAX : run.bucket + every_;
  AddIntegerRun<kOp>(window_, integers, i, n, divisor);
}

template <typename Runs>
void WindowAggregator::DispatchDecimalRuns(const Runs& runs, const int64_t* integers, bool cumulative, size_t n,
                                           double divisor) {
  const PlainIntegers plain{integers};
  const CumulativeIntegers totals{integers};
  switch (op_) {
    case AggregateOp::kCount:
      return cumulative ? AddDecimalRuns<AggregateOp::kCount>(runs, totals, n, divisor)
                        : AddDecimalRuns<AggregateOp::kCount>(runs, plain, n, divisor);
    case AggregateOp::kSum:
      return cumulative ? AddDecimalRuns<AggregateOp::kSum>(runs, totals, n, divisor)
                        : AddDecimalRuns<AggregateOp::kSum>(runs, plain, n, divisor);
    case AggregateOp::kAvg:
      return cumulative ? AddDecimalRuns<AggregateOp::kAvg>(runs, totals, n, divisor)
                        : AddDecimalRuns<AggregateOp::kAvg>(runs, plain, n, divisor);
    // The engine asks for running totals only for the ops above; others get them back as values.
    case AggregateOp::kMin: return AddDecimalRuns<AggregateOp::kMin>(runs, plain, n, divisor);
    case AggregateOp::kMax: return AddDecimalRuns<AggregateOp::kMax>(runs, plain, n, divisor);
    case AggregateOp::kFirst: return AddDecimalRuns<AggregateOp::kFirst>(runs, plain, n, divisor);
    case AggregateOp::kLast: return AddDecimalRuns<AggregateOp::kLast>(runs, plain, n, divisor);
  }
}

void WindowAggregator::AddDecimalChecked(const int64_t* ts, const int64_t* integers, size_t n, double divisor) {
  for (size_t i = 0; i < n;) {
    const size_t run_end = WindowRun(ts, i, n);
    int64_t run_sum = 0, run_min = INT64_MAX, run_max = INT64_MIN;
    bool overflow = false;
    for (size_t j = i; j < run_end; ++j) {
      overflow |= __builtin_add_overflow(run_sum, integers[j], &run_sum);
      run_min = integers[j] < run_min ? integers[j] : run_min;
      run_max = integers[j] > run_max ? integers[j] : run_max;
    }
    double sum = static_cast<double>(run_sum) / divisor;
    if (overflow) {  // only with enormous scaled values: add them as doubles instead
      sum = 0;
      for (size_t j = i; j < run_end; ++j) sum += static_cast<double>(integers[j]) / divisor;
    }
    window_.AddSummary(run_end - i, sum, static_cast<double>(run_min) / divisor, static_cast<double>(run_max) / divisor,
                       static_cast<double>(integers[i]) / divisor, static_cast<double>(integers[run_end - 1]) / divisor);
    i = run_end;
  }
}

void WindowAggregator::AddDecimalBlock(const AggregationBlock& shape, int64_t* ts, int64_t* integers, size_t n) {
  if (n == 0) return;
  bool cumulative = shape.cumulative;
  auto to_values = [&] {  // running totals back to the integers themselves (exact: they wrap)
    for (size_t j = n; j-- > 1;) {
      integers[j] = static_cast<int64_t>(static_cast<uint64_t>(integers[j]) - static_cast<uint64_t>(integers[j - 1]));
    }
    cumulative = false;
  };
  if (cumulative && op_ != AggregateOp::kSum && op_ != AggregateOp::kAvg && op_ != AggregateOp::kCount) to_values();
  const double divisor = kPowersOfTen[shape.exponent];  // the decoder's own divisor: values bit for bit
  // Sums of up to n integers of at most this magnitude fit in int64 (a factor 2 of margin for the
  // bound's rounding).
  const bool sums_fit = shape.magnitude_bound * static_cast<double>(n) < 0x1p62;
  if (shape.stride && sums_fit) {
    // Arithmetic windows need every timestamp and every window start inside int64.
    int64_t last;
    const bool in_range =
        shape.time_step > 0 &&
        !__builtin_mul_overflow(shape.time_step, static_cast<int64_t>(n - 1), &last) &&
        !__builtin_add_overflow(shape.first_time, last, &last) && shape.first_time >= INT64_MIN + every_ &&
        last <= INT64_MAX - every_;
    if (in_range && shape.time_step >= every_) {
      SparseStrideRuns runs(shape.first_time, shape.time_step, every_, current_);
      return DispatchDecimalRuns(runs, integers, cumulative, n, divisor);
    }
    if (in_range) {
      DenseStrideRuns runs(shape.first_time, shape.time_step, every_, n, current_);
      return DispatchDecimalRuns(runs, integers, cumulative, n, divisor);
    }
  }
  if (shape.stride) {  // the timestamps as DecodeTimestamps would have written them
    uint64_t t = static_cast<uint64_t>(shape.first_time);
    for (size_t i = 0; i < n; ++i, t += static_cast<uint64_t>(shape.time_step)) ts[i] = static_cast<int64_t>(t);
  }
  if (!sums_fit) {
    if (cumulative) to_values();
    return AddDecimalChecked(ts, integers, n, divisor);
  }
  ArrayRuns runs(ts, n, every_, current_, current_end_);
  DispatchDecimalRuns(runs, integers, cumulative, n, divisor);
}

bool WindowAggregator::Finish(size_t& count) {
  Emit();
  count = count_;
  return !overflowed_;
}

}  // namespace sluice
