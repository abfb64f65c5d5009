// InfluxDB line protocol in, a columnar batch of float points out (docs/line-protocol.md).
//
//   cpu,host=a,region=eu usage=0.5,value=3i 1700000000000000000
//
// Every numeric field becomes one point of its own series: the measurement for field `value`,
// `measurement_field` otherwise (VictoriaMetrics' naming), with the line's tags. Keys are built only
// through BuildSeriesKey. A batch is all or nothing: any error rejects the whole buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

inline constexpr size_t kMaxLineBytes = size_t{1} << 20;
inline constexpr size_t kMaxFieldsPerLine = 256;
// Tags per line: kMaxTagsPerSeries (series_key.h), since the tags become the series' tags.

enum class Precision { kNanoseconds, kMicroseconds, kMilliseconds, kSeconds };

struct ParsedLines {
  std::vector<std::string> series_keys;  // unique canonical keys, in order of first appearance
  std::vector<uint32_t> key_index;       // per point: index into series_keys
  std::vector<int64_t> timestamps_us;    // per point
  std::vector<double> values;            // per point
  uint64_t skipped_string_fields = 0;    // string fields cannot be stored as f64: counted, not stored
  void Clear();
};

// Where and why a buffer was rejected. Line and column are 1-based and count bytes; lines are the
// physical lines of the buffer (a newline inside a quoted string starts a new one).
struct LineError {
  size_t line = 0;
  size_t column = 0;
  std::string message;
};

// Parses the whole buffer. On any error returns false, fills `error` (what was found and what was
// expected) and leaves `out` cleared: a rejected batch yields nothing.
bool ParseLineProtocol(const char* data, size_t length, Precision precision, int64_t default_timestamp_us,
                       ParsedLines& out, LineError& error);

}  // namespace sluice
