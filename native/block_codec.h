// Encodings of one block's timestamps and values (see docs/codecs.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice {

enum class ValueCodec : uint8_t { kGorilla = 1, kDecimal = 2, kDecimalEntropy = 3 };

void EncodeTimestamps(const int64_t* timestamps, size_t n, std::vector<uint8_t>& out);
bool DecodeTimestamps(const uint8_t* data, size_t length, size_t n, int64_t* out);
ValueCodec EncodeValues(const double* values, size_t n, std::vector<uint8_t>& out);
bool EncodeValuesWith(ValueCodec codec, const double* values, size_t n, std::vector<uint8_t>& out);
bool DecodeValues(const uint8_t* data, size_t length, size_t n, double* out);

}  // namespace sluice
