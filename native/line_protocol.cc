#include "line_protocol.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string_view>
#include <system_error>
#include <utility>

#include "series_key.h"
#include "utf8.h"

namespace sluice {

namespace {

constexpr std::string_view kValueFieldKey = "value";
// Bytes a backslash escapes; before any other byte a backslash is literal (as InfluxDB).
constexpr std::string_view kMeasurementEscapes = ", ";
constexpr std::string_view kKeyEscapes = ",= ";
constexpr size_t kQuotedTextBytes = 64;  // how much of a key or token an error message repeats

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Bytes that end an element; a table lookup per byte keeps the scanners branch-light.
struct ByteSet {
  bool member[256] = {};
  constexpr explicit ByteSet(std::string_view bytes) {
    for (char c : bytes) member[static_cast<unsigned char>(c)] = true;
  }
  bool Has(char c) const { return member[static_cast<unsigned char>(c)]; }
};
// Each set holds the bytes that end the element, plus the newline and the backslash (handled by
// the scanner).
constexpr ByteSet kMeasurementEnd(",\n\\");
constexpr ByteSet kTagEnd("=,\n\\");  // tag keys and values; '=' in a value must be escaped
constexpr ByteSet kFieldKeyEnd("=, \n\\");
constexpr ByteSet kValueEnd(", \t\r\n");
constexpr ByteSet kTimestampEnd(" \t\r\n");

constexpr uint64_t kOnes = 0x0101010101010101;

// Eight bytes from p as one word with p[0] in the low byte, on either byte order.
uint64_t LoadWord(const char* p) {
  uint64_t word;
  std::memcpy(&word, p, sizeof word);
  if constexpr (std::endian::native == std::endian::big) word = __builtin_bswap64(word);
  return word;
}

// True when the 8 bytes at p are all ASCII digits; `value` is then their decimal value. Eight
// digits at a time with shifts and multiplies on one 64-bit word (timestamps have 10 to 19).
bool EightDigits(const char* p, uint64_t& value) {
  uint64_t chunk = LoadWord(p);
  // A byte below '0' sets its top bit in the subtraction, one above '9' in the addition; bytes
  // below the first bad one are digits, so no borrow or carry reaches it first.
  if ((((chunk - '0' * kOnes) | (chunk + 0x46 * kOnes)) & (0x80 * kOnes)) != 0) return false;
  chunk -= '0' * kOnes;  // byte i (little-endian) holds digit i, most significant first
  chunk = ((chunk * 10) + (chunk >> 8)) & 0x00FF00FF00FF00FF;    // 4 lanes of two digits
  chunk = ((chunk * 100) + (chunk >> 16)) & 0x0000FFFF0000FFFF;  // 2 lanes of four digits
  value = ((chunk * 10000) + (chunk >> 32)) & 0xFFFFFFFF;        // eight digits
  return true;
}

enum class IntegerStatus { kOk, kNoDigits, kOutOfRange };

// Parses an optional '-' (when `Integer` is signed) and the decimal digits that follow, up to
// `end`, without overflow: the magnitude is built in uint64_t and checked against the bound before
// each step. `stop` is the first byte that is not a digit; the caller checks what it is.
// Hand-written because from_chars for integers was a fifth of the parse time (19-digit
// nanosecond timestamps on every line).
template <typename Integer>
IntegerStatus ParseDecimal(const char* begin, const char* end, Integer& out, const char*& stop) {
  const char* p = begin;
  const bool negative = std::numeric_limits<Integer>::is_signed && p < end && *p == '-';
  if (negative) ++p;
  const uint64_t limit = negative ? uint64_t{1} << 63 : static_cast<uint64_t>(std::numeric_limits<Integer>::max());
  const char* digits = p;
  uint64_t magnitude = 0;
  bool overflow = false;  // sticky; the magnitude may wrap (unsigned, defined) once it is set
  uint64_t eight;
  while (end - p >= 8 && EightDigits(p, eight)) {
    if (magnitude > (limit - eight) / 100000000) overflow = true;
    magnitude = magnitude * 100000000 + eight;
    p += 8;
  }
  const uint64_t cutoff = limit / 10;
  const uint64_t last_digit = limit % 10;
  for (; p < end && IsDigit(*p); ++p) {
    const uint64_t digit = static_cast<uint64_t>(*p - '0');
    if (magnitude > cutoff || (magnitude == cutoff && digit > last_digit)) overflow = true;
    magnitude = magnitude * 10 + digit;
  }
  stop = p;
  if (p == digits) return IntegerStatus::kNoDigits;
  if (overflow) return IntegerStatus::kOutOfRange;
  // Negating in unsigned arithmetic and converting back is exact for every value down to INT64_MIN.
  out = negative ? static_cast<Integer>(0 - magnitude) : static_cast<Integer>(magnitude);
  return IntegerStatus::kOk;
}

// The top bit of each byte of `word` equal to `byte`. The lowest set bit is exact: a false
// positive can only appear above a true match, through the borrow.
uint64_t MatchBytes(uint64_t word, char byte) {
  const uint64_t diff = word ^ (kOnes * static_cast<unsigned char>(byte));
  return (diff - kOnes) & ~diff & (0x80 * kOnes);
}

// First ' ', '\n' or '\\' at or after p, eight bytes per step; `end` when there is none. The
// series part of every line is scanned with it, so it is the hottest loop of the parser.
const char* FindSeriesStop(const char* p, const char* end) {
  for (; end - p >= 8; p += 8) {
    const uint64_t word = LoadWord(p);
    const uint64_t found = MatchBytes(word, ' ') | MatchBytes(word, '\n') | MatchBytes(word, '\\');
    if (found != 0) return p + std::countr_zero(found) / 8;
  }
  while (p < end && *p != ' ' && *p != '\n' && *p != '\\') ++p;
  return p;
}

// A fast hash for the series table: eight bytes per multiply. Seeded per process (address layout
// and clock) so input cannot be crafted offline to collide; not a cryptographic defence.
uint64_t HashBytes(std::string_view text) {
  constexpr uint64_t kMultiplier = 0x9E3779B97F4A7C15;  // 2^64 / golden ratio: spreads the bits
  static const uint64_t seed =
      (reinterpret_cast<uintptr_t>(&kMultiplier) ^
       static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())) *
      kMultiplier;
  uint64_t hash = seed ^ text.size();
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    hash = (hash ^ LoadWord(text.data() + i)) * kMultiplier;
    hash ^= hash >> 32;
  }
  if (i < text.size()) {
    uint64_t tail = 0;
    std::memcpy(&tail, text.data() + i, text.size() - i);
    hash = (hash ^ tail) * kMultiplier;
    hash ^= hash >> 32;
  }
  hash *= kMultiplier;
  return hash ^ (hash >> 29);  // the table indexes with the low bits: fold the high ones in
}

