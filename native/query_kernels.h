// Aggregates that need every point (no block summary answers them), computed over several series
// at once so a group costs one native call: population moments for STDDEV, exact quantiles.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine.h"

namespace sluice {

struct Moments {
  uint64_t count = 0;
  double mean = 0;
  double m2 = 0;  // sum of squared deviations from the mean (Welford)
};

// The moments of every point of `keys` in [start, end].
bool ComputeMoments(Engine& engine, const std::vector<std::string>& keys, int64_t start, int64_t end, Moments& out,
                    EngineError& error);

// For each q in `quantiles` (each in [0, 1]): the exact q-quantile of the points of `keys` in
// [start, end], interpolating linearly between the two nearest ranks; NaN values are ignored.
// `count` gets how many values took part (0: every result is NaN). Exactness needs every value in
// memory: more than `max_values` of them fails with SLUICE_LIMIT instead of exhausting memory.
bool ComputeQuantiles(Engine& engine, const std::vector<std::string>& keys, int64_t start, int64_t end,
                      const std::vector<double>& quantiles, uint64_t max_values, std::vector<double>& results,
                      uint64_t& count, EngineError& error);

// Per-window aggregates that need points, over several series merged per window: for each
// epoch-aligned window of `every_us` holding points of `keys` in [start, end], its start and value.
// STDDEV and percentiles take the window's points of every series together; FIRST and LAST the
// earliest / latest point; DELTA and RATE sum each series' own change within the window.
enum class WindowKernelOp : uint8_t { kStddev, kQuantile, kFirst, kLast, kDelta, kRate };

struct WindowKernelRequest {
  int64_t start = 0, end = 0, every_us = 0;
  WindowKernelOp op = WindowKernelOp::kStddev;
  double quantile = 0.5;      // kQuantile
  uint64_t max_values = 0;    // kQuantile: SLUICE_LIMIT past this many values held
};

bool ComputeWindows(Engine& engine, const std::vector<std::string>& keys, const WindowKernelRequest& request,
                    std::vector<int64_t>& window_starts, std::vector<double>& values, EngineError& error);

}  // namespace sluice
