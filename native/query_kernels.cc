#include "query_kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace sluice {
namespace {

constexpr size_t kChunkPoints = 1 << 16;

// Calls visit(values) for the points of `key` in [start, end], a chunk at a time, in time order.
template <typename Visit>
bool ForEachChunk(Engine& engine, const std::string& key, int64_t start, int64_t end, EngineError& error, Visit&& visit) {
  std::vector<int64_t> timestamps;
  std::vector<double> values;
  int64_t from = start;
  for (;;) {
    if (!engine.Scan(key, from, end, kChunkPoints, timestamps, values, error)) return false;
    visit(values);
    if (timestamps.size() < kChunkPoints || timestamps.back() >= end) return true;
    from = timestamps.back() + 1;  // < end <= INT64_MAX: no overflow
  }
}

}  // namespace

bool ComputeMoments(Engine& engine, const std::vector<std::string>& keys, int64_t start, int64_t end, Moments& out,
                    EngineError& error) {
  Moments moments;
  for (const std::string& key : keys) {
    const bool ok = ForEachChunk(engine, key, start, end, error, [&](const std::vector<double>& values) {
      for (double value : values) {
        ++moments.count;
        const double delta = value - moments.mean;
        moments.mean += delta / static_cast<double>(moments.count);
        moments.m2 += delta * (value - moments.mean);
      }
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
    const bool ok = ForEachChunk(engine, key, start, end, error, [&](const std::vector<double>& values) {
      for (double value : values) {
        if (!std::isnan(value)) all.push_back(value);
      }
      over_limit = all.size() > max_values;
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