// Appends `raw` to `out` with the escapes in `escapable` removed. Pairs are read the way the
// scanner reads them: a backslash always takes the next byte with it.
void Unescape(std::string_view raw, std::string_view escapable, std::string& out) {
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\' && i + 1 < raw.size()) {
      if (escapable.find(raw[i + 1]) == std::string_view::npos) out.push_back('\\');
      out.push_back(raw[++i]);
    } else {
      out.push_back(raw[i]);
    }
  }
}

// A key or token for an error message: control bytes shown as \xNN, long text shortened.
std::string Quoted(std::string_view text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kQuotedTextBytes; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (text.size() > kQuotedTextBytes) out += "...";
  out.push_back('"');
  return out;
}

bool IsBoolean(std::string_view token, bool& value) {
  static constexpr std::string_view kTrue[] = {"t", "T", "true", "True", "TRUE"};
  static constexpr std::string_view kFalse[] = {"f", "F", "false", "False", "FALSE"};
  for (std::string_view word : kTrue) {
    if (token == word) return value = true;
  }
  for (std::string_view word : kFalse) {
    if (token == word) {
      value = false;
      return true;
    }
  }
  return false;
}

// Spellings of NaN and infinity, any case, optionally negative: rejected with their own message.
bool IsNanOrInfinity(std::string_view token) {
  if (!token.empty() && token.front() == '-') token.remove_prefix(1);
  std::string lower(token);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  return lower == "nan" || lower == "inf" || lower == "infinity";
}

