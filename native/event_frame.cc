#include "event_frame.h"

#include <cstring>
#include <functional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "series_key.h"

namespace sluice {
namespace {

// Lets the maps below be searched with a string_view of the message, without a std::string.
struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};
using StringIndex = std::unordered_map<std::string, uint32_t, TransparentHash, std::equal_to<>>;

uint16_t ReadU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

uint64_t ReadU64(const uint8_t* p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

}  // namespace

bool ParseEventFrame(const uint8_t* data, size_t length, ParsedPoints& out, FrameError& error) {
  out.Clear();
  // Batches repeat a few series: the raw bytes of an event's series and tags map to its key index,
  // so BuildSeriesKey runs once per distinct series, not once per event.
  thread_local StringIndex key_of_descriptor;
  thread_local StringIndex index_of_key;
  thread_local std::vector<TagView> tags;
  thread_local std::string key;
  thread_local std::string key_error;
  key_of_descriptor.clear();
  index_of_key.clear();
  std::string_view previous_descriptor;
  uint32_t previous_index = 0;

  size_t offset = 0;
  size_t event = 0;
  auto fail = [&](const std::string& message) {
    error = {offset, event, message};
    out.Clear();
    return false;
  };
  while (offset < length) {
    if (length - offset < kEventHeaderBytes) {
      return fail(std::to_string(length - offset) + " bytes left where an event needs at least " +
                  std::to_string(kEventHeaderBytes) + " (timestamp, value, series length, tag count)");
    }
    const uint8_t* p = data + offset;
    const int64_t timestamp = static_cast<int64_t>(ReadU64(p));
    const uint64_t value_bits = ReadU64(p + 8);
    double value;
    std::memcpy(&value, &value_bits, sizeof value);
    const size_t series_length = ReadU16(p + 16);
    const size_t tag_count = ReadU16(p + 18);
    if (series_length == 0) return fail("the series name is empty (series_len 0)");
    if (series_length > kMaxSeriesNameBytes) {
      return fail("series_len " + std::to_string(series_length) + " is over the limit of " +
                  std::to_string(kMaxSeriesNameBytes) + " bytes");
    }
    if (tag_count > kMaxTagsPerSeries) {
      return fail("tag_count " + std::to_string(tag_count) + " is over the limit of " + std::to_string(kMaxTagsPerSeries));
    }
    size_t cursor = offset + kEventHeaderBytes;
    if (length - cursor < series_length) {
      return fail("the series name needs " + std::to_string(series_length) + " bytes, " +
                  std::to_string(length - cursor) + " are left");
    }
    const size_t descriptor_start = cursor;
    cursor += series_length;
    tags.clear();
    for (size_t i = 0; i < tag_count; ++i) {
      if (length - cursor < 2) return fail("tag " + std::to_string(i) + ": its length (u16) is cut off");
      const size_t tag_length = ReadU16(data + cursor);
      cursor += 2;
      if (length - cursor < tag_length) {
        return fail("tag " + std::to_string(i) + " needs " + std::to_string(tag_length) + " bytes, " +
                    std::to_string(length - cursor) + " are left");
      }
      const std::string_view tag(reinterpret_cast<const char*>(data + cursor), tag_length);
      cursor += tag_length;
      const size_t equals = tag.find('=');
      if (equals == std::string_view::npos || equals == 0 || equals + 1 == tag.size()) {
        return fail("tag " + std::to_string(i) + " must be key=value with both parts non-empty");
      }
      tags.push_back({tag.substr(0, equals), tag.substr(equals + 1)});
    }
    const std::string_view descriptor(reinterpret_cast<const char*>(data + descriptor_start), cursor - descriptor_start);
    uint32_t index;
    if (!previous_descriptor.empty() && descriptor == previous_descriptor) {
      index = previous_index;
    } else {
      auto found = key_of_descriptor.find(descriptor);
      if (found != key_of_descriptor.end()) {
        index = found->second;
      } else {
        const std::string_view name(reinterpret_cast<const char*>(data + descriptor_start), series_length);
        if (!BuildSeriesKey(name, tags, key, key_error)) return fail(key_error);
        // Two spellings of one series (tags in another order) share its index.
        const auto [known, added] = index_of_key.emplace(key, static_cast<uint32_t>(out.series_keys.size()));
        if (added) out.series_keys.push_back(key);
        index = known->second;
        key_of_descriptor.emplace(std::string(descriptor), index);
      }
      previous_descriptor = descriptor;
      previous_index = index;
    }
    out.key_index.push_back(index);
    out.timestamps_us.push_back(timestamp);
    out.values.push_back(value);
    offset = cursor;
    ++event;
  }
  return true;
}

}  // namespace sluice
