#include "snappy_decoder.h"

#include <cstring>

namespace sluice {
namespace {

// Snappy's preamble is a 32-bit little-endian base-128 varint: at most 5 bytes.
constexpr size_t kMaxPreambleBytes = 5;
// No element yields more than 22 bytes of output per byte of input (a 3-byte copy yields at most
// 64): a preamble declaring more than that is refused before anything is allocated.
constexpr uint64_t kMaxExpansion = 22;

}  // namespace

bool SnappyUncompressedLength(const uint8_t* data, size_t length, uint64_t& uncompressed, size_t& preamble_bytes,
                              SnappyError& error) {
  uint64_t value = 0;
  for (size_t i = 0; i < kMaxPreambleBytes; ++i) {
    if (i == length) {
      error = {i, false, 0, length == 0 ? "the body is empty: a snappy block starts with its uncompressed length"
                                        : "the snappy preamble (uncompressed length varint) is cut off"};
      return false;
    }
    const uint8_t byte = data[i];
    value |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      if (value > 0xffffffffull) {
        error = {0, false, 0, "the snappy preamble declares " + std::to_string(value) +
                                  " bytes, over the format's 32-bit limit"};
        return false;
      }
      uncompressed = value;
      preamble_bytes = i + 1;
      return true;
    }
  }
  error = {0, false, 0, "the snappy preamble (uncompressed length varint) is longer than 5 bytes"};
  return false;
}

bool SnappyDecompress(const uint8_t* data, size_t length, size_t max_uncompressed, std::vector<uint8_t>& out,
                      SnappyError& error) {
  out.clear();
  uint64_t declared = 0;
  size_t in = 0;
  if (!SnappyUncompressedLength(data, length, declared, in, error)) return false;
  if (declared > max_uncompressed) {
    error = {0, true, declared, "the snappy preamble declares " + std::to_string(declared) +
                                    " uncompressed bytes, over the limit of " + std::to_string(max_uncompressed)};
    return false;
  }
  if (declared > kMaxExpansion * static_cast<uint64_t>(length - in)) {
    error = {0, false, declared, "the snappy preamble declares " + std::to_string(declared) + " bytes, more than " +
                                     std::to_string(length - in) + " bytes of snappy elements can produce"};
    return false;
  }
  out.resize(static_cast<size_t>(declared));
  uint8_t* const output = out.data();
  const size_t total = out.size();
  size_t produced = 0;
  auto fail = [&](size_t at, std::string message) {
    error = {at, false, declared, std::move(message)};
    out.clear();
    return false;
  };

  while (in < length) {
    const size_t element = in;
    const uint8_t tag = data[in++];
    const unsigned kind = tag & 3;
    if (kind == 0) {  // literal
      size_t literal = tag >> 2;
      if (literal >= 60) {
        const size_t extra = literal - 59;  // 1..4 little-endian length bytes
        if (length - in < extra) return fail(element, "a literal's length bytes are cut off");
        literal = 0;
        for (size_t k = 0; k < extra; ++k) literal |= static_cast<size_t>(data[in + k]) << (8 * k);
        in += extra;
      }
      literal += 1;  // stored as length - 1 (cannot wrap: at most 2^32)
      if (literal > length - in) {
        return fail(element, "a literal of " + std::to_string(literal) + " bytes, but " + std::to_string(length - in) +
                                 " bytes of input are left");
      }
      if (literal > total - produced) {
        return fail(element, "a literal of " + std::to_string(literal) + " bytes overruns the declared length " +
                                 std::to_string(total) + " (" + std::to_string(produced) + " written)");
      }
      std::memcpy(output + produced, data + in, literal);
      in += literal;
      produced += literal;
      continue;
    }
    size_t copy_length;
    size_t offset;
    if (kind == 1) {  // copy, 1-byte offset: 3 bits of length (4..11), 11 bits of offset
      if (length - in < 1) return fail(element, "a copy's offset byte is cut off");
      copy_length = 4 + ((tag >> 2) & 7);
      offset = (static_cast<size_t>(tag >> 5) << 8) | data[in];
      in += 1;
    } else if (kind == 2) {  // copy, 2-byte offset
      if (length - in < 2) return fail(element, "a copy's 2 offset bytes are cut off");
      copy_length = (tag >> 2) + 1;
      offset = static_cast<size_t>(data[in]) | (static_cast<size_t>(data[in + 1]) << 8);
      in += 2;
    } else {  // copy, 4-byte offset
      if (length - in < 4) return fail(element, "a copy's 4 offset bytes are cut off");
      copy_length = (tag >> 2) + 1;
      offset = static_cast<size_t>(data[in]) | (static_cast<size_t>(data[in + 1]) << 8) |
               (static_cast<size_t>(data[in + 2]) << 16) | (static_cast<size_t>(data[in + 3]) << 24);
      in += 4;
    }
    if (offset == 0) return fail(element, "a copy with offset 0");
    if (offset > produced) {
      return fail(element, "a copy reaches back " + std::to_string(offset) + " bytes, but only " +
                               std::to_string(produced) + " have been written");
    }
    if (copy_length > total - produced) {
      return fail(element, "a copy of " + std::to_string(copy_length) + " bytes overruns the declared length " +
                               std::to_string(total) + " (" + std::to_string(produced) + " written)");
    }
    uint8_t* to = output + produced;
    const uint8_t* from = to - offset;
    if (offset >= copy_length) {
      std::memcpy(to, from, copy_length);
    } else {
      for (size_t k = 0; k < copy_length; ++k) to[k] = from[k];  // overlapping: a repeating pattern
    }
    produced += copy_length;
  }
  if (produced != total) {
    return fail(length, "the snappy block ends after " + std::to_string(produced) + " bytes of the " +
                            std::to_string(total) + " its preamble declares");
  }
  return true;
}

}  // namespace sluice
