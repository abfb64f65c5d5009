// Decimal codecs (after ALP, Afroozeh et al., SIGMOD 2023): values that are exactly
// (double)integer / 10^e for one exponent e per block are stored as integers — first value, then
// deltas as frame-of-reference offsets, bit-packed (kDecimal) or Huffman-coded (kDecimalEntropy).
// -0.0, NaN, infinities and values needing more digits make a block non-decimal. Format:
// docs/codecs.md "Decimal".
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice {

inline constexpr unsigned kMaxDecimalExponent = 18;

// Powers of ten up to 10^18 are exact doubles (10^22 is the last), so the division in the decoder
// is one correctly rounded operation: the same one that parsing "12.34" performs.
inline constexpr double kPowersOfTen[kMaxDecimalExponent + 1] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,
                                                          1e7,  1e8,  1e9,  1e10, 1e11, 1e12, 1e13,
                                                          1e14, 1e15, 1e16, 1e17, 1e18};

// A block of values as integers: values[i] == (double)integers[i] / 10^exponent, bit for bit.
struct DecimalColumn {
  unsigned exponent = 0;
  std::vector<int64_t> integers;
};

// The integer i with (double)i / 10^exponent == value bit for bit, if there is one.
bool ToDecimal(double value, unsigned exponent, int64_t& integer);

// Finds the smallest exponent at which every value round-trips exactly; false if there is none.
bool FindDecimalColumn(const double* values, size_t n, DecimalColumn& column);

// Appends the bit-packed form (no codec id byte).
void EncodeDecimal(const DecimalColumn& column, std::vector<uint8_t>& out);
// Appends the Huffman-coded form (no codec id byte); false (out unchanged) if the spread of the
// deltas exceeds the Huffman alphabet.
bool EncodeDecimalEntropy(const DecimalColumn& column, std::vector<uint8_t>& out);

// Decode exactly n values; false if the input is malformed or too short.
bool DecodeDecimal(const uint8_t* data, size_t length, size_t n, double* out);
bool DecodeDecimalEntropy(const uint8_t* data, size_t length, size_t n, double* out);
// Decodes the scaled integers instead (values[i] == (double)integer i / 10^exponent): aggregates
// can work on them and skip the division per value. out[i] is integer i, or when `cumulative` the
// sum of integers 0..i (wrapping in uint64), so a run's sum is one subtraction. Every
// |integer i| ≤ magnitude_bound (from the header and the widest offset the block can hold, so
// sums can be proven not to overflow).
bool DecodeDecimalIntegers(const uint8_t* data, size_t length, size_t n, bool entropy, bool cumulative, int64_t* out,
                           unsigned& exponent, double& magnitude_bound);

}  // namespace sluice