// For a decimal from_chars found out of range: true when it is tiny (it underflows), false when
// it is huge. Only the sign of its decimal exponent matters at these extremes. The grammar was
// checked already: -?digits[.digits][(e|E)[+-]digits].
bool UnderflowsToZero(std::string_view token) {
  size_t i = token.front() == '-' ? 1 : 0;
  int64_t exponent10 = 0;  // of the first nonzero digit
  bool found = false, fraction = false;
  for (int64_t fraction_position = 0; i < token.size() && token[i] != 'e' && token[i] != 'E'; ++i) {
    if (token[i] == '.') {
      fraction = true;
      continue;
    }
    if (fraction) ++fraction_position;
    if (!found && token[i] != '0') {
      found = true;
      exponent10 = fraction ? -fraction_position : 0;
    } else if (found && !fraction) {
      ++exponent10;
    }
  }
  int64_t exponent = 0;
  bool negative = false;
  if (i < token.size()) {
    ++i;  // 'e' or 'E'
    if (token[i] == '+' || token[i] == '-') negative = token[i++] == '-';
    // Saturates: any exponent past a million is as out of range as that one.
    for (; i < token.size(); ++i) exponent = std::min<int64_t>(exponent * 10 + (token[i] - '0'), 1000000);
  }
  return exponent10 + (negative ? -exponent : exponent) < 0;
}

// Converts a timestamp in `precision` to microseconds; false when it leaves int64.
bool ToMicroseconds(int64_t timestamp, Precision precision, int64_t& out) {
  int64_t factor = 1;
  switch (precision) {
    case Precision::kNanoseconds:
      // Floor, not truncation, so -1 ns lands in the microsecond before the epoch.
      out = timestamp / 1000 - (timestamp % 1000 < 0 ? 1 : 0);
      return true;
    case Precision::kMicroseconds:
      out = timestamp;
      return true;
    case Precision::kMilliseconds:
      factor = 1000;
      break;
    case Precision::kSeconds:
      factor = 1000000;
      break;
  }
  if (timestamp > std::numeric_limits<int64_t>::max() / factor ||
      timestamp < std::numeric_limits<int64_t>::min() / factor) {
    return false;
  }
  out = timestamp * factor;
  return true;
}

const char* PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kNanoseconds:
      return "ns";
    case Precision::kMicroseconds:
      return "us";
    case Precision::kMilliseconds:
      return "ms";
    case Precision::kSeconds:
      return "s";
  }
  return "?";
}

// One measurement + tag set as spelled in the input, parsed once.
struct SeriesSlot {
  std::string raw;          // as written in the input: the table's key
  std::string measurement;  // unescaped
  std::vector<std::pair<std::string, std::string>> tags;  // unescaped, sorted by key
  // The field (index into Parser::fields_) seen at each position of the line last time: lines of
  // one series usually list their fields in the same order, so this hits without hashing.
  std::vector<uint32_t> field_at_position;
};

// A field key as written, of one slot, and the series it names.
struct KnownField {
  uint32_t slot;
  uint32_t key_index;  // into SeriesCache::keys
  std::string raw_key;
};

// Hash -> index into a vector the caller owns (slots, fields, series keys); the caller's
// `matches(index)` settles collisions. Open addressing with linear probing over a flat array: a
// lookup is usually one probe and one compare, and an insert allocates nothing but the rare
// growth, where std::unordered_map chased node pointers and allocated a node and a key copy.
class IndexTable {
 public:
  static constexpr uint32_t kAbsent = std::numeric_limits<uint32_t>::max();

  template <typename Matches>
  uint32_t Find(uint64_t hash, Matches matches) const {
    if (entries_.empty()) return kAbsent;
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Entry& entry = entries_[i];
      if (entry.index == kAbsent) return kAbsent;
      if (entry.hash == hash && matches(entry.index)) return entry.index;
    }
  }

  void Insert(uint64_t hash, uint32_t index) {
    if ((count_ + 1) * 2 > entries_.size()) Grow();  // at most half full keeps probe runs short
    Place(hash, index);
    ++count_;
  }

 private:
  struct Entry {
    uint64_t hash = 0;
    uint32_t index = kAbsent;
  };

  void Place(uint64_t hash, uint32_t index) {
    size_t i = hash & mask_;
    while (entries_[i].index != kAbsent) i = (i + 1) & mask_;
    entries_[i] = Entry{hash, index};
  }

  void Grow() {
    std::vector<Entry> old = std::move(entries_);
    entries_.assign(std::max<size_t>(64, old.size() * 2), Entry{});
    mask_ = entries_.size() - 1;
    for (const Entry& entry : old) {
      if (entry.index != kAbsent) Place(entry.hash, entry.index);
    }
  }

  std::vector<Entry> entries_;
  size_t mask_ = 0;
  size_t count_ = 0;
};

