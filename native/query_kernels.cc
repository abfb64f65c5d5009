#include "query_kernels.h"

#include "accumulator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace sluice {
namespace {

constexpr size_t kChunkPoints = 1 << 16;

// Calls visit(timestamps, values) for the points of `key` in [start, end], a chunk at a time, in
// time order, until it returns false.
template <typename Visit>
bool ForEachChunk(Engine& engine, const std::string& key, int64_t start, int64_t end, EngineError& error, Visit&& visit) {
  std::vector<int64_t> timestamps;
  std::vector<double> values;
  int64_t from = start;
  for (;;) {
    if (!engine.Scan(key, from, end, kChunkPoints, timestamps, values, error)) return false;
    if (!visit(timestamps, values)) return true;
    if (timestamps.size() < kChunkPoints || timestamps.back() >= end) return true;
    from = timestamps.back() + 1;  // < end <= INT64_MAX: no overflow
  }
}

// The exact q-quantile of `values` (reordered), interpolating between the two nearest ranks.
double SelectQuantile(std::vector<double>& values, double q) {
  const double rank = q * static_cast<double>(values.size() - 1);
  const size_t lower = static_cast<size_t>(std::floor(rank));
  auto lower_it = values.begin() + static_cast<ptrdiff_t>(lower);
  std::nth_element(values.begin(), lower_it, values.end());
  const double fraction = rank - static_cast<double>(lower);
  if (fraction == 0 || lower + 1 >= values.size()) return *lower_it;
  return *lower_it + (*std::min_element(lower_it + 1, values.end()) - *lower_it) * fraction;
}

// One series' points within one window, or several series' merged.
struct WindowCell {
  uint64_t count = 0;
  double mean = 0, m2 = 0;
  double first = 0, last = 0;
  int64_t first_time = 0, last_time = 0;
  double delta_sum = 0, rate_sum = 0;
  uint64_t delta_series = 0, rate_series = 0;
  std::vector<double> values;  // kQuantile only

  void Add(int64_t t, double value, bool keep_values) {
    if (count == 0) {
      first = value;
      first_time = t;
    }
    last = value;  // points come in time order
    last_time = t;
    ++count;
    const double delta = value - mean;
    mean += delta / static_cast<double>(count);
    m2 += delta * (value - mean);
    if (keep_values && !std::isnan(value)) values.push_back(value);
  }

  // Takes in one series' cell of the same window.
  void MergeSeries(WindowCell& series) {
    if (series.count == 0) return;
    if (count == 0 || series.first_time < first_time) {
      first = series.first;
      first_time = series.first_time;
    }
    if (count == 0 || series.last_time >= last_time) {
      last = series.last;
      last_time = series.last_time;
    }
    const double total = static_cast<double>(count + series.count);
    const double delta = series.mean - mean;
    m2 += series.m2 + delta * delta * static_cast<double>(count) * static_cast<double>(series.count) / total;
    mean += delta * static_cast<double>(series.count) / total;
    count += series.count;
    delta_sum += series.last - series.first;
    ++delta_series;
    if (series.last_time > series.first_time) {
      rate_sum += (series.last - series.first) / (static_cast<double>(series.last_time - series.first_time) / 1e6);
      ++rate_series;
    }
    values.insert(values.end(), series.values.begin(), series.values.end());
  }
};

}  // namespace

