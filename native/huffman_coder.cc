#include "huffman_coder.h"

#include <algorithm>
#include <array>
#include <cstring>
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

// Lookup table indexed by the next max_length bits of a stream (LSB-first): the code length in
// one array and, in another, the symbol plus a constant `addend` chosen by the caller (the
// delta decoders' step, so that adding the entry is the whole of a delta's update). Two loads of
// the same slot cost less than unpacking one packed entry. Fixed-size (36 KiB, on the stack) so a
// block's decode allocates nothing for it; only the first 2^max_length slots are written.
struct DecodeTable {
  unsigned max_length = 0;
  uint8_t lengths[kMaxHuffmanAlphabet];
  uint64_t values[kMaxHuffmanAlphabet];
};

bool ReadTable(ByteReader& reader, uint64_t addend, DecodeTable& table);

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
bool ReadTable(ByteReader& reader, uint64_t addend, DecodeTable& table) {
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
  // The fields, copied with 8 zero bytes after them so each is one unchecked load (a checked
  // read took the byte-by-byte path for the last 8 bytes, which for a short table is most of it).
  uint8_t padded[(kMaxHuffmanAlphabet * 7 + 7) / 8 + 8];
  std::memcpy(padded, reader.current(), table_bytes);
  std::memset(padded + table_bytes, 0, 8);
  const uint64_t field_mask = LowBitsMask(field_bits);
  uint8_t lengths[kMaxHuffmanAlphabet];
  unsigned max_length = 0;
  size_t present = 0;
  uint64_t kraft_sum = 0;  // in units of 2^-kMaxHuffmanCodeLength
  for (size_t s = 0, bit = 0; s < alphabet; ++s, bit += field_bits) {
    const unsigned field = static_cast<unsigned>((LoadLE64(padded + (bit >> 3)) >> (bit & 7)) & field_mask);
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
    const uint64_t value = addend + s;
    // The lone one-bit code fills the whole (two-slot) table: either bit decodes it.
    const size_t first = lone_symbol ? 0 : codes[s];
    const size_t stride = lone_symbol ? 1 : size_t{1} << length;
    for (size_t slot = first; slot < table_size; slot += stride) {
      table.lengths[slot] = static_cast<uint8_t>(length);
      table.values[slot] = value;
    }
  }
  return true;
}

}  // namespace