// What the parser learns about series, kept per thread across calls: a producer sends the same
// series body after body, and parsing a series part, unescaping it and building its canonical keys
// cost more than parsing its lines when a body holds a few points per series. Bounded: emptied when it grows past
// kMaxCachedSeries slots or keys.
struct SeriesCache {
  static constexpr size_t kMaxCachedSeries = size_t{1} << 16;

  std::vector<SeriesSlot> slots;
  std::vector<KnownField> fields;
  std::vector<std::string> keys;          // canonical keys, unique
  std::vector<uint64_t> key_generation;   // per key: the call that last put it in the batch
  std::vector<uint32_t> key_batch_index;  // per key: its index in that call's series_keys
  IndexTable slot_table;   // raw series part -> slots
  IndexTable field_table;  // slot + raw field key -> fields
  IndexTable key_table;    // canonical key -> keys
  uint64_t generation = 0;

  // Starts a call: a new generation, after emptying the cache if it has grown too large.
  uint64_t Begin() {
    if (slots.size() > kMaxCachedSeries || keys.size() > kMaxCachedSeries) *this = SeriesCache();
    return ++generation;
  }
};

class Parser {
 public:
  Parser(const char* data, size_t length, Precision precision, int64_t default_timestamp_us, ParsedPoints& out,
         LineError& error)
      : begin_(data),
        end_(data + length),
        precision_(precision),
        default_timestamp_us_(default_timestamp_us),
        out_(out),
        error_(error),
        cache_(ThreadCache()),
        slots_(cache_.slots),
        fields_(cache_.fields),
        slot_table_(cache_.slot_table),
        field_table_(cache_.field_table),
        generation_(cache_.Begin()) {}

  bool Run() {
    out_.Clear();
    if (begin_ == end_) return true;  // also keeps a null pointer of an empty input away from memchr
    // One point per line is the common case; reserving for it avoids regrowing the columns.
    size_t lines = 1;
    for (const char* q = begin_; q < end_; ++q, ++lines) {
      q = static_cast<const char*>(std::memchr(q, '\n', static_cast<size_t>(end_ - q)));
      if (q == nullptr) break;
    }
    out_.key_index.reserve(lines);
    out_.timestamps_us.reserve(lines);
    out_.values.reserve(lines);
    const char* p = begin_;
    while (p < end_) {
      const char* line_start = p;
      p = SkipBlanks(p);
      if (ConsumeLineEnd(p)) continue;
      if (*p == '#') {
        const void* newline = std::memchr(p, '\n', static_cast<size_t>(end_ - p));
        p = newline ? static_cast<const char*>(newline) + 1 : end_;
        continue;
      }
      if (!ParsePoint(p, line_start)) return false;
    }
    return true;
  }

 private:
  const char* SkipBlanks(const char* p) const {
    while (p < end_ && (*p == ' ' || *p == '\t')) ++p;
    return p;
  }

  // Steps over "\n", "\r\n", or a final "\r"; true at the end of a line or of the input.
  bool ConsumeLineEnd(const char*& p) const {
    if (p == end_) return true;
    if (*p == '\n') {
      ++p;
      return true;
    }
    if (*p == '\r' && (p + 1 == end_ || p[1] == '\n')) {
      p += p + 1 == end_ ? 1 : 2;
      return true;
    }
    return false;
  }

  // Advances over an element to the first byte of `stops` (or a newline) outside an escape pair:
  // a backslash always takes the next byte with it.
  static const char* ScanElement(const char* p, const char* limit, const ByteSet& stops) {
    for (;;) {
      while (p < limit && !stops.Has(*p)) ++p;
      if (p == limit || *p != '\\') return p;
      p += p + 1 < limit ? 2 : 1;
    }
  }

