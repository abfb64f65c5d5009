#include "series_catalog.h"

namespace sluice {

void SeriesCatalog::Add(std::string_view key) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (known_.count(key)) return;
  keys_.emplace_back(key);
  known_.insert(keys_.back());
}

size_t SeriesCatalog::size() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return keys_.size();
}

void SeriesCatalog::CopySince(size_t from, std::vector<std::string>& out) const {
  std::lock_guard<std::mutex> guard(mutex_);
  for (size_t i = from; i < keys_.size(); ++i) out.push_back(keys_[i]);
}

}  // namespace sluice
