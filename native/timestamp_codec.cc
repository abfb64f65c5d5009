#include "timestamp_codec.h"

#include "bit_io.h"

namespace sluice {
namespace {

enum TimestampMode : uint8_t {
  kArithmeticProgression = 0,  // first + i * delta: every delta-of-delta is zero
  kDeltaOfDeltaPacked = 1,     // delta-of-deltas, zigzag, bit-packed per group
};

// A width byte per group keeps one outlier (a gap, a clock step) from widening the whole block.
constexpr size_t kGroupSize = 128;

uint64_t At(const int64_t* timestamps, size_t i) { return static_cast<uint64_t>(timestamps[i]); }

}  // namespace

void EncodeTimestamps(const int64_t* timestamps, size_t n, std::vector<uint8_t>& out) {
  if (n == 0) return;
  const uint64_t first_delta = n >= 2 ? At(timestamps, 1) - At(timestamps, 0) : 0;
  bool regular = true;
  for (size_t i = 2; i < n && regular; ++i) regular = At(timestamps, i) - At(timestamps, i - 1) == first_delta;

  out.push_back(regular ? kArithmeticProgression : kDeltaOfDeltaPacked);
  AppendLE64(out, At(timestamps, 0));
  if (n >= 2) AppendVarint(out, ZigzagEncode(first_delta));
  if (regular) return;

  uint64_t zigzagged[kGroupSize];
  uint64_t previous_delta = first_delta;
  for (size_t group_start = 2; group_start < n; group_start += kGroupSize) {
    const size_t count = n - group_start < kGroupSize ? n - group_start : kGroupSize;
    uint64_t all_bits = 0;
    for (size_t j = 0; j < count; ++j) {
      const size_t i = group_start + j;
      const uint64_t delta = At(timestamps, i) - At(timestamps, i - 1);
      zigzagged[j] = ZigzagEncode(delta - previous_delta);
      previous_delta = delta;
      all_bits |= zigzagged[j];
    }
    const unsigned width = BitWidth(all_bits);
    out.push_back(static_cast<uint8_t>(width));
    BitWriter bits(out);
    for (size_t j = 0; j < count; ++j) bits.Write(zigzagged[j], width);
    bits.Finish();
  }
}

bool DecodeTimestamps(const uint8_t* data, size_t length, size_t n, int64_t* out) {
  if (n == 0) return true;
  ByteReader reader(data, length);
  uint8_t mode;
  uint64_t current;
  if (!reader.ReadByte(mode) || mode > kDeltaOfDeltaPacked || !reader.ReadLE64(current)) return false;
  out[0] = static_cast<int64_t>(current);
  if (n == 1) return mode == kArithmeticProgression;  // the encoder never packs a single point
  uint64_t delta;
  if (!reader.ReadVarint(delta)) return false;
  delta = ZigzagDecode(delta);
  current += delta;
  out[1] = static_cast<int64_t>(current);

  if (mode == kArithmeticProgression) {
    for (size_t i = 2; i < n; ++i) {
      current += delta;
      out[i] = static_cast<int64_t>(current);
    }
    return true;
  }

  for (size_t group_start = 2; group_start < n; group_start += kGroupSize) {
    const size_t count = n - group_start < kGroupSize ? n - group_start : kGroupSize;
    uint8_t width;
    if (!reader.ReadByte(width) || width > 64) return false;
    const size_t packed_bytes = (count * width + 7) / 8;
    if (reader.remaining() < packed_bytes) return false;
    BitReader bits(reader.current(), packed_bytes);
    int64_t* group_out = out + group_start;
    if (width == 0) {
      for (size_t j = 0; j < count; ++j) {
        current += delta;
        group_out[j] = static_cast<int64_t>(current);
      }
    } else {
      for (size_t j = 0; j < count; ++j) {
        delta += ZigzagDecode(bits.Read(width));
        current += delta;
        group_out[j] = static_cast<int64_t>(current);
      }
    }
    // The group's reader was bounded by its byte count, checked above, so its reads stayed inside.
    reader.Skip(packed_bytes);
  }
  return true;
}

bool TimestampStride(const uint8_t* data, size_t length, size_t n, int64_t& first, int64_t& step) {
  if (n < 2) return false;
  ByteReader reader(data, length);
  uint8_t mode;
  uint64_t start, delta;
  if (!reader.ReadByte(mode) || mode != kArithmeticProgression || !reader.ReadLE64(start) || !reader.ReadVarint(delta)) {
    return false;
  }
  first = static_cast<int64_t>(start);
  step = static_cast<int64_t>(ZigzagDecode(delta));
  return true;
}

}  // namespace sluice
