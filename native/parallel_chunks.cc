#include "parallel_chunks.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace sluice {

namespace {

// One read uses at most this many threads, however many cores there are: beyond it, memory
// bandwidth rather than cores bounds the work, and other requests need cores too.
constexpr unsigned kMaxThreads = 8;

}  // namespace

unsigned ThreadsForTasks(size_t tasks, unsigned limit) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const size_t most = limit == 0 ? std::min(cores, kMaxThreads) : limit;
  return static_cast<unsigned>(std::max<size_t>(1, std::min(most, tasks)));
}

void RunTasks(size_t tasks, unsigned threads, const std::function<void(size_t)>& task) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    for (;;) {
      const size_t i = next.fetch_add(1);
      if (i >= tasks || failed.load()) return;
      try {
        task(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        failed = true;
        return;
      }
    }
  };
  std::vector<std::thread> helpers;
  const unsigned helper_count = threads > 1 ? std::min<size_t>(threads - 1, tasks > 0 ? tasks - 1 : 0) : 0;
  helpers.reserve(helper_count);
  for (unsigned i = 0; i < helper_count; ++i) {
    try {
      helpers.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // no thread to be had: the caller does the tasks itself
    }
  }
  work();
  for (std::thread& helper : helpers) helper.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace sluice
