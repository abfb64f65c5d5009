#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "bit_io.h"
#include "block_codec.h"
#include "checksum.h"
#include "decimal_codec.h"
#include "file_util.h"

namespace sluice {
namespace {

constexpr char kMagic[8] = {'S', 'L', 'S', 'E', 'G', '0', '0', '2'};
constexpr char kEndMagic[8] = {'S', 'L', 'S', 'E', 'G', 'E', 'N', 'D'};
constexpr size_t kMinBlockMetaBytes = 10;  // the smallest a block's index entry can be
constexpr size_t kFooterBytes = 8 + 8 + 4 + 8 + 8 + 4 + 8 + 8 + 8 + 8 + 4 + 8;
constexpr uint32_t kBloomHashes = 7;  // ~1% false positives at 10 bits per key

void Put(std::vector<uint8_t>& out, const void* data, size_t length) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  out.insert(out.end(), bytes, bytes + length);
}
template <typename T>
void PutScalar(std::vector<uint8_t>& out, T value) {
  Put(out, &value, sizeof(T));
}

// Two independent 64-bit hashes of a key for double hashing in the bloom filter.
void HashKey(std::string_view key, uint64_t& h1, uint64_t& h2) {
  uint64_t a = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char c : key) a = (a ^ c) * 0x100000001b3ull;
  uint64_t b = a ^ 0x9E3779B97F4A7C15ull;  // splitmix64 finaliser
  b = (b ^ (b >> 30)) * 0xbf58476d1ce4e5b9ull;
  b = (b ^ (b >> 27)) * 0x94d049bb133111ebull;
  b ^= b >> 31;
  h1 = a;
  h2 = b | 1;
}

constexpr int kMaxSummaryExponent = 15;


BlockSummary SummariseBlock(const int64_t* ts, const double* values, size_t count) {
  BlockSummary summary;
  BlockMeta& meta = summary.meta;
  meta.count = static_cast<uint32_t>(count);
  meta.min_time = ts[0];
  meta.max_time = ts[count - 1];
  meta.first = values[0];
  meta.last = values[count - 1];
  meta.min = INFINITY;
  meta.max = -INFINITY;
  double sum = 0;
  for (size_t i = 0; i < count; ++i) {
    sum += values[i];
    if (values[i] < meta.min) meta.min = values[i];  // NaN never compares: ignored by min/max
    if (values[i] > meta.max) meta.max = values[i];
  }
  meta.sum = sum;
  // The smallest exponent at which every value is an exact decimal, then the exact integer sum.
  int e = 0;
  int64_t scaled;
  for (size_t i = 0; i < count && e <= kMaxSummaryExponent; ++i) {
    while (e <= kMaxSummaryExponent && !ToDecimal(values[i], e, scaled)) ++e;
  }
  if (e > kMaxSummaryExponent) return summary;
  int64_t sum_i = 0;
  for (size_t i = 0; i < count; ++i) {
    ToDecimal(values[i], e, scaled);
    if (__builtin_add_overflow(sum_i, scaled, &sum_i)) return summary;
  }
  summary.exponent = e;
  summary.sum_i = sum_i;
  ToDecimal(meta.min, e, summary.min_i);
  ToDecimal(meta.max, e, summary.max_i);
  ToDecimal(meta.first, e, summary.first_i);
  ToDecimal(meta.last, e, summary.last_i);
  meta.sum = static_cast<double>(sum_i) / kPowersOfTen[e];  // the exact decimal sum, as the index will give it
  return summary;
}


void PutBlockEntry(std::vector<uint8_t>& out, const BlockSummary& summary, int64_t previous_max_time) {
  const BlockMeta& m = summary.meta;
  AppendVarint(out, m.length);
  AppendVarint(out, m.count);
  AppendVarint(out, ZigzagEncode(static_cast<uint64_t>(m.min_time) - static_cast<uint64_t>(previous_max_time)));
  AppendVarint(out, static_cast<uint64_t>(m.max_time) - static_cast<uint64_t>(m.min_time));
  if (summary.exponent < 0) {
    out.push_back(0);
    for (double value : {m.sum, m.min, m.max, m.first, m.last}) PutScalar(out, value);
  } else {
    out.push_back(1);
    out.push_back(static_cast<uint8_t>(summary.exponent));
    for (int64_t value : {summary.min_i, summary.max_i, summary.first_i, summary.last_i, summary.sum_i}) {
      AppendVarint(out, ZigzagEncode(static_cast<uint64_t>(value)));
    }
  }
  PutScalar(out, m.crc);
}

