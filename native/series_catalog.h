// Every series key the engine has seen (segments, the log, new writes), in the order first seen,
// so the query layer can keep its tag index current by asking only for what is new.
// Thread-safe on its own: readers never take the engine's state lock.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace sluice {

class SeriesCatalog {
 public:
  // Adds `key` if it is new.
  void Add(std::string_view key);
  size_t size() const;
  // Appends the keys from position `from` on (in first-seen order) to `out`.
  void CopySince(size_t from, std::vector<std::string>& out) const;

 private:
  mutable std::mutex mutex_;
  std::deque<std::string> keys_;  // a deque: the set's views stay valid as it grows
  std::unordered_set<std::string_view> known_;
};

}  // namespace sluice
