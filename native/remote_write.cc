#include "remote_write.h"

#include <cstring>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "series_key.h"
#include "snappy_decoder.h"
#include "utf8.h"

namespace sluice {
namespace {

constexpr size_t kMaxVarintBytes = 10;
constexpr uint64_t kMaxFieldNumber = (uint64_t{1} << 29) - 1;
constexpr size_t kMaxLabelsPerSeries = kMaxTagsPerSeries + 1;  // the tags and __name__
constexpr std::string_view kNameLabel = "__name__";
// A decompression buffer larger than this is given back after the call instead of kept.
constexpr size_t kKeptBufferBytes = size_t{16} << 20;

enum WireType : unsigned { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

const char* WireTypeName(unsigned wire) {
  switch (wire) {
    case kVarint: return "varint";
    case kFixed64: return "64-bit";
    case kLengthDelimited: return "length-delimited";
    case kFixed32: return "32-bit";
    default: return "invalid";
  }
}

struct Field {
  size_t start = 0;        // offset of the tag
  uint64_t number = 0;
  unsigned wire = 0;
  uint64_t varint = 0;     // kVarint
  size_t payload = 0;      // kFixed64, kFixed32, kLengthDelimited: where the bytes start
  size_t payload_length = 0;
};

class Decoder {
 public:
  Decoder(const uint8_t* data, size_t length, ParsedPoints& out, RemoteWriteError& error)
      : data_(data), length_(length), out_(out), error_(error) {}

  bool Run() {
    size_t pos = 0;
    Field field;
    size_t series = 0;
    while (pos < length_) {
      if (!NextField(pos, length_, field)) return false;
      if (field.number != 1) continue;  // metadata (3) and anything newer: skipped
      if (!Expect(field, kLengthDelimited, "WriteRequest.timeseries")) return false;
      if (!TimeSeries(field.start, field.payload, field.payload + field.payload_length, series)) return false;
      ++series;
    }
    return true;
  }

 private:
  bool Fail(size_t at, std::string message) {
    error_.offset = at;
    error_.in_snappy = false;
    error_.too_large = false;
    error_.message = std::move(message);
    return false;
  }

  // A base-128 varint of at most 10 bytes whose value fits 64 bits.
  bool Varint(size_t& pos, size_t end, uint64_t& value, const char* what) {
    const size_t start = pos;
    value = 0;
    for (size_t i = 0; i < kMaxVarintBytes; ++i) {
      if (pos == end) return Fail(start, std::string(what) + " (a varint) is cut off");
      const uint8_t byte = data_[pos++];
      if (i == kMaxVarintBytes - 1 && byte > 1) return Fail(start, std::string(what) + " (a varint) overflows 64 bits");
      value |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
      if ((byte & 0x80) == 0) return true;
    }
    return Fail(start, std::string(what) + " (a varint) is longer than 10 bytes");
  }

  // The next field of a message that ends at `end`; its payload is bounded by `end`.
  bool NextField(size_t& pos, size_t end, Field& field) {
    field.start = pos;
    uint64_t tag;
    if (!Varint(pos, end, tag, "a field tag")) return false;
    field.number = tag >> 3;
    field.wire = static_cast<unsigned>(tag & 7);
    if (field.number == 0 || field.number > kMaxFieldNumber) {
      return Fail(field.start, "field number " + std::to_string(field.number) + " is outside 1.." +
                                   std::to_string(kMaxFieldNumber));
    }
    switch (field.wire) {
      case kVarint:
        return Varint(pos, end, field.varint, "a varint field");
      case kFixed64:
      case kFixed32: {
        const size_t size = field.wire == kFixed64 ? 8 : 4;
        if (end - pos < size) {
          return Fail(field.start, "field " + std::to_string(field.number) + " needs " + std::to_string(size) +
                                       " bytes, " + std::to_string(end - pos) + " are left in its message");
        }
        field.payload = pos;
        field.payload_length = size;
        pos += size;
        return true;
      }
      case kLengthDelimited: {
        uint64_t size;
        if (!Varint(pos, end, size, "a field length")) return false;
        if (size > end - pos) {
          return Fail(field.start, "field " + std::to_string(field.number) + " declares " + std::to_string(size) +
                                       " bytes, " + std::to_string(end - pos) + " are left in its message");
        }
        field.payload = pos;
        field.payload_length = static_cast<size_t>(size);
        pos += field.payload_length;
        return true;
      }
      case 3:
      case 4:
        return Fail(field.start, "field " + std::to_string(field.number) +
                                     " is a group (wire type 3 or 4), which remote_write does not use");
      default:
        return Fail(field.start, "field " + std::to_string(field.number) + " has the invalid wire type " +
                                     std::to_string(field.wire));
    }
  }

  bool Expect(const Field& field, unsigned wire, const char* what) {
    if (field.wire == wire) return true;
    return Fail(field.start, std::string(what) + " (field " + std::to_string(field.number) + ") must be " +
                                 WireTypeName(wire) + ", got wire type " + std::to_string(field.wire) + " (" +
                                 WireTypeName(field.wire) + ")");
  }

  bool Utf8(size_t start, size_t size, const char* what) {
    const std::string_view text(reinterpret_cast<const char*>(data_ + start), size);
    const size_t bad = FindInvalidUtf8(text);
    if (bad == std::string_view::npos) return true;
    return Fail(start + bad, std::string(what) + " is not valid UTF-8");
  }

  std::string_view View(size_t start, size_t size) const {
    return std::string_view(reinterpret_cast<const char*>(data_ + start), size);
  }