  std::string Describe(const char* at) const {
    if (at >= end_) return "end of input";
    const unsigned char c = static_cast<unsigned char>(*at);
    if (c == '\n' || (c == '\r' && (at + 1 == end_ || at[1] == '\n'))) return "end of line";
    if (c >= 0x20 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
    char text[16];
    std::snprintf(text, sizeof text, "byte 0x%02X", c);
    return text;
  }

  // Records the error at `at` (line and column from the byte offset) and empties the batch.
  bool Fail(const char* at, std::string message) {
    size_t line = 1;
    const char* line_start = begin_;
    for (const char* q = begin_; q < at;) {
      const void* newline = std::memchr(q, '\n', static_cast<size_t>(at - q));
      if (newline == nullptr) break;
      q = static_cast<const char*>(newline) + 1;
      line_start = q;
      ++line;
    }
    error_.line = line;
    error_.column = static_cast<size_t>(at - line_start) + 1;
    error_.message = std::move(message);
    out_.Clear();
    return false;
  }

  bool ParsePoint(const char*& p, const char* line_start) {
    // The series part (measurement and tags) as written, up to the first unescaped space.
    const char* series_begin = p;
    for (;;) {
      p = FindSeriesStop(p, end_);
      if (p == end_ || *p != '\\') break;
      p += p + 1 < end_ ? 2 : 1;  // a backslash takes the next byte with it
    }
    const std::string_view raw_series(series_begin, static_cast<size_t>(p - series_begin));
    if (p == end_ || *p != ' ') {
      return Fail(p, "expected a space and a field set (field=value) after " + Quoted(raw_series) + ", found " +
                         Describe(p));
    }
    const uint64_t hash = HashBytes(raw_series);
    uint32_t slot = slot_table_.Find(hash, [&](uint32_t i) { return slots_[i].raw == raw_series; });
    if (slot == IndexTable::kAbsent && !AddSlot(series_begin, p, hash, slot)) return false;
    while (p < end_ && *p == ' ') ++p;
    if (AtLineEnd(p)) {
      return Fail(p, "expected a field set (field=value) after the series, found " + Describe(p));
    }

    size_t position = 0;
    for (;; ++position) {
      if (position == kMaxFieldsPerLine) {
        return Fail(p, "a line has more than " + std::to_string(kMaxFieldsPerLine) + " fields; split it");
      }
      std::string_view raw_key;
      if (!ScanKey(p, end_, kFieldKeyEnd, "field", raw_key)) return false;
      if (p < end_ && *p == '"') {
        if (!SkipString(p)) return false;
        ++out_.skipped_string_fields;
      } else {
        const char* value_begin = p;
        while (p < end_ && !kValueEnd.Has(*p)) ++p;
        double value;
        uint32_t key_index;
        if (!ParseValue(value_begin, p, raw_key, value) || !KeyIndex(slot, position, raw_key, raw_key.data(), key_index)) {
          return false;
        }
        out_.key_index.push_back(BatchIndex(key_index));
        out_.values.push_back(value);
      }
      if (p == end_ || *p != ',') break;
      ++p;
    }

    int64_t timestamp_us = default_timestamp_us_;
    const char* after_fields = p;
    while (p < end_ && *p == ' ') ++p;
    const bool has_timestamp = p > after_fields && !AtLineEnd(p) && *p != '\t';
    if (has_timestamp && !ParseTimestamp(p, timestamp_us)) return false;
    p = SkipBlanks(p);
    const char* line_end = p;
    if (!ConsumeLineEnd(p)) {
      return Fail(p, std::string(has_timestamp ? "expected the end of the line after the timestamp"
                                               : "expected ',', a space or the end of the line after the field value") +
                         ", found " + Describe(p));
    }
    if (static_cast<size_t>(line_end - line_start) > kMaxLineBytes) {
      return Fail(line_start + kMaxLineBytes, "the line is longer than " + std::to_string(kMaxLineBytes) +
                                                  " bytes; split the point or shorten its string fields");
    }
    out_.timestamps_us.resize(out_.values.size(), timestamp_us);
    return true;
  }

  // Scans a tag or field key (`what`) up to its '=' and steps past that; fails when the key is
  // empty or ends at anything else.
  bool ScanKey(const char*& p, const char* limit, const ByteSet& stops, const char* what, std::string_view& raw_key) {
    const char* key_begin = p;
    p = ScanElement(p, limit, stops);
    raw_key = std::string_view(key_begin, static_cast<size_t>(p - key_begin));
    if (raw_key.empty()) return Fail(p, std::string("expected a ") + what + " key, found " + Describe(p));
    if (p == limit || *p != '=') {
      return Fail(p, std::string("expected '=' after ") + what + " key " + Quoted(raw_key) + ", found " + Describe(p));
    }
    ++p;
    return true;
  }

  bool AtLineEnd(const char* p) const { return ConsumeLineEnd(p); }  // ConsumeLineEnd on a copy

  // Steps over a quoted string value (its content is not stored); p starts at the opening quote.
  bool SkipString(const char*& p) {
    const char* open = p++;
    while (p < end_) {
      if (*p == '"') {
        ++p;
        return true;
      }
      if (*p == '\\' && p + 1 < end_) ++p;
      ++p;
    }
    return Fail(open, "the string field value opened here is never closed: expected '\"' before the end of the input");
  }

  // " for field \"usage\"": names the field in value errors (built only when failing).
  static std::string ForField(std::string_view raw_key) { return " for field " + Quoted(raw_key); }

  bool ParseValue(const char* begin, const char* end, std::string_view raw_key, double& value) {
    const std::string_view token(begin, static_cast<size_t>(end - begin));
    if (token.empty()) {
      return Fail(begin, "expected a field value after '='" + ForField(raw_key) + ", found " + Describe(begin));
    }
    const char first = token.front();
    if (first == 't' || first == 'T' || first == 'f' || first == 'F') {
      bool truth;
      if (!IsBoolean(token, truth)) {
        return Fail(begin, "invalid boolean " + Quoted(token) + ForField(raw_key) +
                               ": expected t, T, true, True, TRUE, f, F, false, False or FALSE");
      }
      value = truth ? 1.0 : 0.0;
      return true;
    }
    if (first == '+') {
      return Fail(begin, "a leading '+' is not accepted" + ForField(raw_key) + "; write the number without it");
    }
    switch (token.back()) {
      case 'i':
        return ParseInteger<int64_t>(begin, end - 1, "integer", raw_key, value);
      case 'u':
        if (first == '-') return Fail(begin, "an unsigned integer cannot be negative" + ForField(raw_key));
        return ParseInteger<uint64_t>(begin, end - 1, "unsigned integer", raw_key, value);
      default:
        return ParseFloat(begin, end, raw_key, value);
    }
  }

  // [begin, end) holds the digits; *end is the type suffix ('i' or 'u').
  template <typename Integer>
  bool ParseInteger(const char* begin, const char* end, const char* kind, std::string_view raw_key, double& value) {
    Integer parsed{};
    const char* stop;
    const IntegerStatus status = ParseDecimal(begin, end, parsed, stop);
    if (status == IntegerStatus::kNoDigits || stop != end) {
      return Fail(stop, std::string("invalid ") + kind + ForField(raw_key) + ": expected digits before '" + *end +
                            "', found " + Describe(stop));
    }
    if (status == IntegerStatus::kOutOfRange) {
      return Fail(begin, std::string(kind) + " " + Quoted(std::string_view(begin, end - begin + 1)) +
                             ForField(raw_key) + " is outside the range [" +
                             std::to_string(std::numeric_limits<Integer>::min()) + ", " +
                             std::to_string(std::numeric_limits<Integer>::max()) + "]");
    }
    value = static_cast<double>(parsed);
    return true;
  }

  // Checks the grammar -?(digits[.digits]|.digits)([eE][+-]?digits)? before from_chars, which
  // would also take "inf", "nan" and "infinity".
  bool ParseFloat(const char* begin, const char* end, std::string_view raw_key, double& value) {
    const char* p = begin;
    if (p < end && *p == '-') ++p;
    const char* digits = p;
    while (p < end && IsDigit(*p)) ++p;
    bool has_digits = p > digits;
    if (p < end && *p == '.') {
      const char* fraction = ++p;
      while (p < end && IsDigit(*p)) ++p;
      has_digits = has_digits || p > fraction;
    }
    if (has_digits && p < end && (*p == 'e' || *p == 'E')) {
      ++p;
      if (p < end && (*p == '+' || *p == '-')) ++p;
      const char* exponent = p;
      while (p < end && IsDigit(*p)) ++p;
      if (p == exponent) {
        return Fail(p, "expected the digits of the exponent" + ForField(raw_key) + ", found " + Describe(p));
      }
    }
    const std::string_view token(begin, static_cast<size_t>(end - begin));
    if (!has_digits || p != end) {
      if (IsNanOrInfinity(token)) {
        return Fail(begin, "NaN and infinity are not accepted as field values (InfluxDB rejects them too)" +
                               ForField(raw_key) + ", found " + Quoted(token));
      }
      const char* at = has_digits ? p : begin;
      return Fail(at, "invalid field value " + Quoted(token) + ForField(raw_key) +
                          ": expected a number (1, -1.5, 1e3), an integer (1i), an unsigned integer (1u), a boolean "
                          "or a quoted string, found " +
                          Describe(at));
    }
    const auto [stop, status] = std::from_chars(begin, end, value);
    if (status == std::errc::result_out_of_range) {
      if (UnderflowsToZero(token)) {  // as Go's ParseFloat, which InfluxDB uses: too small is zero
        value = *begin == '-' ? -0.0 : 0.0;
        return true;
      }
      return Fail(begin, "number " + Quoted(token) + ForField(raw_key) +
                             " is outside the range of a 64-bit float (largest magnitude about 1.8e308)");
    }
    if (status != std::errc() || stop != end) return Fail(begin, "invalid number " + Quoted(token) + ForField(raw_key));
    return true;
  }

  // p starts at the first byte of the timestamp.
  bool ParseTimestamp(const char*& p, int64_t& timestamp_us) {
    const char* begin = p;
    int64_t timestamp = 0;
    const IntegerStatus status = ParseDecimal(begin, end_, timestamp, p);
    if (status == IntegerStatus::kNoDigits || (p < end_ && !kTimestampEnd.Has(*p))) {
      return Fail(p, std::string("expected a timestamp (an integer in ") + PrecisionName(precision_) +
                         ") or the end of the line, found " + Describe(p));
    }
    if (status == IntegerStatus::kOutOfRange || !ToMicroseconds(timestamp, precision_, timestamp_us)) {
      return Fail(begin, "timestamp " + Quoted(std::string_view(begin, p - begin)) + " (" + PrecisionName(precision_) +
                             ") is out of range: in microseconds it must fit a signed 64-bit integer");
    }
    return true;
  }

  // Parses a series part seen for the first time: [begin, end) is "measurement[,key=value...]".
  bool AddSlot(const char* begin, const char* end, uint64_t hash, uint32_t& slot_index) {
    const std::string_view raw(begin, static_cast<size_t>(end - begin));
    if (const size_t bad = FindInvalidUtf8(raw); bad != std::string_view::npos) {
      return Fail(begin + bad, "measurement and tags must be UTF-8; found invalid " + Describe(begin + bad));
    }
    SeriesSlot slot;
    slot.raw.assign(raw);
    const char* p = ScanElement(begin, end, kMeasurementEnd);
    if (p == begin) return Fail(begin, "expected a measurement name, found " + Describe(begin));
    Unescape(std::string_view(begin, static_cast<size_t>(p - begin)), kMeasurementEscapes, slot.measurement);
    while (p < end) {  // *p == ','
      ++p;
      if (slot.tags.size() == kMaxTagsPerSeries) {
        return Fail(p, "a line has more than " + std::to_string(kMaxTagsPerSeries) + " tags");
      }
      std::string_view raw_key;
      if (!ScanKey(p, end, kTagEnd, "tag", raw_key)) return false;
      const char* value_begin = p;
      p = ScanElement(p, end, kTagEnd);
      if (p == value_begin) {
        return Fail(p, "expected a value for tag " + Quoted(raw_key) + " after '=', found " + Describe(p));
      }
      if (p < end && *p == '=') {
        return Fail(p, "expected ',' or a space after the value of tag " + Quoted(raw_key) +
                           ", found '='; write it as \\= inside a tag value");
      }
      auto& tag = slot.tags.emplace_back();
      Unescape(raw_key, kKeyEscapes, tag.first);
      Unescape(std::string_view(value_begin, static_cast<size_t>(p - value_begin)), kKeyEscapes, tag.second);
    }
    // Validates name and tags now, so a bad tag set is reported where the series starts.
    if (!BuildKey(slot.measurement, slot, begin)) return false;
    slot_index = static_cast<uint32_t>(slots_.size());
    slots_.push_back(std::move(slot));
    slot_table_.Insert(hash, slot_index);
    return true;
  }

  // Builds the canonical key of `name` with the slot's tags into key_, or fails at `at`.
  bool BuildKey(std::string_view name, const SeriesSlot& slot, const char* at) {
    tag_views_.clear();
    for (const auto& [key, value] : slot.tags) tag_views_.push_back(TagView{key, value});
    std::string message;
    if (!BuildSeriesKey(name, tag_views_, key_, message)) {
      return Fail(at, "invalid series " + Quoted(name) + ": " + message);
    }
    return true;
  }

  // The key index of field `raw_key` (at `position` in the line) of series slot `slot_index`.
  bool KeyIndex(uint32_t slot_index, size_t position, std::string_view raw_key, const char* key_at,
                uint32_t& key_index) {
    std::vector<uint32_t>& hints = slots_[slot_index].field_at_position;
    if (position < hints.size() && hints[position] != IndexTable::kAbsent &&
        fields_[hints[position]].raw_key == raw_key) {
      key_index = fields_[hints[position]].key_index;
      return true;
    }
    const uint64_t hash = HashBytes(raw_key) ^ (slot_index * 0x9E3779B97F4A7C15);  // the slot picks the series too
    uint32_t field = field_table_.Find(hash, [&](uint32_t i) {
      return fields_[i].slot == slot_index && fields_[i].raw_key == raw_key;
    });
    if (field == IndexTable::kAbsent) {
      if (!AddField(slot_index, raw_key, key_at, field)) return false;
      field_table_.Insert(hash, field);
    }
    if (position >= hints.size()) hints.resize(position + 1, IndexTable::kAbsent);
    hints[position] = field;
    key_index = fields_[field].key_index;
    return true;
  }

  // The index in this batch's series_keys of cached key `key`, adding the key on its first point here.
  uint32_t BatchIndex(uint32_t key) {
    if (cache_.key_generation[key] != generation_) {
      cache_.key_generation[key] = generation_;
      cache_.key_batch_index[key] = static_cast<uint32_t>(out_.series_keys.size());
      out_.series_keys.push_back(cache_.keys[key]);
    }
    return cache_.key_batch_index[key];
  }

  // Builds the series of a field seen for the first time in its slot.
  bool AddField(uint32_t slot_index, std::string_view raw_key, const char* key_at, uint32_t& field) {
    if (const size_t bad = FindInvalidUtf8(raw_key); bad != std::string_view::npos) {
      return Fail(key_at + bad, "field keys must be UTF-8; found invalid " + Describe(key_at + bad));
    }
    const SeriesSlot& slot = slots_[slot_index];
    field_key_.clear();
    Unescape(raw_key, kKeyEscapes, field_key_);
    series_name_ = slot.measurement;
    if (field_key_ != kValueFieldKey) {
      series_name_.push_back('_');
      series_name_ += field_key_;
    }
    if (!BuildKey(series_name_, slot, key_at)) return false;
    // Different spellings (tag order, escapes) can give the same canonical key.
    const uint64_t hash = HashBytes(key_);
    uint32_t key_index = cache_.key_table.Find(hash, [&](uint32_t i) { return cache_.keys[i] == key_; });
    if (key_index == IndexTable::kAbsent) {
      key_index = static_cast<uint32_t>(cache_.keys.size());
      cache_.keys.push_back(key_);
      cache_.key_generation.push_back(0);
      cache_.key_batch_index.push_back(0);
      cache_.key_table.Insert(hash, key_index);
    }
    field = static_cast<uint32_t>(fields_.size());
    fields_.push_back(KnownField{slot_index, key_index, std::string(raw_key)});
    return true;
  }

  static SeriesCache& ThreadCache() {
    thread_local SeriesCache cache;
    return cache;
  }

  const char* const begin_;
  const char* const end_;
  const Precision precision_;
  const int64_t default_timestamp_us_;
  ParsedPoints& out_;
  LineError& error_;

  SeriesCache& cache_;
  std::vector<SeriesSlot>& slots_;
  std::vector<KnownField>& fields_;
  IndexTable& slot_table_;   // raw series part -> slots_
  IndexTable& field_table_;  // slot + raw field key -> fields_
  const uint64_t generation_;
  // Scratch reused across lines.
  std::vector<TagView> tag_views_;
  std::string key_, field_key_, series_name_;
};

}  // namespace

bool ParseLineProtocol(const char* data, size_t length, Precision precision, int64_t default_timestamp_us,
                       ParsedPoints& out, LineError& error) {
  return Parser(data, length, precision, default_timestamp_us, out, error).Run();
}

}  // namespace sluice
