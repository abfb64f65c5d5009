// Bit and byte primitives shared by the block codecs: an LSB-first bit writer, a bounds-checked
// bit reader, LEB128 varints and zigzag. All multi-byte quantities are little-endian so a block
// written on x64 decodes on arm64 (both little-endian; the loads go through memcpy, never a cast).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace sluice {

// Maps signed to unsigned so small magnitudes of either sign get few significant bits.
// Arithmetic right shift of a negative value is defined since C++20.
inline uint64_t ZigzagEncode(uint64_t value) {
  return (value << 1) ^ static_cast<uint64_t>(static_cast<int64_t>(value) >> 63);
}
inline uint64_t ZigzagDecode(uint64_t value) { return (value >> 1) ^ (0 - (value & 1)); }

// Number of bits needed to hold `value` (0 for 0).
inline unsigned BitWidth(uint64_t value) { return value == 0 ? 0 : 64 - static_cast<unsigned>(__builtin_clzll(value)); }

// Low `width` bits set; width may be 0..64 (a plain shift by 64 would be undefined).
inline uint64_t LowBitsMask(unsigned width) { return width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1; }

inline uint64_t LoadLE64(const uint8_t* bytes) {
  uint64_t value;
  std::memcpy(&value, bytes, sizeof value);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  value = __builtin_bswap64(value);
#endif
  return value;
}

inline void AppendLE64(std::vector<uint8_t>& out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

inline void AppendVarint(std::vector<uint8_t>& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<uint8_t>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<uint8_t>(value));
}

// Sequential reader of whole bytes and varints over [data, data+length); every read is checked.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t length) : data_(data), length_(length) {}

  bool ReadByte(uint8_t& value) {
    if (position_ >= length_) return false;
    value = data_[position_++];
    return true;
  }
  bool ReadLE64(uint64_t& value) {
    if (length_ - position_ < 8) return false;
    value = LoadLE64(data_ + position_);
    position_ += 8;
    return true;
  }
  // At most 10 bytes; a tenth byte above 1 would overflow 64 bits and is rejected.
  bool ReadVarint(uint64_t& value) {
    value = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      uint8_t byte;
      if (!ReadByte(byte)) return false;
      if (shift == 63 && byte > 1) return false;
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  bool Skip(size_t count) {
    if (length_ - position_ < count) return false;
    position_ += count;
    return true;
  }
  size_t position() const { return position_; }
  size_t remaining() const { return length_ - position_; }
  const uint8_t* current() const { return data_ + position_; }

 private:
  const uint8_t* data_;
  size_t length_;
  size_t position_ = 0;
};

// Appends bits LSB-first: the first bit written is bit 0 of the first byte.
class BitWriter {
 public:
  explicit BitWriter(std::vector<uint8_t>& out) : out_(out) {}

  // Writes the low `width` bits of `value`; width 0..64, bits above `width` must be zero.
  void Write(uint64_t value, unsigned width) {
    if (width == 0) return;
    pending_ |= value << pending_bits_;
    const unsigned total = pending_bits_ + width;
    if (total < 64) {
      pending_bits_ = total;
      return;
    }
    AppendLE64(out_, pending_);
    // The bits of `value` that did not fit; shifting by 64 (pending_bits_ == 0) is avoided.
    pending_ = pending_bits_ == 0 ? 0 : value >> (64 - pending_bits_);
    pending_bits_ = total - 64;
  }

  // Flushes the partial byte (zero-padded); the writer may not be used afterwards.
  void Finish() {
    for (unsigned done = 0; done < pending_bits_; done += 8) out_.push_back(static_cast<uint8_t>(pending_ >> done));
    pending_ = 0;
    pending_bits_ = 0;
  }

 private:
  std::vector<uint8_t>& out_;
  uint64_t pending_ = 0;
  unsigned pending_bits_ = 0;
};

// Reads bits LSB-first from [data, data+length). Bits past the end read as zero so hot loops need
// no per-read bounds branch beyond the load; callers check Overran() before trusting the results.
class BitReader {
 public:
  // Bits available from one Peek(): a 64-bit load shifted by up to 7.
  static constexpr unsigned kPeekBits = 57;

  BitReader(const uint8_t* data, size_t length) : data_(data), length_(length) {}

  // The next kPeekBits bits (zero past the end) without consuming them.
  uint64_t Peek() const {
    const size_t byte = bit_position_ >> 3;
    uint64_t word;
    if (byte + 8 <= length_) {
      word = LoadLE64(data_ + byte);
    } else {
      word = 0;
      for (size_t i = byte; i < length_; ++i) word |= static_cast<uint64_t>(data_[i]) << (8 * (i - byte));
    }
    return word >> (bit_position_ & 7);
  }
  void Skip(unsigned bits) { bit_position_ += bits; }

  // Reads `width` bits, 0..64.
  uint64_t Read(unsigned width) {
    if (width <= kPeekBits) {
      const uint64_t value = Peek() & LowBitsMask(width);
      bit_position_ += width;
      return value;
    }
    const uint64_t low = Read(32);
    return low | (Read(width - 32) << 32);
  }
  bool ReadBit() { return Read(1) != 0; }

  // True when more bits were consumed than the input holds (the zeros read past the end).
  bool Overran() const { return bit_position_ > static_cast<uint64_t>(length_) * 8; }
  uint64_t bit_position() const { return bit_position_; }
  // Bytes consumed, rounding a partial byte up.
  size_t bytes_consumed() const { return static_cast<size_t>((bit_position_ + 7) >> 3); }

 private:
  const uint8_t* data_;
  size_t length_;
  uint64_t bit_position_ = 0;
};

// Pointer-style readers for the storage files (WAL records, segment index): read at p, advance p,
// false when fewer bytes than needed remain before `end`. Little-endian hosts only (x64, arm64).
template <typename T>
bool ReadScalar(const uint8_t*& p, const uint8_t* end, T& out) {
  if (static_cast<size_t>(end - p) < sizeof(T)) return false;
  std::memcpy(&out, p, sizeof(T));
  p += sizeof(T);
  return true;
}
inline bool ReadVarint(const uint8_t*& p, const uint8_t* end, uint64_t& value) {
  ByteReader reader(p, static_cast<size_t>(end - p));
  if (!reader.ReadVarint(value)) return false;
  p = reader.current();
  return true;
}

}  // namespace sluice
