// The canonical series key: the one string that names a series (name + tags in sorted order).
//
//   temp,region=eu\ west,sensor=1
//
// The name comes first, then ",key=value" for each tag sorted by key (bytewise). Backslash escapes
// keep the key unambiguous and read like InfluxDB line protocol: in the name ',' ' ' and '\' are
// escaped; in tag keys and values ',' '=' ' ' and '\' are. Every producer of keys (the embedded
// API, line protocol, WebSocket frames) goes through BuildSeriesKey, so they cannot disagree.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sluice {

inline constexpr size_t kMaxSeriesNameBytes = 256;
inline constexpr size_t kMaxTagKeyBytes = 256;
inline constexpr size_t kMaxTagValueBytes = 1024;
inline constexpr size_t kMaxTagsPerSeries = 64;
inline constexpr size_t kMaxSeriesKeyBytes = 8192;

struct TagView {
  std::string_view key;
  std::string_view value;
};

// Builds the canonical key into `out` (cleared first). Sorts `tags` in place. Returns false and
// sets `error` (what was wrong and what is accepted) for: an empty or oversized name, key or value;
// control characters; too many tags; a tag key given twice.
bool BuildSeriesKey(std::string_view name, std::vector<TagView>& tags, std::string& out, std::string& error);

// Appends a series name escaped as in a key (',' ' ' and backslash get a backslash).
void AppendEscapedSeriesName(std::string& out, std::string_view name);
// The unescaped name at the front of a canonical key; `tags_start` gets where the ",k=v" part begins.
std::string SeriesNameOfKey(std::string_view key, size_t& tags_start);

}  // namespace sluice
