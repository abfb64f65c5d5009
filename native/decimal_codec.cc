#include "decimal_codec.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <memory>
#include <type_traits>

#include "bit_io.h"
#include "huffman_coder.h"

namespace sluice {
namespace {

// Scaled values must stay well inside int64 so llround is defined.
constexpr double kMaxScaledMagnitude = 0x1p62;

// The decoders' one formula; the encoder checks every value against it.
double FromDecimal(uint64_t integer, double divisor) {
  return static_cast<double>(static_cast<int64_t>(integer)) / divisor;
}


// Deltas between neighbours minus their minimum: all ≥ 0. Wrapping uint64 arithmetic keeps huge
// jumps lossless.
uint64_t OffsetDeltas(const std::vector<int64_t>& integers, std::vector<uint64_t>& offsets) {
  offsets.resize(integers.size() - 1);
  int64_t min_delta = INT64_MAX;
  for (size_t i = 1; i < integers.size(); ++i) {
    const int64_t delta =
        static_cast<int64_t>(static_cast<uint64_t>(integers[i]) - static_cast<uint64_t>(integers[i - 1]));
    min_delta = std::min(min_delta, delta);
    offsets[i - 1] = static_cast<uint64_t>(delta);
  }
  for (uint64_t& offset : offsets) offset -= static_cast<uint64_t>(min_delta);
  return static_cast<uint64_t>(min_delta);
}

// The header both forms share: exponent, first integer, and (n ≥ 2) the delta reference.
void AppendHeader(const DecimalColumn& column, uint64_t reference, std::vector<uint8_t>& out) {
  out.push_back(static_cast<uint8_t>(column.exponent));
  if (column.integers.empty()) return;
  AppendVarint(out, ZigzagEncode(static_cast<uint64_t>(column.integers[0])));
  if (column.integers.size() >= 2) AppendVarint(out, ZigzagEncode(reference));
}

constexpr size_t kRebuildChunk = 256;

// Turns `count` delta offsets (each ≤ max_offset) into values: a prefix sum into integers, then the
// conversion in a loop of its own, which has no dependency between iterations and so vectorises.
template <typename Offset>
void RebuildChunk(const Offset* offsets, size_t count, uint64_t max_offset, uint64_t reference, uint64_t& current,
                  double divisor, double* out) {
  // Every integer of the chunk lies within |current| + count * (|reference| + max_offset); that
  // bound, computed once in floating point (a generous margin), replaces a check per value.
  const double largest_step = std::fabs(static_cast<double>(static_cast<int64_t>(reference))) + static_cast<double>(max_offset);
  const double magnitude_bound =
      std::fabs(static_cast<double>(static_cast<int64_t>(current))) + static_cast<double>(count) * largest_step;
  uint64_t integers[kRebuildChunk];
  for (size_t j = 0; j < count; ++j) {
    current += reference + offsets[j];
    integers[j] = current;
  }
  if (magnitude_bound < 0x1p50) {
    // int64 -> double by adding into the mantissa of 1.5 * 2^52: exact for |x| ≤ 2^51 and, unlike
    // cvtsi2sd, packed without AVX-512. The result equals FromDecimal() bit for bit.
    constexpr uint64_t kMagicBits = 0x4338000000000000;
    constexpr double kMagic = 0x1.8p52;
    for (size_t j = 0; j < count; ++j) out[j] = (std::bit_cast<double>(integers[j] + kMagicBits) - kMagic) / divisor;
  } else {
    for (size_t j = 0; j < count; ++j) out[j] = FromDecimal(integers[j], divisor);
  }
}

struct DecimalHeader {
  unsigned exponent = 0;
  uint64_t first = 0;
  uint64_t reference = 0;
};

bool ReadHeader(ByteReader& reader, size_t n, DecimalHeader& header) {
  uint8_t exponent;
  if (!reader.ReadByte(exponent) || exponent > kMaxDecimalExponent) return false;
  header.exponent = exponent;
  if (n >= 1 && !reader.ReadVarint(header.first)) return false;
  if (n >= 2 && !reader.ReadVarint(header.reference)) return false;
  header.first = ZigzagDecode(header.first);
  header.reference = ZigzagDecode(header.reference);
  return true;
}

// |integer i| ≤ |first| + i * (|reference| + widest offset); doubles round, callers keep a margin.
double MagnitudeBound(const DecimalHeader& header, size_t n, uint64_t widest_offset) {
  return std::fabs(static_cast<double>(static_cast<int64_t>(header.first))) +
         static_cast<double>(n == 0 ? 0 : n - 1) *
             (std::fabs(static_cast<double>(static_cast<int64_t>(header.reference))) + static_cast<double>(widest_offset));
}

// What both forms share: the header and the first value, then `decode_offsets(reader, n - 1,
// rebuild)`, which decodes the offsets its own way and hands them, ≤ kRebuildChunk at a time, to
// rebuild(offsets, count, max_offset), which appends the values — as doubles, or (Out = int64_t)
// as the scaled integers themselves, for callers that aggregate without rebuilding doubles.
template <typename Out, typename DecodeOffsets>
bool DecodeDecimalForm(const uint8_t* data, size_t length, size_t n, Out* out, unsigned& exponent,
                       DecodeOffsets&& decode_offsets, double* magnitude_bound = nullptr, bool cumulative = false) {
  ByteReader reader(data, length);
  DecimalHeader header;
  if (!ReadHeader(reader, n, header)) return false;
  exponent = header.exponent;
  if (magnitude_bound) *magnitude_bound = 0;
  if (n == 0) return true;
  const double divisor = kPowersOfTen[header.exponent];
  uint64_t current = header.first;
  Out* next = out + 1;
  if constexpr (std::is_same_v<Out, double>) {
    out[0] = FromDecimal(current, divisor);
  } else {
    out[0] = static_cast<int64_t>(current);
  }
  uint64_t widest_offset = 0;
  uint64_t total = current;  // cumulative: the running total of the values so far
  auto rebuild = [&](const auto* offsets, size_t count, uint64_t max_offset) {
    if constexpr (std::is_same_v<Out, double>) {
      RebuildChunk(offsets, count, max_offset, header.reference, current, divisor, next);
    } else {
      widest_offset = std::max(widest_offset, max_offset);
      if (cumulative) {
        for (size_t j = 0; j < count; ++j) {
          current += header.reference + offsets[j];
          total += current;
          next[j] = static_cast<int64_t>(total);
        }
      } else {
        for (size_t j = 0; j < count; ++j) {
          current += header.reference + offsets[j];
          next[j] = static_cast<int64_t>(current);
        }
      }
    }
    next += count;
  };
  if (n >= 2 && !decode_offsets(reader, n - 1, rebuild)) return false;
  if (magnitude_bound) *magnitude_bound = MagnitudeBound(header, n, widest_offset);
  return true;
}

// The bit-packed offsets of kDecimal.
struct PackedOffsets {
  bool operator()(ByteReader& reader, size_t count, auto&& rebuild) const {
    uint8_t width;
    if (!reader.ReadByte(width) || width > 64) return false;
    if (count > (SIZE_MAX - 7) / 64) return false;  // the byte count below must not overflow
    const size_t packed_bytes = (count * width + 7) / 8;
    if (reader.remaining() < packed_bytes) return false;
    BitReader bits(reader.current(), packed_bytes);
    uint64_t offsets[kRebuildChunk];
    for (size_t done = 0; done < count; done += kRebuildChunk) {
      const size_t chunk = std::min(kRebuildChunk, count - done);
      for (size_t j = 0; j < chunk; ++j) offsets[j] = bits.Read(width);
      rebuild(offsets, chunk, LowBitsMask(width));
    }
    return true;
  }
};

// The Huffman-coded offsets of kDecimalEntropy.
struct HuffmanOffsets {
  bool operator()(ByteReader& reader, size_t count, auto&& rebuild) const {
    // Not a std::vector: zero-filling 4 bytes per point first would cost more than it protects.
    const std::unique_ptr<uint32_t[]> offsets(new uint32_t[count]);
    if (!DecodeHuffman(reader.current(), reader.remaining(), count, offsets.get())) return false;
    for (size_t done = 0; done < count; done += kRebuildChunk) {
      rebuild(offsets.get() + done, std::min(kRebuildChunk, count - done), kMaxHuffmanAlphabet - 1);
    }
    return true;
  }
};

}  // namespace

bool ToDecimal(double value, unsigned exponent, int64_t& integer) {
  const double scaled = value * kPowersOfTen[exponent];
  if (!(std::fabs(scaled) < kMaxScaledMagnitude)) return false;  // also rejects NaN and ±Inf
  integer = std::llround(scaled);
  const double decoded = FromDecimal(static_cast<uint64_t>(integer), kPowersOfTen[exponent]);
  return std::bit_cast<uint64_t>(decoded) == std::bit_cast<uint64_t>(value);
}

bool FindDecimalColumn(const double* values, size_t n, DecimalColumn& column) {
  // The exponent only grows: most blocks settle on it within the first values.
  unsigned exponent = 0;
  int64_t integer;
  for (size_t i = 0; i < n; ++i) {
    while (!ToDecimal(values[i], exponent, integer)) {
      if (++exponent > kMaxDecimalExponent) return false;
    }
  }
  // A value exact at a smaller exponent may not be at the final one (precision beyond 2^53), so
  // every value is checked again at the exponent chosen, which grows if needed.
  for (;;) {
    column.integers.resize(n);
    bool all_exact = true;
    for (size_t i = 0; i < n && all_exact; ++i) all_exact = ToDecimal(values[i], exponent, column.integers[i]);
    if (all_exact) break;
    if (++exponent > kMaxDecimalExponent) return false;
  }
  column.exponent = exponent;
  return true;
}

void EncodeDecimal(const DecimalColumn& column, std::vector<uint8_t>& out) {
  const size_t n = column.integers.size();
  std::vector<uint64_t> offsets;
  const uint64_t reference = n >= 2 ? OffsetDeltas(column.integers, offsets) : 0;
  AppendHeader(column, reference, out);
  if (n < 2) return;
  uint64_t all_bits = 0;
  for (uint64_t offset : offsets) all_bits |= offset;
  const unsigned width = BitWidth(all_bits);
  out.push_back(static_cast<uint8_t>(width));
  BitWriter bits(out);
  for (uint64_t offset : offsets) bits.Write(offset, width);
  bits.Finish();
}

bool EncodeDecimalEntropy(const DecimalColumn& column, std::vector<uint8_t>& out) {
  const size_t n = column.integers.size();
  std::vector<uint64_t> offsets;
  const uint64_t reference = n >= 2 ? OffsetDeltas(column.integers, offsets) : 0;
  std::vector<uint32_t> symbols(offsets.size());
  for (size_t i = 0; i < offsets.size(); ++i) {
    if (offsets[i] >= kMaxHuffmanAlphabet) return false;
    symbols[i] = static_cast<uint32_t>(offsets[i]);
  }
  const size_t original_size = out.size();
  AppendHeader(column, reference, out);
  if (n < 2) return true;
  if (!EncodeHuffman(symbols.data(), symbols.size(), out)) {
    out.resize(original_size);
    return false;
  }
  return true;
}

bool DecodeDecimal(const uint8_t* data, size_t length, size_t n, double* out) {
  unsigned exponent;
  return DecodeDecimalForm(data, length, n, out, exponent, PackedOffsets{});
}

bool DecodeDecimalEntropy(const uint8_t* data, size_t length, size_t n, double* out) {
  unsigned exponent;
  return DecodeDecimalForm(data, length, n, out, exponent, HuffmanOffsets{});
}

bool DecodeDecimalIntegers(const uint8_t* data, size_t length, size_t n, bool entropy, bool cumulative, int64_t* out,
                           unsigned& exponent, double& magnitude_bound) {
  if (!entropy) return DecodeDecimalForm(data, length, n, out, exponent, PackedOffsets{}, &magnitude_bound, cumulative);
  // The Huffman decoder sums the deltas as it decodes them: no array of offsets, no second pass.
  ByteReader reader(data, length);
  DecimalHeader header;
  if (!ReadHeader(reader, n, header)) return false;
  exponent = header.exponent;
  magnitude_bound = 0;
  if (n == 0) return true;
  out[0] = static_cast<int64_t>(header.first);
  uint64_t total = header.first;
  if (n >= 2 && !DecodeHuffmanDeltas(reader.current(), reader.remaining(), n - 1, header.first, header.reference,
                                     cumulative ? &total : nullptr, out + 1)) {
    return false;
  }
  magnitude_bound = MagnitudeBound(header, n, kMaxHuffmanAlphabet - 1);
  return true;
}

}  // namespace sluice
