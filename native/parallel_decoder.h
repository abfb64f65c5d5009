// Decodes a read's segment blocks (Segment::DecodeBlockForAggregation) on helper threads ahead of
// the one thread that consumes them in order, so a query that decodes many blocks uses more than
// one core while everything order-dependent (window sums) stays on that thread. The consumer
// decodes a block itself whenever no helper has started on it, or its helper has not finished
// within ~20 µs (parallel_decoder.cc), so it never waits on work nobody does, nor long on a
// helper descheduled by other load; helpers claim blocks in order, each into one of a few reused
// buffers.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "segment.h"

namespace sluice {

struct BlockJob {
  const Segment* segment;
  const std::vector<BlockMeta>* blocks;
  size_t index;
};

// A decoded block: Segment::DecodeBlockForAggregation's outputs.
struct DecodedBlock {
  AggregationBlock shape;
  int64_t* ts;
  int64_t* integers;
  double* values;
};

class ParallelBlockDecoder {
 public:
  // Helper threads worth starting for `jobs` blocks on this machine (0: decode on the caller's
  // thread only; a thread costs tens of microseconds, a block ~10).
  static unsigned HelpersFor(size_t jobs);

  // `cumulative`: decimal blocks as running totals (DecodeBlockForAggregation).
  ParallelBlockDecoder(std::vector<BlockJob> jobs, bool cumulative, unsigned helpers);
  ParallelBlockDecoder(const ParallelBlockDecoder&) = delete;
  ParallelBlockDecoder& operator=(const ParallelBlockDecoder&) = delete;
  ~ParallelBlockDecoder();  // stops the helpers (a block being decoded is finished first)

  // The next job's block, in job order; valid until the next call. False with `error` when it
  // does not decode (the caller stops there, as a sequential read would).
  bool Next(DecodedBlock& block, std::string& error);

 private:
  struct Buffers {
    std::unique_ptr<int64_t[]> ts, integers;
    std::unique_ptr<double[]> values;
    AggregationBlock shape;
    bool ok = false;
    std::string error;
  };
  enum class State : uint8_t { kOpen, kHelper, kDone, kConsumer };

  void Help();
  void Decode(const BlockJob& job, Buffers& into);
  void Allocate(Buffers& buffers) const;
  // Waits until ready(): spinning first (a block decodes in ~10 µs, while waking a sleeping
  // thread can take longer than that), then sleeping on changed_. Wake() is the other side.
  template <typename Ready>
  void Await(Ready&& ready);
  void Wake();

  const std::vector<BlockJob> jobs_;
  const bool cumulative_;
  size_t points_ = 0;  // the largest block, so every buffer fits every job

  std::unique_ptr<std::atomic<State>[]> state_;  // per job
  std::atomic<size_t> next_claim_{0};            // helpers claim jobs from here on
  std::atomic<size_t> consuming_{0};             // the job the consumer holds or waits for
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;  // only for sleeping
  std::condition_variable changed_;
  std::atomic<unsigned> sleepers_{0};

  std::vector<Buffers> slots_;  // a helper decodes job k into slot k % slots_.size()
  Buffers own_;                 // the consumer's own decodes
  size_t next_ = 0;             // the consumer's next job
  std::vector<std::thread> helpers_;
};

}  // namespace sluice
