// Stand-in until the compressed codecs land: raw little-endian arrays.
#include <cstring>

#include "block_codec.h"

namespace sluice {

void EncodeTimestamps(const int64_t* timestamps, size_t n, std::vector<uint8_t>& out) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(timestamps);
  out.insert(out.end(), bytes, bytes + n * 8);
}
bool DecodeTimestamps(const uint8_t* data, size_t length, size_t n, int64_t* out) {
  if (length != n * 8) return false;
  std::memcpy(out, data, length);
  return true;
}
ValueCodec EncodeValues(const double* values, size_t n, std::vector<uint8_t>& out) {
  out.push_back(static_cast<uint8_t>(ValueCodec::kGorilla));
  const auto* bytes = reinterpret_cast<const uint8_t*>(values);
  out.insert(out.end(), bytes, bytes + n * 8);
  return ValueCodec::kGorilla;
}
bool EncodeValuesWith(ValueCodec, const double* values, size_t n, std::vector<uint8_t>& out) {
  EncodeValues(values, n, out);
  return true;
}
bool DecodeValues(const uint8_t* data, size_t length, size_t n, double* out) {
  if (length != n * 8 + 1) return false;
  std::memcpy(out, data + 1, n * 8);
  return true;
}

}  // namespace sluice