bool ComputeWindows(Engine& engine, const std::vector<std::string>& keys, const WindowKernelRequest& request,
                    std::vector<int64_t>& window_starts, std::vector<double>& values, EngineError& error) {
  const bool keep_values = request.op == WindowKernelOp::kQuantile;
  std::map<int64_t, WindowCell> windows;
  uint64_t held = 0;
  for (const std::string& key : keys) {
    WindowCell series;
    int64_t series_window = 0;
    bool over_limit = false;
    auto close_series_window = [&] {
      if (series.count == 0) return;
      windows[series_window].MergeSeries(series);
      series = WindowCell();
    };
    const bool ok = ForEachChunk(engine, key, request.start, request.end, error,
                                 [&](const std::vector<int64_t>& ts, const std::vector<double>& vs) {
      for (size_t i = 0; i < ts.size(); ++i) {
        // t >= series_window always (time order): the unsigned difference cannot overflow.
        if (series.count == 0 || static_cast<uint64_t>(ts[i]) - static_cast<uint64_t>(series_window) >=
                                     static_cast<uint64_t>(request.every_us)) {
          close_series_window();
          series_window = FloorToBucket(ts[i], request.every_us);
        }
        series.Add(ts[i], vs[i], keep_values);
      }
      if (keep_values) over_limit = (held += vs.size()) > request.max_values;
      return !over_limit;
    });
    if (!ok) return false;
    close_series_window();
    if (over_limit) {
      error = {"SLUICE_LIMIT", "an exact percentile over more than " + std::to_string(request.max_values) +
                                   " points: narrow the range or the tag filter"};
      return false;
    }
  }
  window_starts.clear();
  values.clear();
  for (auto& [window_start, cell] : windows) {
    double value = NAN;
    switch (request.op) {
      case WindowKernelOp::kStddev: value = std::sqrt(cell.m2 / static_cast<double>(cell.count)); break;
      case WindowKernelOp::kQuantile:
        if (!cell.values.empty()) value = SelectQuantile(cell.values, request.quantile);
        break;
      case WindowKernelOp::kFirst: value = cell.first; break;
      case WindowKernelOp::kLast: value = cell.last; break;
      case WindowKernelOp::kDelta: value = cell.delta_sum; break;
      case WindowKernelOp::kRate: value = cell.rate_series ? cell.rate_sum : NAN; break;
    }
    window_starts.push_back(window_start);
    values.push_back(value);
  }
  return true;
}

bool ComputeMoments(Engine& engine, const std::vector<std::string>& keys, int64_t start, int64_t end, Moments& out,
                    EngineError& error) {
  Moments moments;
  for (const std::string& key : keys) {
    const bool ok = ForEachChunk(engine, key, start, end, error, [&](const std::vector<int64_t>&, const std::vector<double>& values) {
      for (double value : values) {
        ++moments.count;
        const double delta = value - moments.mean;
        moments.mean += delta / static_cast<double>(moments.count);
        moments.m2 += delta * (value - moments.mean);
      }
      return true;
    });
    if (!ok) return false;
  }
  out = moments;
  return true;
}

bool ComputeQuantiles(Engine& engine, const std::vector<std::string>& keys, int64_t start, int64_t end,
                      const std::vector<double>& quantiles, uint64_t max_values, std::vector<double>& results,
                      uint64_t& count, EngineError& error) {
  std::vector<double> all;
  for (const std::string& key : keys) {
    bool over_limit = false;
    const bool ok = ForEachChunk(engine, key, start, end, error, [&](const std::vector<int64_t>&, const std::vector<double>& values) {
      for (double value : values) {
        if (!std::isnan(value)) all.push_back(value);
      }
      over_limit = all.size() > max_values;
      return !over_limit;
    });
    if (!ok) return false;
    if (over_limit) {
      error = {"SLUICE_LIMIT", "an exact percentile over more than " + std::to_string(max_values) +
                                   " points: narrow the range or the tag filter, or add a window part"};
      return false;
    }
  }
  count = all.size();
  results.assign(quantiles.size(), std::numeric_limits<double>::quiet_NaN());
  if (all.empty()) return true;
  // Ascending quantiles let each selection work on what the previous one left to its right.
  std::vector<size_t> order(quantiles.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return quantiles[a] < quantiles[b]; });
  auto from = all.begin();
  for (size_t i : order) {
    const double rank = quantiles[i] * static_cast<double>(all.size() - 1);
    const size_t lower = static_cast<size_t>(std::floor(rank));
    auto lower_it = all.begin() + static_cast<ptrdiff_t>(lower);
    if (lower_it >= from) std::nth_element(from, lower_it, all.end());
    from = lower_it;
    const double fraction = rank - static_cast<double>(lower);
    const double low = *lower_it;
    if (fraction == 0 || lower + 1 >= all.size()) {
      results[i] = low;
    } else {
      const double high = *std::min_element(lower_it + 1, all.end());
      results[i] = low + (high - low) * fraction;
    }
  }
  return true;
}

}  // namespace sluice
