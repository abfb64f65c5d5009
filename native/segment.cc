#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "block_codec.h"
#include "checksum.h"
#include "file_util.h"

namespace sluice {
namespace {

constexpr char kMagic[8] = {'S', 'L', 'S', 'E', 'G', '0', '0', '1'};
constexpr char kEndMagic[8] = {'S', 'L', 'S', 'E', 'G', 'E', 'N', 'D'};
constexpr size_t kBlockMetaBytes = 76;
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
template <typename T>
bool GetScalar(const uint8_t*& p, const uint8_t* end, T& out) {
  if (static_cast<size_t>(end - p) < sizeof(T)) return false;
  std::memcpy(&out, p, sizeof(T));
  p += sizeof(T);
  return true;
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

BlockMeta SummariseBlock(const int64_t* ts, const double* values, size_t count) {
  BlockMeta meta;
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
  return meta;
}

void PutBlockMeta(std::vector<uint8_t>& out, const BlockMeta& m) {
  PutScalar(out, m.offset);
  PutScalar(out, m.length);
  PutScalar(out, m.count);
  PutScalar(out, m.min_time);
  PutScalar(out, m.max_time);
  PutScalar(out, m.sum);
  PutScalar(out, m.min);
  PutScalar(out, m.max);
  PutScalar(out, m.first);
  PutScalar(out, m.last);
  PutScalar(out, m.crc);
}

bool GetBlockMeta(const uint8_t*& p, const uint8_t* end, BlockMeta& m) {
  return GetScalar(p, end, m.offset) && GetScalar(p, end, m.length) && GetScalar(p, end, m.count) &&
         GetScalar(p, end, m.min_time) && GetScalar(p, end, m.max_time) && GetScalar(p, end, m.sum) &&
         GetScalar(p, end, m.min) && GetScalar(p, end, m.max) && GetScalar(p, end, m.first) &&
         GetScalar(p, end, m.last) && GetScalar(p, end, m.crc);
}

}  // namespace

bool WriteSegment(const std::string& dir, uint64_t sequence, const std::vector<SeriesToWrite>& series,
                  std::string& error) {
  const std::string final_path = dir + "/" + HexSequence(sequence) + ".seg";
  const std::string temp_path = final_path + ".tmp";
  int fd = open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = ErrnoText("cannot create " + temp_path);
    return false;
  }
  auto fail = [&](const std::string& what) {
    error = ErrnoText(what);
    close(fd);
    unlink(temp_path.c_str());
    return false;
  };

  std::vector<uint8_t> out;
  out.reserve(1 << 20);
  Put(out, kMagic, sizeof(kMagic));
  uint64_t file_offset = 0;  // bytes already written to fd
  std::vector<std::vector<BlockMeta>> metas(series.size());
  std::vector<uint8_t> ts_bytes;
  int64_t min_time = INT64_MAX, max_time = INT64_MIN;
  uint64_t points = 0;
  for (size_t s = 0; s < series.size(); ++s) {
    const SeriesToWrite& one = series[s];
    for (size_t start = 0; start < one.count; start += kBlockPoints) {
      const size_t count = std::min(kBlockPoints, one.count - start);
      BlockMeta meta = SummariseBlock(one.timestamps + start, one.values + start, count);
      meta.offset = file_offset + out.size();
      const size_t block_start = out.size();
      ts_bytes.clear();
      EncodeTimestamps(one.timestamps + start, count, ts_bytes);
      PutScalar(out, static_cast<uint32_t>(ts_bytes.size()));
      Put(out, ts_bytes.data(), ts_bytes.size());
      EncodeValues(one.values + start, count, out);
      meta.length = static_cast<uint32_t>(out.size() - block_start);
      meta.crc = Crc32c(out.data() + block_start, meta.length);
      metas[s].push_back(meta);
      min_time = std::min(min_time, meta.min_time);
      max_time = std::max(max_time, meta.max_time);
      points += count;
      if (out.size() > (8u << 20)) {  // stream large segments out instead of holding them whole
        if (!WriteAll(fd, out.data(), out.size())) return fail("cannot write " + temp_path);
        file_offset += out.size();
        out.clear();
      }
    }
  }
  const uint64_t index_offset = file_offset + out.size();
  const size_t index_start = out.size();
  PutScalar(out, static_cast<uint32_t>(series.size()));
  for (size_t s = 0; s < series.size(); ++s) {
    PutScalar(out, static_cast<uint16_t>(series[s].key.size()));
    Put(out, series[s].key.data(), series[s].key.size());
    PutScalar(out, static_cast<uint32_t>(metas[s].size()));
    for (const BlockMeta& meta : metas[s]) PutBlockMeta(out, meta);
  }
  const uint64_t index_length = out.size() - index_start;
  const uint32_t index_crc = Crc32c(out.data() + index_start, index_length);