bool GetBlockEntry(const uint8_t*& p, const uint8_t* end, int64_t previous_max_time, BlockMeta& m) {
  uint64_t length, count, delta, span;
  if (!ReadVarint(p, end, length) || !ReadVarint(p, end, count) || !ReadVarint(p, end, delta) || !ReadVarint(p, end, span) ||
      length > UINT32_MAX || count == 0 || count > UINT32_MAX || p >= end) {
    return false;
  }
  m.length = static_cast<uint32_t>(length);
  m.count = static_cast<uint32_t>(count);
  m.min_time = static_cast<int64_t>(static_cast<uint64_t>(previous_max_time) + ZigzagDecode(delta));
  m.max_time = static_cast<int64_t>(static_cast<uint64_t>(m.min_time) + span);
  if (m.max_time < m.min_time) return false;
  const uint8_t kind = *p++;
  if (kind == 0) {
    if (!ReadScalar(p, end, m.sum) || !ReadScalar(p, end, m.min) || !ReadScalar(p, end, m.max) ||
        !ReadScalar(p, end, m.first) || !ReadScalar(p, end, m.last)) {
      return false;
    }
  } else if (kind == 1) {
    if (p >= end || *p > kMaxSummaryExponent) return false;
    const double scale = kPowersOfTen[*p++];
    double* fields[] = {&m.min, &m.max, &m.first, &m.last, &m.sum};
    for (double* field : fields) {
      uint64_t raw;
      if (!ReadVarint(p, end, raw)) return false;
      *field = static_cast<double>(static_cast<int64_t>(ZigzagDecode(raw))) / scale;
    }
  } else {
    return false;
  }
  return ReadScalar(p, end, m.crc);
}

}  // namespace

SegmentWriter::~SegmentWriter() {
  if (fd_ >= 0) {
    close(fd_);
    unlink(temp_path_.c_str());
  }
}

bool SegmentWriter::Begin(const std::string& dir, uint64_t sequence, std::string& error) {
  dir_ = dir;
  sequence_ = sequence;
  final_path_ = dir + "/" + HexSequence(sequence) + ".seg";
  temp_path_ = final_path_ + ".tmp";
  fd_ = open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    error = ErrnoText("cannot create " + temp_path_);
    return false;
  }
  out_.reserve(1 << 20);
  Put(out_, kMagic, sizeof(kMagic));
  return true;
}

bool SegmentWriter::Spill(std::string& error) {
  if (!WriteAll(fd_, out_.data(), out_.size())) {
    error = ErrnoText("cannot write " + temp_path_);
    return false;
  }
  written_ += out_.size();
  out_.clear();
  return true;
}

bool SegmentWriter::Add(const SeriesToWrite& one, std::string& error) {
  if (one.count == 0) return true;
  keys_.emplace_back(one.key);
  metas_.emplace_back();
  for (size_t start = 0; start < one.count; start += kBlockPoints) {
    const size_t count = std::min(kBlockPoints, one.count - start);
    BlockSummary summary = SummariseBlock(one.timestamps + start, one.values + start, count);
    BlockMeta& meta = summary.meta;
    meta.offset = written_ + out_.size();
    const size_t block_start = out_.size();
    ts_bytes_.clear();
    EncodeTimestamps(one.timestamps + start, count, ts_bytes_);
    PutScalar(out_, static_cast<uint32_t>(ts_bytes_.size()));
    Put(out_, ts_bytes_.data(), ts_bytes_.size());
    EncodeValues(one.values + start, count, out_);
    meta.length = static_cast<uint32_t>(out_.size() - block_start);
    meta.crc = Crc32c(out_.data() + block_start, meta.length);
    min_time_ = std::min(min_time_, meta.min_time);
    max_time_ = std::max(max_time_, meta.max_time);
    metas_.back().push_back(summary);
    points_ += count;
  }
  // Stream large segments out instead of holding them whole.
  return out_.size() <= (8u << 20) || Spill(error);
}

