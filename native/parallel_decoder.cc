#include "parallel_decoder.h"

#include <algorithm>
#include <chrono>

namespace sluice {
namespace {

// A helper per this many blocks at most: below it, starting the thread costs about what it saves.
constexpr size_t kJobsPerHelper = 16;
constexpr unsigned kMaxHelpers = 7;
// Buffers per helper: one being filled while the consumer reads another.
constexpr size_t kSlotsPerHelper = 2;
// How long the consumer waits for a block a helper has started before decoding it itself.
constexpr auto kWaitForHelper = std::chrono::microseconds(20);

}  // namespace

unsigned ParallelBlockDecoder::HelpersFor(size_t jobs) {
  const unsigned cores = std::thread::hardware_concurrency();
  if (cores < 2) return 0;
  return static_cast<unsigned>(std::min<size_t>({cores - 1, kMaxHelpers, jobs / kJobsPerHelper}));
}

// A hint to the core that this is a spin loop (and, on x86, to leave the other hyperthread room).
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

ParallelBlockDecoder::ParallelBlockDecoder(std::vector<BlockJob> jobs, bool cumulative, unsigned helpers)
    : jobs_(std::move(jobs)), cumulative_(cumulative), state_(new std::atomic<State>[jobs_.size()]) {
  for (size_t i = 0; i < jobs_.size(); ++i) state_[i].store(State::kOpen, std::memory_order_relaxed);
  for (const BlockJob& job : jobs_) points_ = std::max<size_t>(points_, (*job.blocks)[job.index].count);
  Allocate(own_);
  if (helpers == 0) return;
  slots_.resize(kSlotsPerHelper * helpers + 1);
  for (Buffers& slot : slots_) Allocate(slot);
  for (unsigned i = 0; i < helpers; ++i) helpers_.emplace_back(&ParallelBlockDecoder::Help, this);
}

ParallelBlockDecoder::~ParallelBlockDecoder() {
  stopping_ = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    changed_.notify_all();
  }
  for (std::thread& helper : helpers_) helper.join();
}

void ParallelBlockDecoder::Allocate(Buffers& buffers) const {
  // Uninitialised: every decode writes what it hands out.
  buffers.ts.reset(new int64_t[points_]);
  buffers.integers.reset(new int64_t[points_]);
  buffers.values.reset(new double[points_]);
}

void ParallelBlockDecoder::Decode(const BlockJob& job, Buffers& into) {
  into.error.clear();
  into.ok = job.segment->DecodeBlockForAggregation(*job.blocks, job.index, into.ts.get(), into.integers.get(),
                                                   into.values.get(), true, cumulative_, into.shape, into.error);
}

template <typename Ready>
void ParallelBlockDecoder::Await(Ready&& ready) {
  constexpr auto kSpinFor = std::chrono::microseconds(200);
  const auto deadline = std::chrono::steady_clock::now() + kSpinFor;
  for (unsigned spins = 1;; ++spins) {
    if (ready()) return;
    CpuRelax();
    if (spins % 64 == 0 && std::chrono::steady_clock::now() > deadline) break;
  }
  // Sequentially consistent with Wake(): either the waker sees this sleeper, or this sees the
  // change in ready() (checked under the lock before sleeping).
  std::unique_lock<std::mutex> lock(mutex_);
  ++sleepers_;
  changed_.wait(lock, ready);
  --sleepers_;
}

void ParallelBlockDecoder::Wake() {
  if (sleepers_.load() == 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  changed_.notify_all();
}

void ParallelBlockDecoder::Help() {
  for (;;) {
    const size_t job = next_claim_.fetch_add(1);
    if (job >= jobs_.size() || stopping_) return;
    State open = State::kOpen;
    if (!state_[job].compare_exchange_strong(open, State::kHelper)) continue;  // the consumer took it
    // Slot job % n last held job - n, which the consumer is done with once it holds a later job,
    // and whose helper is done with once it is no longer decoding it (the consumer may have
    // decoded that job itself and moved on). The consumer never waits on a helper for long, and
    // helpers wait only on earlier jobs: no deadlock.
    const size_t n = slots_.size();
    Await([&] { return stopping_ || (job < consuming_ + n && (job < n || state_[job - n] != State::kHelper)); });
    if (stopping_) return;
    Decode(jobs_[job], slots_[job % slots_.size()]);
    state_[job] = State::kDone;
    Wake();
  }
}

bool ParallelBlockDecoder::Next(DecodedBlock& block, std::string& error) {
  const size_t job = next_++;
  Buffers* source = &own_;
  if (!helpers_.empty()) {
    consuming_ = job;
    Wake();  // the slots of earlier jobs are free now
    State open = State::kOpen;
    if (!state_[job].compare_exchange_strong(open, State::kConsumer)) {
      // A helper has the block. Its result is taken if it comes within about one block's decode;
      // otherwise the consumer decodes the block itself: on a machine busy with other work the
      // helper may have lost its core, and waiting for it to be scheduled again (then for this
      // thread to be woken) cost milliseconds per call where the decode costs ~10 µs.
      const auto deadline = std::chrono::steady_clock::now() + kWaitForHelper;
      for (unsigned spins = 1;; ++spins) {
        if (state_[job] == State::kDone) {
          source = &slots_[job % slots_.size()];
          break;
        }
        CpuRelax();
        if (spins % 16 == 0 && std::chrono::steady_clock::now() > deadline) break;
      }
    }
  }
  if (source == &own_) Decode(jobs_[job], own_);
  if (!source->ok) {
    error = source->error;
    return false;
  }
  block = {source->shape, source->ts.get(), source->integers.get(), source->values.get()};
  return true;
}

}  // namespace sluice
