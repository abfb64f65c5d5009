// Snappy block decompression (the raw block format, not the framing format), as Prometheus
// remote_write bodies use it:
//
//   [uncompressed length: varint][elements...]
//
// Each element starts with a tag byte whose low two bits say what follows: a literal (length in
// the tag or in 1-4 bytes after it, then the bytes) or a copy of earlier output (length and an
// offset of 1, 2 or 4 bytes). Everything is bounded: the declared length against a caller-given
// maximum (and against what the input could expand to) before anything is allocated, every literal against the input left and the output
// declared, every copy's offset against the output so far; the output must come out exactly the
// declared length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

struct SnappyError {
  size_t offset = 0;        // byte offset in the compressed input where decoding failed
  bool too_large = false;   // the preamble declared more than the maximum (nothing was allocated)
  uint64_t declared = 0;    // the declared uncompressed length, when it was read
  std::string message;
};

// Reads the preamble: the declared uncompressed length and how many bytes it took. False with
// `error` when the varint is cut off, longer than 5 bytes or over 32 bits.
bool SnappyUncompressedLength(const uint8_t* data, size_t length, uint64_t& uncompressed, size_t& preamble_bytes,
                              SnappyError& error);

// Decompresses `data` into `out` (resized to the declared length). False with `error` (and `out`
// cleared) on any bad byte, or with error.too_large when the declared length exceeds
// `max_uncompressed`.
bool SnappyDecompress(const uint8_t* data, size_t length, size_t max_uncompressed, std::vector<uint8_t>& out,
                      SnappyError& error);

}  // namespace sluice