bool SegmentWriter::Finish(std::string& error) {
  const uint64_t index_offset = written_ + out_.size();
  const size_t index_start = out_.size();
  PutScalar(out_, static_cast<uint32_t>(keys_.size()));
  for (size_t s = 0; s < keys_.size(); ++s) {
    PutScalar(out_, static_cast<uint16_t>(keys_[s].size()));
    Put(out_, keys_[s].data(), keys_[s].size());
    AppendVarint(out_, metas_[s].size());
    AppendVarint(out_, metas_[s].front().meta.offset);
    int64_t previous_max_time = 0;
    for (const BlockSummary& summary : metas_[s]) {
      PutBlockEntry(out_, summary, previous_max_time);
      previous_max_time = summary.meta.max_time;
    }
  }
  const uint64_t index_length = out_.size() - index_start;
  const uint32_t index_crc = Crc32c(out_.data() + index_start, index_length);

  const uint64_t bloom_offset = written_ + out_.size();
  const size_t bloom_start = out_.size();
  const uint64_t bloom_bits = std::max<uint64_t>(64, ((keys_.size() * 10 + 63) / 64) * 64);
  std::vector<uint8_t> bits(bloom_bits / 8, 0);
  for (const std::string& key : keys_) {
    uint64_t h1, h2;
    HashKey(key, h1, h2);
    for (uint32_t i = 0; i < kBloomHashes; ++i) {
      const uint64_t bit = (h1 + i * h2) % bloom_bits;
      bits[bit / 8] |= static_cast<uint8_t>(1u << (bit % 8));
    }
  }
  PutScalar(out_, kBloomHashes);
  PutScalar(out_, bloom_bits);
  Put(out_, bits.data(), bits.size());
  const uint64_t bloom_length = out_.size() - bloom_start;
  const uint32_t bloom_crc = Crc32c(out_.data() + bloom_start, bloom_length);

  const size_t footer_start = out_.size();
  PutScalar(out_, index_offset);
  PutScalar(out_, index_length);
  PutScalar(out_, index_crc);
  PutScalar(out_, bloom_offset);
  PutScalar(out_, bloom_length);
  PutScalar(out_, bloom_crc);
  PutScalar(out_, sequence_);
  PutScalar(out_, min_time_);
  PutScalar(out_, max_time_);
  PutScalar(out_, points_);
  PutScalar(out_, Crc32c(out_.data() + footer_start, out_.size() - footer_start));
  Put(out_, kEndMagic, sizeof(kEndMagic));

  if (!Spill(error)) return false;
  if (fdatasync(fd_) != 0) {
    error = ErrnoText("cannot fsync " + temp_path_);
    return false;
  }
  close(fd_);
  fd_ = -1;
  if (rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    error = ErrnoText("cannot rename " + temp_path_);
    unlink(temp_path_.c_str());
    return false;
  }
  SyncDirectory(dir_);
  return true;
}

bool WriteSegment(const std::string& dir, uint64_t sequence, const std::vector<SeriesToWrite>& series,
                  std::string& error) {
  SegmentWriter writer;
  if (!writer.Begin(dir, sequence, error)) return false;
  for (const SeriesToWrite& one : series) {
    if (!writer.Add(one, error)) return false;
  }
  return writer.Finish(error);
}

Segment::~Segment() {
  if (data_) munmap(const_cast<uint8_t*>(data_), size_);
}