namespace {

// Where decoded symbols go, in index order. `value` is the table's entry: the symbol plus the
// addend the sink asked the table for (its Addend()).
struct SymbolSink {
  uint32_t* symbols;
  uint64_t Addend() const { return 0; }
  void Put(size_t i, uint64_t value) { symbols[i] = static_cast<uint32_t>(value); }
};
// A running sum of (step + symbol): the table holds step + symbol, so a delta is one add.
struct DeltaSink {
  int64_t* out;
  uint64_t current, step;
  uint64_t Addend() const { return step; }
  void Put(size_t i, uint64_t value) {
    current += value;
    out[i] = static_cast<int64_t>(current);
  }
};
// The same values, written as their running total.
struct CumulativeDeltaSink {
  int64_t* out;
  uint64_t current, step, total;
  uint64_t Addend() const { return step; }
  void Put(size_t i, uint64_t value) {
    current += value;
    total += current;
    out[i] = static_cast<int64_t>(total);
  }
};

// Four streams, each at a bit position from its base.
struct Streams {
  const uint8_t* base[kHuffmanStreams];
  size_t bytes[kHuffmanStreams];
  uint64_t position[kHuffmanStreams];  // in bits
};

// A round decodes 4·K symbols, symbol i + 4 * j + k from stream k, in index order: K codes from
// one 64-bit load per stream, the four streams' lookups independent of each other. K = 4 fits
// any code (4 × 12 + 7 ≤ 56 bits); with codes of ≤ 7 bits (the data set's: 6 and 7) K = 8 fits,
// halving the loads, each of which waits on the previous round's last code.
static_assert(kHuffmanStreams == 4 && 4 * kMaxHuffmanCodeLength <= 56);
constexpr unsigned kRoundLoadBits = 56;  // a load shifted by ≤ 7 bits keeps 57 valid bits

// `rounds` rounds from symbol i, none of whose loads may leave its stream (the caller checked).
// A round's window keeps a marker bit at bit 63: after the round's codes are shifted out it sits
// at 63 − (bits consumed), so one count of leading zeros gives the stream's advance instead of
// an add per symbol (the codes use at most 56 bits, and lookups only the low 12, so the marker
// never reaches them). Always inlined into the two entry points below, so one of them can be
// compiled with BMI2 (a variable shift in one instruction instead of three).
template <size_t K, typename Sink>
[[gnu::always_inline]] inline void Rounds(Streams& streams, const DecodeTable& table, size_t i, size_t rounds,
                                          Sink& sink_state) {
  Sink sink = sink_state;
  const uint8_t* lengths = table.lengths;
  const uint64_t* values = table.values;
  const uint64_t mask = LowBitsMask(table.max_length);
  constexpr uint64_t kMarker = uint64_t{1} << 63;
  const uint8_t *b0 = streams.base[0], *b1 = streams.base[1], *b2 = streams.base[2], *b3 = streams.base[3];
  uint64_t p0 = streams.position[0], p1 = streams.position[1], p2 = streams.position[2], p3 = streams.position[3];
  for (; rounds > 0; --rounds, i += 4 * K) {
    uint64_t w0 = (LoadLE64(b0 + (p0 >> 3)) >> (p0 & 7)) | kMarker;
    uint64_t w1 = (LoadLE64(b1 + (p1 >> 3)) >> (p1 & 7)) | kMarker;
    uint64_t w2 = (LoadLE64(b2 + (p2 >> 3)) >> (p2 & 7)) | kMarker;
    uint64_t w3 = (LoadLE64(b3 + (p3 >> 3)) >> (p3 & 7)) | kMarker;
    auto step = [&](uint64_t& window, size_t index) {
      const uint64_t slot = window & mask;
      window >>= lengths[slot];
      sink.Put(index, values[slot]);
    };
    for (size_t j = 0; j < K; ++j) {
      step(w0, i + 4 * j);
      step(w1, i + 4 * j + 1);
      step(w2, i + 4 * j + 2);
      step(w3, i + 4 * j + 3);
    }
    p0 += static_cast<unsigned>(__builtin_clzll(w0));
    p1 += static_cast<unsigned>(__builtin_clzll(w1));
    p2 += static_cast<unsigned>(__builtin_clzll(w2));
    p3 += static_cast<unsigned>(__builtin_clzll(w3));
  }
  streams.position[0] = p0;
  streams.position[1] = p1;
  streams.position[2] = p2;
  streams.position[3] = p3;
  sink_state = sink;
}

template <size_t K, typename Sink>
void RoundsPortable(Streams& streams, const DecodeTable& table, size_t i, size_t rounds, Sink& sink) {
  Rounds<K>(streams, table, i, rounds, sink);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
template <size_t K, typename Sink>
__attribute__((target("bmi,bmi2,lzcnt"))) void RoundsBmi2(Streams& streams, const DecodeTable& table, size_t i,
                                                           size_t rounds, Sink& sink) {
  Rounds<K>(streams, table, i, rounds, sink);
}
// Set while the addon loads; __builtin_cpu_init() first, as GCC asks of checks made from a
// static initializer (which may run before the runtime's own CPU detection).
const bool kHasBmi2 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("lzcnt");
}();
#endif

// Runs as many K-code rounds from symbol i as stay inside every stream (each round moves a
// stream by at most K · max_length bits, and its load must not pass the stream's last 8 bytes);
// returns the symbol after them.
template <size_t K, typename Sink>
size_t RunRounds(Streams& streams, const DecodeTable& table, size_t i, size_t n, Sink& sink) {
  const uint64_t round_bits = uint64_t{K} * table.max_length;
  size_t rounds = (n - i) / (4 * K);
  for (size_t k = 0; k < kHuffmanStreams; ++k) {
    const size_t bytes = streams.bytes[k];
    const uint64_t position = streams.position[k];
    const uint64_t last_load_bit = bytes >= 8 ? 8 * (uint64_t{bytes} - 8) : 0;
    if (bytes < 8 || position > last_load_bit) return i;
    rounds = std::min<size_t>(rounds, static_cast<size_t>((last_load_bit - position) / round_bits + 1));
  }
  if (rounds == 0) return i;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (kHasBmi2) {
    RoundsBmi2<K>(streams, table, i, rounds, sink);
    return i + rounds * 4 * K;
  }
#endif
  RoundsPortable<K>(streams, table, i, rounds, sink);
  return i + rounds * 4 * K;
}

// `sink_state` is copied in and out: a local copy stays in registers, while the caller's could
// alias the output it writes through (and be reloaded after every store).
template <typename Sink>
bool DecodeStreams(const uint8_t* data, size_t length, size_t n, Sink& sink_state) {
  Sink sink = sink_state;
  ByteReader reader(data, length);
  DecodeTable table;
  if (!ReadTable(reader, sink.Addend(), table)) return false;
  uint64_t declared[kHuffmanStreams - 1];
  for (uint64_t& stream_length : declared) {
    if (!reader.ReadVarint(stream_length)) return false;
  }
  // Checked after all the lengths are read (reading them shrinks what remains), one at a time so
  // the sum cannot wrap.
  Streams streams;
  size_t* bytes = streams.bytes;
  size_t assigned = 0;
  for (size_t k = 0; k + 1 < kHuffmanStreams; ++k) {
    if (declared[k] > reader.remaining() - assigned) return false;
    bytes[k] = static_cast<size_t>(declared[k]);
    assigned += bytes[k];
  }
  bytes[kHuffmanStreams - 1] = reader.remaining() - assigned;
  streams.base[0] = reader.current();
  for (size_t k = 1; k < kHuffmanStreams; ++k) streams.base[k] = streams.base[k - 1] + bytes[k - 1];
  uint64_t* position = streams.position;
  for (size_t k = 0; k < kHuffmanStreams; ++k) position[k] = 0;

  // Rounds of 8 codes per load while they fit, then of 4 (a round's bound is K · max_length bits,
  // so the wider rounds stop further from the streams' ends); the rest one at a time, checked.
  size_t i = 0;
  if (table.max_length * 8 <= kRoundLoadBits) i = RunRounds<8>(streams, table, i, n, sink);
  i = RunRounds<4>(streams, table, i, n, sink);
  // The last symbols of each stream, near its end: loads read zeros past it.
  const uint64_t mask = LowBitsMask(table.max_length);
  for (; i < n; ++i) {
    const size_t k = i % kHuffmanStreams;
    const size_t byte = static_cast<size_t>(position[k] >> 3);
    uint64_t word = 0;
    if (byte + 8 <= bytes[k]) {
      word = LoadLE64(streams.base[k] + byte);
    } else {
      for (size_t b = byte; b < bytes[k]; ++b) word |= static_cast<uint64_t>(streams.base[k][b]) << (8 * (b - byte));
    }
    const size_t slot = static_cast<size_t>((word >> (position[k] & 7)) & mask);
    position[k] += table.lengths[slot];
    sink.Put(i, table.values[slot]);
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
