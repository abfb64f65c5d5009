// Timestamp column of a segment block: delta-of-delta, zigzag, bit-packed in groups of 128.
// Lossless for any int64 sequence (arithmetic wraps in uint64); a regular interval costs 13 bytes
// per block whatever its length. Format: docs/codecs.md "Timestamps".
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice {

// Appends the encoding of n timestamps (any values, any order) to out.
void EncodeTimestamps(const int64_t* timestamps, size_t n, std::vector<uint8_t>& out);

// Decodes exactly n timestamps; false if [data, data+length) is malformed or too short.
bool DecodeTimestamps(const uint8_t* data, size_t length, size_t n, int64_t* out);

// True when the column of n ≥ 2 timestamps is stored as an arithmetic progression (the encoder's
// mode for a constant interval): timestamp i is first + i * step, wrapping like DecodeTimestamps,
// so readers can place points in windows by arithmetic instead of decoding them.
bool TimestampStride(const uint8_t* data, size_t length, size_t n, int64_t& first, int64_t& step);

}  // namespace sluice
