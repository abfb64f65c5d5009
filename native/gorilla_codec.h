// Gorilla XOR compression of doubles (Pelkonen et al., VLDB 2015), the codec of last resort: it
// stores any bit pattern (NaN payloads, -0, infinities, subnormals) exactly. Format: docs/codecs.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice {

// Appends the Gorilla bitstream of n values (no codec id byte).
void EncodeGorilla(const double* values, size_t n, std::vector<uint8_t>& out);

// Decodes exactly n values; false if the bitstream is malformed or too short.
bool DecodeGorilla(const uint8_t* data, size_t length, size_t n, double* out);

}  // namespace sluice
