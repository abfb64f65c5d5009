// The memtable: a skip list keyed by series key; each series holds an append buffer of
// (timestamp, value) in arrival order. Not synchronised: the engine guards it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

struct SeriesBuffer {
  std::vector<int64_t> timestamps;
  std::vector<double> values;
  bool sorted = true;  // timestamps strictly ascending: no sort or dedup needed on read
  int64_t min_timestamp = INT64_MAX;
  int64_t max_timestamp = INT64_MIN;

  void Append(const int64_t* ts, const double* v, size_t count);
  // Points in [start, end], sorted by time, last write winning for equal timestamps.
  void CopyRange(int64_t start, int64_t end, std::vector<int64_t>& ts_out, std::vector<double>& values_out) const;
};

class Memtable {
 public:
  Memtable();
  ~Memtable();
  Memtable(const Memtable&) = delete;
  Memtable& operator=(const Memtable&) = delete;

  SeriesBuffer& FindOrInsert(std::string_view key);
  const SeriesBuffer* Find(std::string_view key) const;

  // Approximate bytes held (buffers' capacity plus keys and nodes), for the flush budget.
  size_t bytes() const { return bytes_; }
  size_t series_count() const { return series_count_; }
  uint64_t points() const { return points_; }
  void Append(SeriesBuffer& series, const int64_t* ts, const double* values, size_t count);

  // Visits every series in key order.
  template <typename Visitor>
  void ForEach(Visitor&& visit) const {
    for (const Node* node = head_->next[0]; node; node = node->next[0]) visit(node->key, node->series);
  }

 private:
  static constexpr int kMaxLevel = 16;
  struct Node {
    std::string key;
    SeriesBuffer series;
    Node* next[kMaxLevel] = {};
  };
  int RandomLevel();

  std::unique_ptr<Node> head_;
  int level_ = 1;
  uint64_t random_state_ = 0x9E3779B97F4A7C15ull;
  size_t bytes_ = 0;
  size_t series_count_ = 0;
  uint64_t points_ = 0;
};

}  // namespace sluice