std::unique_ptr<Segment> Segment::Open(const std::string& path, std::string& error) {
  std::unique_ptr<Segment> segment(new Segment());
  int fd = OpenWithSize(path, O_RDONLY, segment->size_, error);
  if (fd < 0) return nullptr;
  segment->path_ = path;
  if (segment->size_ < sizeof(kMagic) + kFooterBytes) {
    error = path + ": too short to be a segment (" + std::to_string(segment->size_) + " bytes)";
    close(fd);
    return nullptr;
  }
  void* mapped = mmap(nullptr, segment->size_, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (mapped == MAP_FAILED) {
    error = ErrnoText("cannot map " + path);
    return nullptr;
  }
  segment->data_ = static_cast<const uint8_t*>(mapped);
  const uint8_t* begin = segment->data_;
  const uint8_t* end = begin + segment->size_;
  const uint8_t* footer = end - kFooterBytes;
  if (std::memcmp(begin, kMagic, 8) != 0 || std::memcmp(end - 8, kEndMagic, 8) != 0) {
    error = path + ": not a sluice segment (bad magic)";
    return nullptr;
  }
  if (Crc32c(footer, kFooterBytes - 12) != [&] {
        uint32_t crc;
        std::memcpy(&crc, end - 12, 4);
        return crc;
      }()) {
    error = path + ": footer checksum mismatch";
    return nullptr;
  }
  uint64_t index_offset, index_length, bloom_offset, bloom_length;
  uint32_t index_crc, bloom_crc;
  const uint8_t* p = footer;
  ReadScalar(p, end, index_offset);
  ReadScalar(p, end, index_length);
  ReadScalar(p, end, index_crc);
  ReadScalar(p, end, bloom_offset);
  ReadScalar(p, end, bloom_length);
  ReadScalar(p, end, bloom_crc);
  ReadScalar(p, end, segment->sequence_);
  ReadScalar(p, end, segment->min_time_);
  ReadScalar(p, end, segment->max_time_);
  ReadScalar(p, end, segment->points_);
  const uint64_t body = segment->size_ - kFooterBytes;
  if (index_offset > body || index_length > body - index_offset || bloom_offset > body ||
      bloom_length > body - bloom_offset) {
    error = path + ": index or bloom filter outside the file";
    return nullptr;
  }
  if (Crc32c(begin + index_offset, index_length) != index_crc) {
    error = path + ": index checksum mismatch";
    return nullptr;
  }
  if (Crc32c(begin + bloom_offset, bloom_length) != bloom_crc) {
    error = path + ": bloom filter checksum mismatch";
    return nullptr;
  }
  p = begin + index_offset;
  const uint8_t* index_end = p + index_length;
  uint32_t series_count = 0;
  bool ok = ReadScalar(p, index_end, series_count);
  for (uint32_t s = 0; ok && s < series_count; ++s) {
    uint16_t key_length;
    uint64_t block_count, offset;
    ok = ReadScalar(p, index_end, key_length) && static_cast<size_t>(index_end - p) >= key_length;
    if (!ok) break;
    std::string key(reinterpret_cast<const char*>(p), key_length);
    p += key_length;
    ok = ReadVarint(p, index_end, block_count) && ReadVarint(p, index_end, offset) &&
         static_cast<uint64_t>(index_end - p) / kMinBlockMetaBytes >= block_count;
    if (!ok) break;
    std::vector<BlockMeta> blocks(block_count);
    int64_t previous_max_time = 0;
    for (BlockMeta& meta : blocks) {
      // Blocks of a series are contiguous: each starts where the previous one ended.
      ok = ok && GetBlockEntry(p, index_end, previous_max_time, meta) && offset <= index_offset &&
           meta.length <= index_offset - offset;
      meta.offset = offset;
      offset += meta.length;
      previous_max_time = meta.max_time;
    }
    ok = ok && (segment->keys_.empty() || segment->keys_.back() < key);
    segment->keys_.push_back(std::move(key));
    segment->blocks_.push_back(std::move(blocks));
  }
  if (!ok) {
    error = path + ": malformed index";
    return nullptr;
  }
  p = begin + bloom_offset;
  const uint8_t* bloom_end = p + bloom_length;
  if (!ReadScalar(p, bloom_end, segment->bloom_hashes_) || !ReadScalar(p, bloom_end, segment->bloom_bits_) ||
      segment->bloom_bits_ == 0 || static_cast<uint64_t>(bloom_end - p) * 8 < segment->bloom_bits_) {
    error = path + ": malformed bloom filter";
    return nullptr;
  }
  segment->bloom_ = p;
  return segment;
}

void Segment::ReleaseBlockPages(const std::vector<BlockMeta>& blocks) const {
  if (blocks.empty()) return;
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  // Whole pages strictly inside the blocks' span: a neighbour's page may still be in use.
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data_ + blocks.front().offset);
  const uintptr_t end = reinterpret_cast<uintptr_t>(data_ + blocks.back().offset + blocks.back().length);
  const uintptr_t first_page = (begin + page - 1) & ~(page - 1);
  const uintptr_t last_page = end & ~(page - 1);
  if (last_page > first_page) madvise(reinterpret_cast<void*>(first_page), last_page - first_page, MADV_DONTNEED);
}

