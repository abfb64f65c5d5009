#include "memtable.h"

#include <algorithm>

namespace sluice {

void SeriesBuffer::Append(const int64_t* ts, const double* v, size_t count) {
  if (count == 0) return;
  int64_t previous = timestamps.empty() ? INT64_MIN : timestamps.back();
  bool ascending = sorted;
  for (size_t i = 0; i < count && ascending; ++i) {
    if (ts[i] <= previous && !(timestamps.empty() && i == 0)) ascending = false;
    previous = ts[i];
  }
  sorted = ascending;
  timestamps.insert(timestamps.end(), ts, ts + count);
  values.insert(values.end(), v, v + count);
  const auto [lo, hi] = std::minmax_element(ts, ts + count);
  min_timestamp = std::min(min_timestamp, *lo);
  max_timestamp = std::max(max_timestamp, *hi);
}

void SeriesBuffer::CopyRange(int64_t start, int64_t end, std::vector<int64_t>& ts_out,
                             std::vector<double>& values_out) const {
  ts_out.clear();
  values_out.clear();
  if (sorted) {
    auto first = std::lower_bound(timestamps.begin(), timestamps.end(), start);
    auto last = std::upper_bound(first, timestamps.end(), end);
    const size_t from = static_cast<size_t>(first - timestamps.begin());
    const size_t to = static_cast<size_t>(last - timestamps.begin());
    ts_out.assign(timestamps.begin() + from, timestamps.begin() + to);
    values_out.assign(values.begin() + from, values.begin() + to);
    return;
  }
  // Arrival order: sort positions by (timestamp, arrival) and keep the last arrival of each timestamp.
  std::vector<uint32_t> order;
  for (uint32_t i = 0; i < timestamps.size(); ++i) {
    if (timestamps[i] >= start && timestamps[i] <= end) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return timestamps[a] < timestamps[b]; });
  for (size_t i = 0; i < order.size(); ++i) {
    if (i + 1 < order.size() && timestamps[order[i + 1]] == timestamps[order[i]]) continue;
    ts_out.push_back(timestamps[order[i]]);
    values_out.push_back(values[order[i]]);
  }
}

Memtable::Memtable() : head_(std::make_unique<Node>()) {}

Memtable::~Memtable() {
  Node* node = head_->next[0];
  while (node) {
    Node* next = node->next[0];
    delete node;
    node = next;
  }
}

int Memtable::RandomLevel() {
  // xorshift64; one level up with probability 1/4.
  random_state_ ^= random_state_ << 13;
  random_state_ ^= random_state_ >> 7;
  random_state_ ^= random_state_ << 17;
  uint64_t bits = random_state_;
  int level = 1;
  while (level < kMaxLevel && (bits & 3) == 0) {
    ++level;
    bits >>= 2;
  }
  return level;
}

SeriesBuffer& Memtable::FindOrInsert(std::string_view key) {
  Node* update[kMaxLevel];
  Node* node = head_.get();
  for (int level = level_ - 1; level >= 0; --level) {
    while (node->next[level] && std::string_view(node->next[level]->key) < key) node = node->next[level];
    update[level] = node;
  }
  Node* candidate = node->next[0];
  if (candidate && candidate->key == key) return candidate->series;
  const int new_level = RandomLevel();
  for (int level = level_; level < new_level; ++level) update[level] = head_.get();
  level_ = std::max(level_, new_level);
  Node* inserted = new Node();
  inserted->key.assign(key);
  for (int level = 0; level < new_level; ++level) {
    inserted->next[level] = update[level]->next[level];
    update[level]->next[level] = inserted;
  }
  bytes_ += sizeof(Node) + key.size();
  ++series_count_;
  return inserted->series;
}

const SeriesBuffer* Memtable::Find(std::string_view key) const {
  const Node* node = head_.get();
  for (int level = level_ - 1; level >= 0; --level) {
    while (node->next[level] && std::string_view(node->next[level]->key) < key) node = node->next[level];
  }
  node = node->next[0];
  return node && node->key == key ? &node->series : nullptr;
}

void Memtable::Append(SeriesBuffer& series, const int64_t* ts, const double* values, size_t count) {
  const size_t before = (series.timestamps.capacity() + series.values.capacity()) * 8;
  series.Append(ts, values, count);
  bytes_ += (series.timestamps.capacity() + series.values.capacity()) * 8 - before;
  points_ += count;
}

}  // namespace sluice
