// The entropy stage of the decimal-entropy codec: a canonical Huffman code over small unsigned
// symbols, one code table per block (its code lengths cost a few bits per symbol of the alphabet,
// amortised over thousands of points). Codes are at most kMaxHuffmanCodeLength bits so decoding is
// one table lookup per symbol. Format: docs/codecs.md "Huffman section".
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice {

inline constexpr unsigned kMaxHuffmanCodeLength = 12;
// Symbols are 0..alphabet-1; a wider alphabet could not get a complete code of ≤ 12-bit codes.
inline constexpr size_t kMaxHuffmanAlphabet = size_t{1} << kMaxHuffmanCodeLength;

// Symbol i goes to stream i % kHuffmanStreams: the decoder follows the streams side by side, so
// their table lookups overlap instead of each waiting for the previous code's length.
inline constexpr size_t kHuffmanStreams = 4;

// Appends the code table and the interleaved bitstreams of n symbols; false (out unchanged) if a
// symbol is ≥ kMaxHuffmanAlphabet.
bool EncodeHuffman(const uint32_t* symbols, size_t n, std::vector<uint8_t>& out);

// Decodes exactly n symbols (table and streams) from [data, data+length) into symbols[0..n); false
// if the input is malformed or too short.
bool DecodeHuffman(const uint8_t* data, size_t length, size_t n, uint32_t* symbols);
// The same, fused with delta decoding: value i is start + Σ_{k≤i} (step + symbol k), wrapping in
// uint64. out[i] is value i, or with `total`, *total + Σ_{k≤i} value k (and *total is updated):
// running totals, from which any run's sum is one subtraction.
bool DecodeHuffmanDeltas(const uint8_t* data, size_t length, size_t n, uint64_t start, uint64_t step, uint64_t* total,
                         int64_t* out);

}  // namespace sluice