  const uint64_t bloom_offset = file_offset + out.size();
  const size_t bloom_start = out.size();
  const uint64_t bloom_bits = std::max<uint64_t>(64, ((series.size() * 10 + 63) / 64) * 64);
  std::vector<uint8_t> bits(bloom_bits / 8, 0);
  for (const SeriesToWrite& one : series) {
    uint64_t h1, h2;
    HashKey(one.key, h1, h2);
    for (uint32_t i = 0; i < kBloomHashes; ++i) {
      const uint64_t bit = (h1 + i * h2) % bloom_bits;
      bits[bit / 8] |= static_cast<uint8_t>(1u << (bit % 8));
    }
  }
  PutScalar(out, kBloomHashes);
  PutScalar(out, bloom_bits);
  Put(out, bits.data(), bits.size());
  const uint64_t bloom_length = out.size() - bloom_start;
  const uint32_t bloom_crc = Crc32c(out.data() + bloom_start, bloom_length);

  const size_t footer_start = out.size();
  PutScalar(out, index_offset);
  PutScalar(out, index_length);
  PutScalar(out, index_crc);
  PutScalar(out, bloom_offset);
  PutScalar(out, bloom_length);
  PutScalar(out, bloom_crc);
  PutScalar(out, sequence);
  PutScalar(out, min_time);
  PutScalar(out, max_time);
  PutScalar(out, points);
  PutScalar(out, Crc32c(out.data() + footer_start, out.size() - footer_start));
  Put(out, kEndMagic, sizeof(kEndMagic));

  if (!WriteAll(fd, out.data(), out.size())) return fail("cannot write " + temp_path);
  if (fdatasync(fd) != 0) return fail("cannot fsync " + temp_path);
  close(fd);
  if (rename(temp_path.c_str(), final_path.c_str()) != 0) {
    error = ErrnoText("cannot rename " + temp_path);
    unlink(temp_path.c_str());
    return false;
  }
  SyncDirectory(dir);
  return true;
}

Segment::~Segment() {
  if (data_) munmap(const_cast<uint8_t*>(data_), size_);
}

std::unique_ptr<Segment> Segment::Open(const std::string& path, std::string& error) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = ErrnoText("cannot open " + path);
    return nullptr;
  }
  struct stat info;
  if (fstat(fd, &info) != 0) {
    error = ErrnoText("cannot stat " + path);
    close(fd);
    return nullptr;
  }
  std::unique_ptr<Segment> segment(new Segment());
  segment->path_ = path;
  segment->size_ = static_cast<size_t>(info.st_size);
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
  int64_t min_time, max_time;
  const uint8_t* p = footer;
  GetScalar(p, end, index_offset);
  GetScalar(p, end, index_length);
  GetScalar(p, end, index_crc);
  GetScalar(p, end, bloom_offset);
  GetScalar(p, end, bloom_length);
  GetScalar(p, end, bloom_crc);
  GetScalar(p, end, segment->sequence_);
  GetScalar(p, end, min_time);
  GetScalar(p, end, max_time);
  GetScalar(p, end, segment->points_);
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
  bool ok = GetScalar(p, index_end, series_count);
  for (uint32_t s = 0; ok && s < series_count; ++s) {
    uint16_t key_length;
    uint32_t block_count;
    ok = GetScalar(p, index_end, key_length) && static_cast<size_t>(index_end - p) >= key_length;
    if (!ok) break;
    std::string key(reinterpret_cast<const char*>(p), key_length);
    p += key_length;
    ok = GetScalar(p, index_end, block_count) &&
         static_cast<size_t>(index_end - p) / kBlockMetaBytes >= block_count;
    if (!ok) break;
    std::vector<BlockMeta> blocks(block_count);
    for (BlockMeta& meta : blocks) {
      ok = ok && GetBlockMeta(p, index_end, meta) && meta.offset <= index_offset &&
           meta.length <= index_offset - meta.offset && meta.count > 0;
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
  if (!GetScalar(p, bloom_end, segment->bloom_hashes_) || !GetScalar(p, bloom_end, segment->bloom_bits_) ||
      segment->bloom_bits_ == 0 || static_cast<uint64_t>(bloom_end - p) * 8 < segment->bloom_bits_) {
    error = path + ": malformed bloom filter";
    return nullptr;
  }
  segment->bloom_ = p;
  return segment;
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

bool Segment::DecodeBlock(const std::vector<BlockMeta>& blocks, size_t index, std::vector<int64_t>& ts,
                          std::vector<double>& values, std::string& error) const {
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
  const size_t before = ts.size();
  ts.resize(before + meta.count);
  values.resize(before + meta.count);
  if (!DecodeTimestamps(block + 4, ts_length, meta.count, ts.data() + before) ||
      !DecodeValues(block + 4 + ts_length, meta.length - 4 - ts_length, meta.count, values.data() + before)) {
    ts.resize(before);
    values.resize(before);
    return corrupt("does not decode");
  }
  return true;
}

}  // namespace sluice
