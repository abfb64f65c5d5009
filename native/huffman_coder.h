// The entropy stage of the decimal-entropy codec: a canonical Huffman code over small unsigned
// symbols, one code table per block (its code lengths cost a few bits per symbol of the alphabet,
// amortised over thousands of points). Codes are at most kMaxHuffmanCodeLength bits so decoding is
// one table lookup per symbol. Format: docs/codecs.md "Huffman section".
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "bit_io.h"

namespace sluice {

inline constexpr unsigned kMaxHuffmanCodeLength = 12;
// Symbols are 0..alphabet-1; a wider alphabet could not get a complete code of ≤ 12-bit codes.
inline constexpr size_t kMaxHuffmanAlphabet = size_t{1} << kMaxHuffmanCodeLength;

// Appends the code table and the bitstream of n symbols; false (out unchanged) if a symbol is
// ≥ kMaxHuffmanAlphabet.
bool EncodeHuffman(const uint32_t* symbols, size_t n, std::vector<uint8_t>& out);

// Lookup table indexed by the next max_length bits of the stream (LSB-first): entry = symbol << 8 | code length.
struct HuffmanDecodeTable {
  unsigned max_length = 0;
  std::vector<uint32_t> entries;
};

// Reads the code table at the reader's position into `table`; false if malformed (not a complete
// prefix code, lengths out of range, too short).
bool ReadHuffmanTable(ByteReader& reader, HuffmanDecodeTable& table);

// Decodes exactly n symbols from the bitstream [data, data+length), calling sink(symbol) for each
// in order; false if the stream is too short. Inline so the sink fuses into the decoding loop.
template <typename Sink>
bool DecodeHuffmanSymbols(const HuffmanDecodeTable& table, const uint8_t* data, size_t length, size_t n, Sink&& sink) {
  const uint32_t* entries = table.entries.data();
  const uint64_t mask = LowBitsMask(table.max_length);
  BitReader bits(data, length);
  // One 57-bit peek holds four codes of ≤ 12 bits (4 × 12 = 48 ≤ 57).
  static_assert(4 * kMaxHuffmanCodeLength <= BitReader::kPeekBits);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    uint64_t window = bits.Peek();
    unsigned consumed = 0;
    for (int k = 0; k < 4; ++k) {
      const uint32_t entry = entries[window & mask];
      const unsigned code_length = entry & 0xff;
      window >>= code_length;
      consumed += code_length;
      sink(entry >> 8);
    }
    bits.Skip(consumed);
  }
  for (; i < n; ++i) {
    const uint32_t entry = entries[bits.Peek() & mask];
    bits.Skip(entry & 0xff);
    sink(entry >> 8);
  }
  return !bits.Overran();
}

}  // namespace sluice
