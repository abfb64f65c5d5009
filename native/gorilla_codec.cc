#include "gorilla_codec.h"

#include <bit>

#include "bit_io.h"

namespace sluice {
namespace {

// Control codes, read LSB-first: 0 = same bits as before; 1,0 = XOR fits the previous window;
// 1,1 = new window (5 bits leading zeros, 6 bits length - 1, then the meaningful bits).
constexpr uint64_t kReuseWindow = 0b01;
constexpr uint64_t kNewWindow = 0b11;
// Leading-zero counts above 31 do not fit 5 bits; they are stored as 31 (a wider window).
constexpr unsigned kMaxStoredLeading = 31;

}  // namespace

void EncodeGorilla(const double* values, size_t n, std::vector<uint8_t>& out) {
  if (n == 0) return;
  BitWriter bits(out);
  uint64_t previous = std::bit_cast<uint64_t>(values[0]);
  bits.Write(previous, 64);
  bool have_window = false;
  unsigned window_leading = 0, window_trailing = 0;
  for (size_t i = 1; i < n; ++i) {
    const uint64_t current = std::bit_cast<uint64_t>(values[i]);
    const uint64_t x = current ^ previous;
    previous = current;
    if (x == 0) {
      bits.Write(0, 1);
      continue;
    }
    unsigned leading = static_cast<unsigned>(std::countl_zero(x));
    const unsigned trailing = static_cast<unsigned>(std::countr_zero(x));
    if (have_window && leading >= window_leading && trailing >= window_trailing) {
      bits.Write(kReuseWindow, 2);
      bits.Write(x >> window_trailing, 64 - window_leading - window_trailing);
      continue;
    }
    if (leading > kMaxStoredLeading) leading = kMaxStoredLeading;
    const unsigned meaningful = 64 - leading - trailing;
    bits.Write(kNewWindow | (uint64_t{leading} << 2) | (uint64_t{meaningful - 1} << 7), 13);
    bits.Write(x >> trailing, meaningful);
    have_window = true;
    window_leading = leading;
    window_trailing = trailing;
  }
  bits.Finish();
}

bool DecodeGorilla(const uint8_t* data, size_t length, size_t n, double* out) {
  if (n == 0) return true;
  BitReader bits(data, length);
  uint64_t previous = bits.Read(64);
  out[0] = std::bit_cast<double>(previous);
  bool have_window = false;
  unsigned window_trailing = 0, window_width = 0;
  for (size_t i = 1; i < n; ++i) {
    const uint64_t control = bits.Peek();
    if ((control & 1) == 0) {
      bits.Skip(1);
    } else if ((control & 2) == 0) {
      if (!have_window) return false;
      bits.Skip(2);
      previous ^= bits.Read(window_width) << window_trailing;
    } else {
      const unsigned leading = static_cast<unsigned>((control >> 2) & 31);
      const unsigned meaningful = static_cast<unsigned>((control >> 7) & 63) + 1;
      if (leading + meaningful > 64) return false;
      bits.Skip(13);
      window_trailing = 64 - leading - meaningful;
      window_width = meaningful;
      have_window = true;
      previous ^= bits.Read(window_width) << window_trailing;
    }
    out[i] = std::bit_cast<double>(previous);
  }
  return !bits.Overran();
}

}  // namespace sluice
