// The codecs of a segment block: one call per column. Values get the smallest of four encodings
// (first byte = codec id); timestamps one delta-of-delta encoding. Formats and the choice:
// docs/codecs.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

// EncodeTimestamps() and DecodeTimestamps() are declared there (their own feature pair).
#include "timestamp_codec.h"

namespace sluice {

// kRaw (added): the 8 bytes of each double, little-endian; caps the worst case (random bits, on
// which Gorilla's control bits would make the block larger than the input) at 8 bytes per value.
enum class ValueCodec : uint8_t { kGorilla = 1, kDecimal = 2, kDecimalEntropy = 3, kRaw = 4 };

// The block size docs/codecs.md recommends: large enough to amortise the Huffman table and block
// headers (≤ 0.01 B/pt), small enough that a range query decodes little it does not need.
inline constexpr size_t kRecommendedBlockPoints = 4096;

// Appends the smallest encoding of n values that round-trips bit-exactly (first byte = codec id); returns it.
ValueCodec EncodeValues(const double* values, size_t n, std::vector<uint8_t>& out);
// Forces one codec (for benchmarks/tests); returns false (out unchanged) if that codec cannot represent the values exactly.
bool EncodeValuesWith(ValueCodec codec, const double* values, size_t n, std::vector<uint8_t>& out);
// Decodes exactly n values; false if the input is malformed or too short. Never reads outside
// [data, data+length), never writes more than n outputs.
bool DecodeValues(const uint8_t* data, size_t length, size_t n, double* out);
// For decimal blocks: the scaled integers and the exponent (values[i] == (double)out[i] / 10^e);
// false when the block is not decimal-coded (or malformed: DecodeValues then says which).
// Every |integer| ≤ magnitude_bound; with `cumulative`, out[i] is the sum of integers 0..i
// (DecodeDecimalIntegers).
bool DecodeValuesAsDecimal(const uint8_t* data, size_t length, size_t n, bool cumulative, int64_t* out,
                           unsigned& exponent, double& magnitude_bound);

}  // namespace sluice
