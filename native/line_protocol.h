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

#include "parsed_points.h"

namespace sluice {

inline constexpr size_t kMaxLineBytes = size_t{1} << 20;
inline constexpr size_t kMaxFieldsPerLine = 256;
// Tags per line: kMaxTagsPerSeries (series_key.h), since the tags become the series' tags.

enum class Precision { kNanoseconds, kMicroseconds, kMilliseconds, kSeconds };

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
                       ParsedPoints& out, LineError& error);

}  // namespace sluice