bool Segment::MayContain(std::string_view key) const {
  uint64_t h1, h2;
  HashKey(key, h1, h2);
  for (uint32_t i = 0; i < bloom_hashes_; ++i) {
    const uint64_t bit = (h1 + i * h2) % bloom_bits_;
    if (!(bloom_[bit / 8] & (1u << (bit % 8)))) return false;
  }
  return true;
}

const std::vector<BlockMeta>* Segment::Find(std::string_view key) const {
  if (!MayContain(key)) return nullptr;
  auto it = std::lower_bound(keys_.begin(), keys_.end(), key,
                             [](const std::string& a, std::string_view b) { return std::string_view(a) < b; });
  if (it == keys_.end() || *it != key) return nullptr;
  return &blocks_[static_cast<size_t>(it - keys_.begin())];
}

bool Segment::DecodeBlockForAggregation(const std::vector<BlockMeta>& blocks, size_t index, int64_t* ts,
                                        int64_t* integers, double* values, bool stride_ok, bool cumulative,
                                        AggregationBlock& shape, std::string& error) const {
  const BlockMeta& meta = blocks[index];
  const uint8_t* block = data_ + meta.offset;
  auto corrupt = [&](const char* what) {
    error = path_ + ": block " + std::to_string(index) + " at offset " + std::to_string(meta.offset) + " " + what;
    return false;
  };
  if (meta.length < 4 || Crc32c(block, meta.length) != meta.crc) return corrupt("fails its checksum");
  uint32_t ts_length;
  std::memcpy(&ts_length, block, 4);
  if (ts_length > meta.length - 4) return corrupt("has a bad timestamps length");
  const uint8_t* value_bytes = block + 4 + ts_length;
  const size_t value_length = meta.length - 4 - ts_length;
  shape = AggregationBlock();
  shape.decimal = integers && DecodeValuesAsDecimal(value_bytes, value_length, meta.count, cumulative, integers,
                                                    shape.exponent, shape.magnitude_bound);
  shape.cumulative = shape.decimal && cumulative;
  if (!shape.decimal && !DecodeValues(value_bytes, value_length, meta.count, values)) return corrupt("does not decode");
  shape.stride = stride_ok && shape.decimal &&
                 TimestampStride(block + 4, ts_length, meta.count, shape.first_time, shape.time_step);
  if (!shape.stride && !DecodeTimestamps(block + 4, ts_length, meta.count, ts)) return corrupt("does not decode");
  return true;
}

bool Segment::DecodeBlockInto(const std::vector<BlockMeta>& blocks, size_t index, int64_t* ts, double* values,
                              std::string& error) const {
  AggregationBlock shape;
  return DecodeBlockForAggregation(blocks, index, ts, nullptr, values, false, false, shape, error);
}

bool Segment::DecodeBlock(const std::vector<BlockMeta>& blocks, size_t index, std::vector<int64_t>& ts,
                          std::vector<double>& values, std::string& error) const {
  const size_t before = ts.size();
  ts.resize(before + blocks[index].count);
  values.resize(before + blocks[index].count);
  if (!DecodeBlockInto(blocks, index, ts.data() + before, values.data() + before, error)) {
    ts.resize(before);
    values.resize(before);
    return false;
  }
  return true;
}

}  // namespace sluice
