// Immutable segment files: columnar blocks per series with a summary per block.
//
// <dir>/segments/<16 hex sequence>.seg, written to .tmp, fsynced, renamed. Layout (little-endian):
//   "SLSEG002"
//   blocks, one after another: [timestamps length u32][timestamps][values]   (block_codec.h)
//   index:  [series count u32] then per series, sorted by key:
//           [key length u16][key][block count varint][first block offset varint], then per block
//           (blocks of a series are contiguous, so offsets follow from lengths):
//           [length varint][count varint][min time: zigzag varint, delta from the previous block's
//           max time][max - min time varint][summary][CRC-32C u32]
//           summary: [0][sum f64][min f64][max f64][first f64][last f64], or, when every value of
//           the block is a decimal d/10^e: [1][e u8][zigzag varints of the scaled min, max, first,
//           last and the exact scaled sum] — about 25 bytes a block instead of 76
//   bloom:  [hash count u32][bit count u64][bits]
//   footer (kFooterBytes): [index offset u64][index length u64][index crc u32]
//           [bloom offset u64][bloom length u64][bloom crc u32][sequence u64]
//           [min time i64][max time i64][points u64][footer crc u32]["SLSEGEND"]
// Each block's CRC-32C is in its BlockMeta; the index, bloom and footer carry their own.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "block_codec.h"

namespace sluice {

// Points per block. The codecs alone prefer 4096 (docs/codecs.md), but each block also costs an
// index entry: at 8192 the whole file of the benchmark data set is 0.857 B/pt against 0.863, and
// a range edge decodes at most 8192 points (~25 µs).
inline constexpr size_t kBlockPoints = 2 * kRecommendedBlockPoints;

struct BlockMeta {
  uint64_t offset = 0;
  uint32_t length = 0;
  uint32_t count = 0;
  int64_t min_time = 0;
  int64_t max_time = 0;
  double sum = 0, min = 0, max = 0, first = 0, last = 0;
  uint32_t crc = 0;
};

// A block's summary as the writer keeps it: for decimal blocks also the exponent and the scaled
// integers that let the index store the summary in a few bytes, with an exact sum.
struct BlockSummary {
  BlockMeta meta;
  int exponent = -1;  // -1: stored as raw doubles
  int64_t min_i = 0, max_i = 0, first_i = 0, last_i = 0, sum_i = 0;
};

// What Segment::DecodeBlockForAggregation filled in.
struct AggregationBlock {
  bool decimal = false;  // `integers` holds the values (values[i] == integers[i] / 10^exponent); else `values`
  unsigned exponent = 0;
  double magnitude_bound = 0;  // decimal: every |integers[i]| ≤ this
  bool cumulative = false;     // decimal: integers[i] is the sum of integers 0..i (uint64 wrap)
  bool stride = false;         // `ts` untouched: timestamp i is first_time + i * time_step (uint64 wrap)
  int64_t first_time = 0, time_step = 0;
};

// One series' points to write: sorted by time, one point per timestamp.
struct SeriesToWrite {
  std::string_view key;
  const int64_t* timestamps;
  const double* values;
  size_t count;
};

// Writes one segment series by series, so a merge of big segments holds one series at a time.
// Series must be added in key order. Nothing is visible until Finish() renames the file into place
// (replacing a segment of the same sequence: how a merge takes the place of its newest input).
class SegmentWriter {
 public:
  SegmentWriter() = default;
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;
  ~SegmentWriter();  // abandons an unfinished file

  bool Begin(const std::string& dir, uint64_t sequence, std::string& error);
  bool Add(const SeriesToWrite& series, std::string& error);
  bool Finish(std::string& error);
  uint64_t points() const { return points_; }

 private:
  bool Spill(std::string& error);

  std::string dir_, final_path_, temp_path_;
  uint64_t sequence_ = 0;
  int fd_ = -1;
  std::vector<uint8_t> out_;
  uint64_t written_ = 0;  // bytes already in the file
  std::vector<std::string> keys_;
  std::vector<std::vector<BlockSummary>> metas_;
  std::vector<uint8_t> ts_bytes_;
  int64_t min_time_ = INT64_MAX, max_time_ = INT64_MIN;
  uint64_t points_ = 0;
};

// Writes a complete segment durably; false with `error` on any I/O failure (nothing left behind).
bool WriteSegment(const std::string& dir, uint64_t sequence, const std::vector<SeriesToWrite>& series,
                  std::string& error);

class Segment {
 public:
  ~Segment();
  // Maps and checks a segment (footer, index and bloom checksums); null with `error` if unusable.
  static std::unique_ptr<Segment> Open(const std::string& path, std::string& error);

  // The blocks of `key`, or null if the segment has no such series.
  const std::vector<BlockMeta>* Find(std::string_view key) const;
  // Decodes block `index` of `blocks`, appending to ts/values; false with `error` naming the file
  // and block when its checksum or encoding is bad.
  // The same into caller buffers of at least blocks[index].count elements (no initialisation cost).
  bool DecodeBlockInto(const std::vector<BlockMeta>& blocks, size_t index, int64_t* ts, double* values,
                       std::string& error) const;
  // Like DecodeBlockInto, but a decimal block's values come as scaled integers when `integers` is
  // given (as running totals when `cumulative`), and its timestamps are left undecoded when
  // `stride_ok` and they are a constant stride (`shape` says which).
  bool DecodeBlockForAggregation(const std::vector<BlockMeta>& blocks, size_t index, int64_t* ts, int64_t* integers,
                                 double* values, bool stride_ok, bool cumulative, AggregationBlock& shape,
                                 std::string& error) const;
  bool DecodeBlock(const std::vector<BlockMeta>& blocks, size_t index, std::vector<int64_t>& ts,
                   std::vector<double>& values, std::string& error) const;

  // Keys in sorted order, and the blocks of the key at the same position.
  const std::vector<std::string>& keys() const { return keys_; }
  const std::vector<BlockMeta>& blocks_of(size_t key_index) const { return blocks_[key_index]; }
  // Drops the pages of these blocks from this process's memory (they stay in the page cache), so
  // reading a whole segment once — a merge — does not leave it all counted in the RSS.
  void ReleaseBlockPages(const std::vector<BlockMeta>& blocks) const;
  uint64_t sequence() const { return sequence_; }
  int64_t min_time() const { return min_time_; }
  int64_t max_time() const { return max_time_; }
  uint64_t points() const { return points_; }
  uint64_t file_bytes() const { return size_; }
  const std::string& path() const { return path_; }
  size_t series_count() const { return keys_.size(); }

 private:
  Segment() = default;
  bool MayContain(std::string_view key) const;

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  uint64_t sequence_ = 0;
  uint64_t points_ = 0;
  int64_t min_time_ = 0, max_time_ = 0;
  std::vector<std::string> keys_;  // sorted
  std::vector<std::vector<BlockMeta>> blocks_;
  uint32_t bloom_hashes_ = 0;
  uint64_t bloom_bits_ = 0;
  const uint8_t* bloom_ = nullptr;
};

}  // namespace sluice
