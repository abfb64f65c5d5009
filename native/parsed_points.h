// A columnar batch of float points, as the network parsers (line protocol, WebSocket event frames)
// produce it and the engine's WriteMany takes it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

struct ParsedPoints {
  std::vector<std::string> series_keys;  // unique canonical keys, in order of first appearance
  std::vector<uint32_t> key_index;       // per point: index into series_keys
  std::vector<int64_t> timestamps_us;    // per point
  std::vector<double> values;            // per point
  uint64_t skipped_string_fields = 0;    // line protocol: string fields are counted, not stored
  void Clear() {
    series_keys.clear();
    key_index.clear();
    timestamps_us.clear();
    values.clear();
    skipped_string_fields = 0;
  }
};

// Gives back the columns of an unusually large batch instead of keeping them for the next call
// (parsers reuse one batch per thread: fresh multi-megabyte columns each call cost page faults).
inline void ReleaseParsedPoints(ParsedPoints& parsed) {
  constexpr size_t kKeptPoints = size_t{1} << 20;  // ~20 MiB of columns
  if (parsed.values.capacity() > kKeptPoints) parsed = ParsedPoints();
  parsed.Clear();
}

}  // namespace sluice
