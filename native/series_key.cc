#include "series_key.h"

#include <algorithm>

namespace sluice {
namespace {

bool HasControlCharacter(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

void AppendEscaped(std::string& out, std::string_view text, bool escape_equals) {
  for (char c : text) {
    if (c == ',' || c == ' ' || c == '\\' || (escape_equals && c == '=')) out.push_back('\\');
    out.push_back(c);
  }
}

bool CheckPart(std::string_view text, size_t max_bytes, const char* what, std::string& error) {
  if (text.empty()) {
    error = std::string(what) + " must not be empty";
    return false;
  }
  if (text.size() > max_bytes) {
    error = std::string(what) + " is " + std::to_string(text.size()) + " bytes; at most " + std::to_string(max_bytes) +
            " are accepted";
    return false;
  }
  if (HasControlCharacter(text)) {
    error = std::string(what) + " contains a control character (newline, tab, NUL...); those are not accepted";
    return false;
  }
  return true;
}

}  // namespace

bool BuildSeriesKey(std::string_view name, std::vector<TagView>& tags, std::string& out, std::string& error) {
  out.clear();
  if (!CheckPart(name, kMaxSeriesNameBytes, "series name", error)) return false;
  if (tags.size() > kMaxTagsPerSeries) {
    error = "a series has " + std::to_string(tags.size()) + " tags; at most " + std::to_string(kMaxTagsPerSeries) +
            " are accepted";
    return false;
  }
  for (const TagView& tag : tags) {
    if (!CheckPart(tag.key, kMaxTagKeyBytes, "tag key", error)) return false;
    if (!CheckPart(tag.value, kMaxTagValueBytes, "tag value", error)) {
      error += " (tag \"" + std::string(tag.key) + "\")";
      return false;
    }
  }
  std::sort(tags.begin(), tags.end(), [](const TagView& a, const TagView& b) { return a.key < b.key; });
  for (size_t i = 1; i < tags.size(); ++i) {
    if (tags[i].key == tags[i - 1].key) {
      error = "tag key \"" + std::string(tags[i].key) + "\" is given twice";
      return false;
    }
  }
  AppendEscaped(out, name, false);
  for (const TagView& tag : tags) {
    out.push_back(',');
    AppendEscaped(out, tag.key, true);
    out.push_back('=');
    AppendEscaped(out, tag.value, true);
  }
  if (out.size() > kMaxSeriesKeyBytes) {
    error = "the series key is " + std::to_string(out.size()) + " bytes; at most " + std::to_string(kMaxSeriesKeyBytes) +
            " are accepted";
    return false;
  }
  return true;
}

void AppendEscapedSeriesName(std::string& out, std::string_view name) { AppendEscaped(out, name, false); }

std::string SeriesNameOfKey(std::string_view key, size_t& tags_start) {
  std::string name;
  size_t i = 0;
  for (; i < key.size() && key[i] != ','; ++i) {
    if (key[i] == '\\' && i + 1 < key.size()) ++i;
    name.push_back(key[i]);
  }
  tags_start = i;
  return name;
}

}  // namespace sluice
