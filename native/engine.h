// The storage engine of one data directory: WAL, memtable, segments, background flush.
// Thread-safe; one instance per data directory per process (Engine::Open shares it).
#pragma once

#include <cmath>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "accumulator.h"
#include "dir_lock.h"
#include "memtable.h"
#include "segment.h"
#include "series_catalog.h"
#include "wal.h"

namespace sluice {

// A rolled-up copy of a raw series: for each `every_us` bucket, one point per op at the bucket's
// start, in the series "<series>.<op>_<label>" with the same tags (e.g. temp.avg_1m).
struct DownsampleRule {
  std::string series;
  int64_t every_us = 0;
  std::string label;  // "1m"
  uint8_t ops_mask = 0;  // bit i: AggregateOp i
};

// Where a read writes its result (windows' starts or points' timestamps, and values): two columns
// of at least the capacity it asked for.
struct ResultColumns {
  int64_t* times;
  double* values;
};

struct ReadSnapshot;  // what one read takes under the lock (engine.cc)

struct EngineOptions {
  std::string dir;
  Durability durability = Durability::kBatch;
  uint32_t sync_interval_ms = 100;
  size_t memtable_bytes = 64u << 20;
  int64_t retention_us = 0;  // 0: keep forever
  // A run of this many consecutive segments of similar size is merged in the background (0: never).
  uint32_t compaction_trigger = 4;
  std::vector<DownsampleRule> downsample;
  // Threads one read may use, the caller's included (0: one per core, at most 8).
  unsigned query_threads = 0;
  // Log records copied into a mapped, preallocated file (false: one writev each).
  bool wal_mapped = true;
};

struct EngineStats {
  uint64_t memtable_points = 0, memtable_bytes = 0, memtable_series = 0;
  uint64_t segments = 0, segment_bytes = 0, segment_points = 0;
  uint64_t wal_bytes_written = 0, wal_unsynced_bytes = 0;
  uint64_t points_written = 0;  // accepted since open (recovered points not counted)
  uint64_t series = 0;          // distinct series keys known
  uint64_t flushes = 0, compactions = 0, segments_dropped_by_retention = 0;
  uint64_t recovered_points = 0, recovered_truncated_bytes = 0;
  std::vector<std::string> unreadable_segments;  // "path: reason"
  std::string background_error;
};

// Errors carry a code users can branch on.
struct EngineError {
  std::string code;
  std::string message;
};

class Engine {
 public:
  // Opens (or shares, within this process) the engine of `options.dir`.
  static std::shared_ptr<Engine> Open(const EngineOptions& options, EngineError& error);
  ~Engine();

  bool Write(std::string_view key, const int64_t* timestamps, const double* values, size_t count, EngineError& error);
  bool WriteMany(const std::vector<std::string>& keys, const uint32_t* key_index, const int64_t* timestamps,
                 const double* values, size_t count, EngineError& error);

  bool Aggregate(std::string_view key, int64_t start, int64_t end, AggregateOp op, AggregateResult& result,
                 EngineError& error);
  // Tumbling windows aligned to the epoch: for each window of `every_us` holding points in
  // [start, end], its start and the aggregate, in time order. `allocate(capacity)` is called once,
  // with a bound on the number of windows, and returns where to write them (so a large result is
  // written once, in place); the windows are elements [first, first + count) of it. Blocks inside
  // one window answer from their summary.
  bool AggregateWindows(std::string_view key, int64_t start, int64_t end, int64_t every_us, AggregateOp op,
                        const std::function<ResultColumns(size_t)>& allocate, size_t& first, size_t& count,
                        EngineError& error);
  // Up to `limit` points of `key` with start <= t <= end, in time order, deduplicated: written to
  // the columns `allocate(capacity)` returns (called once, with a bound on the points), `count`
  // of them.
  bool Scan(std::string_view key, int64_t start, int64_t end, size_t limit,
            const std::function<ResultColumns(size_t)>& allocate, size_t& count, EngineError& error);
  // The same into vectors.
  bool Scan(std::string_view key, int64_t start, int64_t end, size_t limit, std::vector<int64_t>& timestamps,
            std::vector<double>& values, EngineError& error);

  // Writes everything in memory to a segment and waits for it (blocking: call off the main thread).
  bool Flush(EngineError& error);
  // Merges every segment into one (blocking: call off the main thread).
  bool Compact(EngineError& error);
  // Drops the segments whose newest point is older than now_us - retention; returns how many.
  uint64_t ApplyRetention(int64_t now_us);
  EngineStats Stats();
  // The log's appended and fsynced byte positions (cheap: for acknowledging durable writes).
  void WalPositions(uint64_t& written, uint64_t& synced) const { wal_.Positions(written, synced); }
  // Every series key seen so far, in first-seen order: keys from position `from` on.
  void SeriesKeysSince(size_t from, std::vector<std::string>& out) const { catalog_.CopySince(from, out); }
  const std::string& dir() const { return options_.dir; }

 private:
  explicit Engine(const EngineOptions& options) : options_(options) {}
  bool Start(EngineError& error);
  // Takes what a read of `key` over [start, end] needs under the lock (struct in engine.cc).
  void Snapshot(std::string_view key, int64_t start, int64_t end, ReadSnapshot& snapshot);
  void Shutdown();
  // With the write lock held: the memtable buffer of `key`, noting a key new to the memtable in the catalog.
  SeriesBuffer& BufferFor(std::string_view key);
  void Ingest(const std::vector<std::string_view>& keys, const uint32_t* key_index, const int64_t* timestamps,
              const double* values, size_t count);
  // With the write lock held: hands the memtable to the flush thread when it is over budget.
  void MaybeFreezeLocked(std::unique_lock<std::shared_mutex>& lock);
  void FreezeLocked();
  void FlushLoop();
  bool WriteImmutable(EngineError& error);
  // After a flush: recomputes every rollup bucket the flushed points touched, from all the data.
  void Downsample(const Memtable& flushed);
  void CompactionLoop();
  // With compaction_mutex_ held: merges a run of consecutive segments into one.
  bool MergeSegments(const std::vector<std::shared_ptr<const Segment>>& group, EngineError& error);
  std::vector<std::shared_ptr<const Segment>> PickCompactionGroup();

  EngineOptions options_;
  DirLock lock_;
  Wal wal_;

  std::shared_mutex state_mutex_;  // guards the three below
  std::unique_ptr<Memtable> active_;
  std::shared_ptr<const Memtable> immutable_;  // being flushed
  uint64_t immutable_wal_sequence_ = 0;
  std::vector<std::shared_ptr<const Segment>> segments_;  // oldest first
  uint64_t next_segment_sequence_ = 1;

  std::condition_variable_any flush_wake_;  // flush thread: work to do; writers: flush finished
  bool stopping_ = false;
  bool flush_finishing_ = false;  // segment installed, rollups of its points still being written
  uint64_t flushes_ = 0;
  std::string background_error_;
  std::thread flush_thread_;

  std::mutex compaction_mutex_;  // one merge or retention pass at a time
  std::condition_variable_any compaction_wake_;
  bool compaction_requested_ = false;
  uint64_t compactions_ = 0;
  uint64_t retention_dropped_ = 0;
  std::thread compaction_thread_;

  SeriesCatalog catalog_;
  uint64_t points_written_ = 0;  // guarded by state_mutex_
  WalRecoveryStats recovery_;
  std::vector<std::string> unreadable_segments_;
};

}  // namespace sluice