  // Label { string name = 1; string value = 2; }: the last of a repeated field wins (protobuf).
  bool Label(size_t pos, size_t end, std::string_view& name, std::string_view& value) {
    name = {};
    value = {};
    Field field;
    while (pos < end) {
      if (!NextField(pos, end, field)) return false;
      if (field.number == 1 || field.number == 2) {
        const bool is_name = field.number == 1;
        if (!Expect(field, kLengthDelimited, is_name ? "Label.name" : "Label.value")) return false;
        if (!Utf8(field.payload, field.payload_length, is_name ? "a label name" : "a label value")) return false;
        (is_name ? name : value) = View(field.payload, field.payload_length);
      }
    }
    return true;
  }

  // Sample { double value = 1; int64 timestamp = 2; } (ms), appended as a point in µs.
  bool Sample(size_t pos, size_t end) {
    double value = 0;
    int64_t timestamp_ms = 0;
    size_t timestamp_at = pos;
    Field field;
    while (pos < end) {
      if (!NextField(pos, end, field)) return false;
      if (field.number == 1) {
        if (!Expect(field, kFixed64, "Sample.value")) return false;
        uint64_t bits = 0;
        for (int i = 7; i >= 0; --i) bits = (bits << 8) | data_[field.payload + i];
        static_assert(sizeof(double) == sizeof(uint64_t));
        std::memcpy(&value, &bits, sizeof value);
      } else if (field.number == 2) {
        if (!Expect(field, kVarint, "Sample.timestamp")) return false;
        timestamp_ms = static_cast<int64_t>(field.varint);
        timestamp_at = field.start;
      }
    }
    int64_t timestamp_us;
    if (__builtin_mul_overflow(timestamp_ms, int64_t{1000}, &timestamp_us)) {
      return Fail(timestamp_at, "timestamp " + std::to_string(timestamp_ms) +
                                    " ms does not fit 64-bit microseconds (|ms| must be under 9.2e15)");
    }
    out_.timestamps_us.push_back(timestamp_us);
    out_.values.push_back(value);
    return true;
  }

  bool TimeSeries(size_t series_at, size_t pos, size_t end, size_t series) {
    const std::string where = "timeseries " + std::to_string(series) + ": ";
    tags_.clear();
    std::string_view name;
    bool has_name = false;
    size_t labels = 0;
    const size_t first_point = out_.values.size();
    Field field;
    while (pos < end) {
      if (!NextField(pos, end, field)) return false;
      if (field.number == 1) {
        if (!Expect(field, kLengthDelimited, "TimeSeries.labels")) return false;
        if (++labels > kMaxLabelsPerSeries) {
          return Fail(field.start, where + "more than " + std::to_string(kMaxLabelsPerSeries) +
                                       " labels (__name__ and at most " + std::to_string(kMaxTagsPerSeries) + " tags)");
        }
        std::string_view label_name, label_value;
        if (!Label(field.payload, field.payload + field.payload_length, label_name, label_value)) return false;
        if (label_name.empty()) return Fail(field.start, where + "a label has an empty name");
        if (label_name == kNameLabel) {
          if (has_name) return Fail(field.start, where + "the label __name__ is given twice");
          if (label_value.empty()) return Fail(field.start, where + "the label __name__ (the series name) is empty");
          has_name = true;
          name = label_value;
        } else if (!label_value.empty()) {  // an empty value is no label (Prometheus)
          tags_.push_back({label_name, label_value});
        }
      } else if (field.number == 2) {
        if (!Expect(field, kLengthDelimited, "TimeSeries.samples")) return false;
        if (!Sample(field.payload, field.payload + field.payload_length)) return false;
      }
      // exemplars (3), histograms (4) and anything newer: skipped
    }
    if (!has_name) return Fail(series_at, where + "no __name__ label: the series name is required");
    if (!BuildSeriesKey(name, tags_, key_, key_error_)) return Fail(series_at, where + key_error_);
    const size_t points = out_.values.size() - first_point;
    if (points == 0) return true;  // checked, but a series without samples writes nothing
    const auto [known, added] = index_of_key_.try_emplace(key_, static_cast<uint32_t>(out_.series_keys.size()));
    if (added) out_.series_keys.push_back(key_);
    out_.key_index.insert(out_.key_index.end(), points, known->second);
    return true;
  }

  const uint8_t* data_;
  size_t length_;
  ParsedPoints& out_;
  RemoteWriteError& error_;
  std::vector<TagView> tags_;
  std::string key_;
  std::string key_error_;
  std::unordered_map<std::string, uint32_t> index_of_key_;
};

}  // namespace

bool ParseWriteRequest(const uint8_t* data, size_t length, ParsedPoints& out, RemoteWriteError& error) {
  out.Clear();
  Decoder decoder(data, length, out, error);
  if (decoder.Run()) return true;
  out.Clear();
  return false;
}

bool ParseRemoteWrite(const uint8_t* body, size_t length, size_t max_uncompressed, ParsedPoints& out,
                      RemoteWriteError& error) {
  out.Clear();
  thread_local std::vector<uint8_t> request;
  SnappyError snappy;
  bool parsed;
  if (!SnappyDecompress(body, length, max_uncompressed, request, snappy)) {
    error.offset = snappy.offset;
    error.in_snappy = true;
    error.too_large = snappy.too_large;
    error.message = std::move(snappy.message);
    parsed = false;
  } else {
    parsed = ParseWriteRequest(request.data(), request.size(), out, error);
  }
  if (request.capacity() > kKeptBufferBytes) {
    std::vector<uint8_t>().swap(request);
  } else {
    request.clear();
  }
  return parsed;
}

}  // namespace sluice
