#include "huffman_coder.h"

#include <algorithm>
#include <array>
#include <queue>

#include "bit_io.h"

namespace sluice {
namespace {

// Huffman code lengths for `counts` (0 = symbol absent). Tree built with a min-heap; depths read
// back through parent links.
std::vector<uint8_t> HuffmanLengths(const std::vector<uint64_t>& counts) {
  const size_t alphabet = counts.size();
  std::vector<uint8_t> lengths(alphabet, 0);
  using Node = std::pair<uint64_t, uint32_t>;  // (weight, node id); ids ≥ alphabet are internal
  std::priority_queue<Node, std::vector<Node>, std::greater<Node>> heap;
  std::vector<uint32_t> parent(2 * alphabet, 0);
  for (uint32_t s = 0; s < alphabet; ++s) {
    if (counts[s] > 0) heap.push({counts[s], s});
  }
  if (heap.size() == 1) {
    lengths[heap.top().second] = 1;  // a lone symbol still needs one bit to be a code
    return lengths;
  }
  uint32_t next_internal = static_cast<uint32_t>(alphabet);
  while (heap.size() > 1) {
    const Node a = heap.top();
    heap.pop();
    const Node b = heap.top();
    heap.pop();
    parent[a.second] = next_internal;
    parent[b.second] = next_internal;
    heap.push({a.first + b.first, next_internal++});
  }
  const uint32_t root = heap.top().second;
  // Internal nodes are created after their children, so walking ids downward sets depths top-down.
  std::vector<uint8_t> depth(2 * alphabet, 0);
  for (uint32_t id = root; id-- > 0;) {
    if (id >= alphabet || counts[id] > 0) depth[id] = static_cast<uint8_t>(std::min<unsigned>(depth[parent[id]] + 1, 255));
  }
  for (uint32_t s = 0; s < alphabet; ++s) lengths[s] = counts[s] > 0 ? depth[s] : 0;
  return lengths;
}

// Lengths no longer than kMaxHuffmanCodeLength: flattening the counts (halving, keeping ≥ 1) until
// the tree is shallow enough costs little on the skewed tails where it matters.
std::vector<uint8_t> LimitedHuffmanLengths(std::vector<uint64_t> counts) {
  for (;;) {
    std::vector<uint8_t> lengths = HuffmanLengths(counts);
    if (*std::max_element(lengths.begin(), lengths.end()) <= kMaxHuffmanCodeLength) return lengths;
    for (uint64_t& count : counts) {
      if (count > 0) count = (count + 1) / 2;
    }
  }
}

// Bytes with their bit order reversed, so a code reverses in two lookups, not a loop per bit.
constexpr auto kReversedBytes = [] {
  std::array<uint8_t, 256> table{};
  for (unsigned byte = 0; byte < 256; ++byte) {
    for (unsigned bit = 0; bit < 8; ++bit) table[byte] |= static_cast<uint8_t>(((byte >> bit) & 1) << (7 - bit));
  }
  return table;
}();

// The low `length` bits of `code` in reverse order (length ≤ 16).
uint32_t ReverseBits(uint32_t code, unsigned length) {
  const uint32_t reversed16 = (uint32_t{kReversedBytes[code & 0xff]} << 8) | kReversedBytes[(code >> 8) & 0xff];
  return reversed16 >> (16 - length);
}

// Canonical codes (shorter first, then by symbol), bit-reversed for the LSB-first stream.
void CanonicalCodes(const uint8_t* lengths, size_t alphabet, uint32_t* codes) {
  unsigned length_count[kMaxHuffmanCodeLength + 1] = {};
  for (size_t s = 0; s < alphabet; ++s) ++length_count[lengths[s]];
  length_count[0] = 0;
  uint32_t next_code[kMaxHuffmanCodeLength + 1] = {};
  uint32_t code = 0;
  for (unsigned length = 1; length <= kMaxHuffmanCodeLength; ++length) {
    code = (code + length_count[length - 1]) << 1;
    next_code[length] = code;
  }
  for (size_t s = 0; s < alphabet; ++s) codes[s] = lengths[s] > 0 ? ReverseBits(next_code[lengths[s]]++, lengths[s]) : 0;
}

// Lookup table indexed by the next max_length bits of a stream (LSB-first): entry = symbol << 8 |
// code length. Fixed-size (16 KiB, on the stack) so a block's decode allocates nothing for it.
struct DecodeTable {
  unsigned max_length = 0;
  uint32_t entries[kMaxHuffmanAlphabet];
};

bool ReadTable(ByteReader& reader, DecodeTable& table);

}  // namespace

bool EncodeHuffman(const uint32_t* symbols, size_t n, std::vector<uint8_t>& out) {
  uint32_t max_symbol = 0;
  for (size_t i = 0; i < n; ++i) max_symbol = std::max(max_symbol, symbols[i]);
  if (max_symbol >= kMaxHuffmanAlphabet) return false;
  const size_t alphabet = size_t{max_symbol} + 1;
  std::vector<uint64_t> counts(alphabet, 0);
  for (size_t i = 0; i < n; ++i) ++counts[symbols[i]];
  if (n == 0) counts[0] = 1;  // keeps the table well-formed for an empty stream
  const std::vector<uint8_t> lengths = LimitedHuffmanLengths(counts);
  std::vector<uint32_t> codes(alphabet);
  CanonicalCodes(lengths.data(), alphabet, codes.data());

  // Code lengths as offsets from the shortest: for near-uniform data they span 2-3 values, so the
  // table costs 1-2 bits per symbol instead of 4.
  unsigned min_length = kMaxHuffmanCodeLength, max_length = 0;
  for (uint8_t length : lengths) {
    if (length == 0) continue;
    min_length = std::min<unsigned>(min_length, length);
    max_length = std::max<unsigned>(max_length, length);
  }
  const bool any_absent = std::find(lengths.begin(), lengths.end(), 0) != lengths.end();
  const unsigned field_bits = BitWidth(max_length - min_length + (any_absent ? 1 : 0));
  AppendVarint(out, alphabet);
  out.push_back(static_cast<uint8_t>(min_length | (field_bits << 4) | (any_absent ? 0x80 : 0)));
  BitWriter table_bits(out);
  for (uint8_t length : lengths) {
    // With absent symbols, field 0 means absent and field k means min_length + k - 1.
    const unsigned field = length == 0 ? 0 : length - min_length + (any_absent ? 1 : 0);
    table_bits.Write(field, field_bits);
  }
  table_bits.Finish();

  std::vector<uint8_t> streams[kHuffmanStreams];
  for (size_t k = 0; k < kHuffmanStreams; ++k) {
    BitWriter stream(streams[k]);
    for (size_t i = k; i < n; i += kHuffmanStreams) stream.Write(codes[symbols[i]], lengths[symbols[i]]);
    stream.Finish();
  }
  // The last stream runs to the end of the input, so only the others need a length.
  for (size_t k = 0; k + 1 < kHuffmanStreams; ++k) AppendVarint(out, streams[k].size());
  for (const std::vector<uint8_t>& stream : streams) out.insert(out.end(), stream.begin(), stream.end());
  return true;
}

namespace {

// Reads the code lengths at the reader's position and builds the lookup table; false if they do
// not form a complete prefix code (or the lone one-bit code) of lengths ≤ kMaxHuffmanCodeLength.
bool ReadTable(ByteReader& reader, DecodeTable& table) {
  uint64_t alphabet;
  uint8_t descriptor;
  if (!reader.ReadVarint(alphabet) || alphabet == 0 || alphabet > kMaxHuffmanAlphabet || !reader.ReadByte(descriptor)) {
    return false;
  }
  const unsigned min_length = descriptor & 0x0f;
  const unsigned field_bits = (descriptor >> 4) & 0x07;
  const bool any_absent = (descriptor & 0x80) != 0;
  if (min_length == 0 || min_length > kMaxHuffmanCodeLength) return false;
  const size_t table_bytes = (alphabet * field_bits + 7) / 8;
  if (reader.remaining() < table_bytes) return false;
  BitReader fields(reader.current(), table_bytes);
  uint8_t lengths[kMaxHuffmanAlphabet];
  unsigned max_length = 0;
  size_t present = 0;
  uint64_t kraft_sum = 0;  // in units of 2^-kMaxHuffmanCodeLength
  for (size_t s = 0; s < alphabet; ++s) {
    const unsigned field = static_cast<unsigned>(fields.Read(field_bits));
    lengths[s] = 0;
    if (any_absent && field == 0) continue;
    const unsigned length = min_length + field - (any_absent ? 1 : 0);
    if (length > kMaxHuffmanCodeLength) return false;
    lengths[s] = static_cast<uint8_t>(length);
    max_length = std::max(max_length, length);
    kraft_sum += uint64_t{1} << (kMaxHuffmanCodeLength - length);
    ++present;
  }
  reader.Skip(table_bytes);
  // Only complete codes are accepted (plus the lone one-bit code), so every table slot is filled
  // and the decoding loop needs no check for an invalid code.
  const bool lone_symbol = present == 1 && max_length == 1;
  if (present == 0 || (kraft_sum != (uint64_t{1} << kMaxHuffmanCodeLength) && !lone_symbol)) return false;

  uint32_t codes[kMaxHuffmanAlphabet];
  CanonicalCodes(lengths, alphabet, codes);
  table.max_length = max_length;
  const size_t table_size = size_t{1} << max_length;
  for (size_t s = 0; s < alphabet; ++s) {
    const unsigned length = lengths[s];
    if (length == 0) continue;
    const uint32_t entry = static_cast<uint32_t>(s << 8) | length;
    if (lone_symbol) {
      std::fill(table.entries, table.entries + table_size, entry);
    } else {
      for (size_t slot = codes[s]; slot < table_size; slot += size_t{1} << length) table.entries[slot] = entry;
    }
  }
  return true;
}

}  // namespace

namespace {

// Where decoded symbols go, in index order: as they are, or as a running sum of (step + symbol).
struct SymbolSink {
  uint32_t* symbols;
  void Put(size_t i, uint32_t symbol) { symbols[i] = symbol; }
};
struct DeltaSink {
  int64_t* out;
  uint64_t current, step;
  void Put(size_t i, uint32_t symbol) {
    current += step + symbol;
    out[i] = static_cast<int64_t>(current);
  }
};
// The same values, written as their running total.
struct CumulativeDeltaSink {
  int64_t* out;
  uint64_t current, step, total;
  void Put(size_t i, uint32_t symbol) {
    current += step + symbol;
    total += current;
    out[i] = static_cast<int64_t>(total);
  }
};

// `sink_state` is copied in and out: a local copy stays in registers, while the caller's could
// alias the output it writes through (and be reloaded after every store).
template <typename Sink>
bool DecodeStreams(const uint8_t* data, size_t length, size_t n, Sink& sink_state) {
  Sink sink = sink_state;
  ByteReader reader(data, length);
  DecodeTable table;
  if (!ReadTable(reader, table)) return false;
  uint64_t declared[kHuffmanStreams - 1];
  for (uint64_t& stream_length : declared) {
    if (!reader.ReadVarint(stream_length)) return false;
  }
  // Checked after all the lengths are read (reading them shrinks what remains), one at a time so
  // the sum cannot wrap.
  const uint8_t* base[kHuffmanStreams];
  size_t bytes[kHuffmanStreams];
  size_t assigned = 0;
  for (size_t k = 0; k + 1 < kHuffmanStreams; ++k) {
    if (declared[k] > reader.remaining() - assigned) return false;
    bytes[k] = static_cast<size_t>(declared[k]);
    assigned += bytes[k];
  }
  bytes[kHuffmanStreams - 1] = reader.remaining() - assigned;
  base[0] = reader.current();
  for (size_t k = 1; k < kHuffmanStreams; ++k) base[k] = base[k - 1] + bytes[k - 1];
  uint64_t position[kHuffmanStreams] = {};  // in bits

  const uint32_t* entries = table.entries;
  const uint64_t mask = LowBitsMask(table.max_length);
  // A round decodes 16 symbols, symbol i + 4 * j + k from stream k, in index order: four codes
  // of ≤ 12 bits from one 64-bit load per stream (4 × 12 + 7 ≤ 64), the four streams' lookups
  // independent of each other.
  static_assert(kHuffmanStreams == 4 && 4 * kMaxHuffmanCodeLength + 7 <= 64);
  constexpr size_t kRound = 4 * kHuffmanStreams;
  constexpr uint64_t kRoundBits = 4 * kMaxHuffmanCodeLength;
  size_t i = 0;
  while (n - i >= kRound) {
    // Rounds whose loads all stay inside their streams, so they need no bounds check: each
    // round moves a stream by at most kRoundBits.
    size_t rounds = (n - i) / kRound;
    for (size_t k = 0; k < kHuffmanStreams; ++k) {
      const uint64_t last_load_bit = bytes[k] >= 8 ? 8 * (uint64_t{bytes[k]} - 8) : 0;
      if (bytes[k] < 8 || position[k] > last_load_bit) {
        rounds = 0;
      } else {
        rounds = std::min<size_t>(rounds, static_cast<size_t>((last_load_bit - position[k]) / kRoundBits + 1));
      }
    }
    if (rounds == 0) break;
    uint64_t p0 = position[0], p1 = position[1], p2 = position[2], p3 = position[3];
    for (; rounds > 0; --rounds, i += kRound) {
      uint64_t w0 = LoadLE64(base[0] + (p0 >> 3)) >> (p0 & 7);
      uint64_t w1 = LoadLE64(base[1] + (p1 >> 3)) >> (p1 & 7);
      uint64_t w2 = LoadLE64(base[2] + (p2 >> 3)) >> (p2 & 7);
      uint64_t w3 = LoadLE64(base[3] + (p3 >> 3)) >> (p3 & 7);
      auto step = [&](uint64_t& window, uint64_t& pos, size_t index) {
        const uint32_t entry = entries[window & mask];
        const unsigned code_length = entry & 0xff;
        window >>= code_length;
        pos += code_length;
        sink.Put(index, entry >> 8);
      };
      for (size_t j = 0; j < 4; ++j) {
        step(w0, p0, i + 4 * j);
        step(w1, p1, i + 4 * j + 1);
        step(w2, p2, i + 4 * j + 2);
        step(w3, p3, i + 4 * j + 3);
      }
    }
    position[0] = p0;
    position[1] = p1;
    position[2] = p2;
    position[3] = p3;
  }
  // The last symbols of each stream, near its end: loads read zeros past it.
  for (; i < n; ++i) {
    const size_t k = i % kHuffmanStreams;
    const size_t byte = static_cast<size_t>(position[k] >> 3);
    uint64_t word = 0;
    if (byte + 8 <= bytes[k]) {
      word = LoadLE64(base[k] + byte);
    } else {
      for (size_t b = byte; b < bytes[k]; ++b) word |= static_cast<uint64_t>(base[k][b]) << (8 * (b - byte));
    }
    const uint32_t entry = entries[(word >> (position[k] & 7)) & mask];
    position[k] += entry & 0xff;
    sink.Put(i, entry >> 8);
  }
  sink_state = sink;
  for (size_t k = 0; k < kHuffmanStreams; ++k) {
    if (position[k] > 8 * uint64_t{bytes[k]}) return false;  // read past the stream: malformed
  }
  return true;
}

}  // namespace

bool DecodeHuffman(const uint8_t* data, size_t length, size_t n, uint32_t* symbols) {
  SymbolSink sink{symbols};
  return DecodeStreams(data, length, n, sink);
}

bool DecodeHuffmanDeltas(const uint8_t* data, size_t length, size_t n, uint64_t start, uint64_t step, uint64_t* total,
                         int64_t* out) {
  if (total) {
    CumulativeDeltaSink sink{out, start, step, *total};
    const bool ok = DecodeStreams(data, length, n, sink);
    *total = sink.total;
    return ok;
  }
  DeltaSink sink{out, start, step};
  return DecodeStreams(data, length, n, sink);
}

}  // namespace sluice
