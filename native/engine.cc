#include "engine.h"

#include <errno.h>
#include <limits.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>

#include "decimal_codec.h"
#include "file_util.h"
#include "parallel_chunks.h"
#include "parallel_decoder.h"
#include "series_key.h"
#include "stream_copy.h"
#include "window_aggregator.h"

namespace sluice {
namespace {

// Hands freed memory back to the system after a flush or merge: their large temporary buffers
// come from the background threads' malloc arenas, which glibc otherwise keeps.
void ReturnFreedMemory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

constexpr const char* kLocked = "SLUICE_LOCKED";
constexpr const char* kIo = "SLUICE_IO";
constexpr const char* kCorrupt = "SLUICE_CORRUPT";

std::mutex g_registry_mutex;
std::map<std::string, std::weak_ptr<Engine>> g_registry;

// A run of one series' points from one source: a segment block or a memtable's copy.
struct Piece {
  int64_t min_time, max_time;
  int priority;  // newer sources are higher and win for equal timestamps
  const Segment* segment = nullptr;
  const std::vector<BlockMeta>* blocks = nullptr;
  size_t block = 0;
  const std::vector<int64_t>* memory_timestamps = nullptr;
  const std::vector<double>* memory_values = nullptr;
};

}  // namespace

// Everything a read needs, taken under the lock and used without it.
struct ReadSnapshot {
  std::vector<std::shared_ptr<const Segment>> segments;
  std::vector<int64_t> memory_ts[2];
  std::vector<double> memory_values[2];
  std::vector<Piece> pieces;  // sorted by min_time
};

std::shared_ptr<Engine> Engine::Open(const EngineOptions& options, EngineError& error) {
  if (mkdir(options.dir.c_str(), 0755) != 0 && errno != EEXIST) {
    error = {kIo, ErrnoText("cannot create data directory " + options.dir)};
    return nullptr;
  }
  char resolved[PATH_MAX];
  if (!realpath(options.dir.c_str(), resolved)) {
    error = {kIo, ErrnoText("cannot resolve data directory " + options.dir)};
    return nullptr;
  }
  std::lock_guard<std::mutex> guard(g_registry_mutex);
  if (auto existing = g_registry[resolved].lock()) return existing;
  EngineOptions canonical = options;
  canonical.dir = resolved;
  std::shared_ptr<Engine> engine(new Engine(canonical));
  if (!engine->Start(error)) return nullptr;
  g_registry[resolved] = engine;
  return engine;
}

bool Engine::Start(EngineError& error) {
  std::string message;
  long holder = 0;
  bool locked = lock_.Acquire(options_.dir, message, holder);
  // An engine of this process that was just released may still be shutting down: wait for it briefly.
  for (int attempt = 0; !locked && holder == static_cast<long>(getpid()) && attempt < 200; ++attempt) {
    usleep(10000);
    locked = lock_.Acquire(options_.dir, message, holder);
  }
  if (!locked) {
    error = {holder ? kLocked : kIo, message};
    return false;
  }
  const std::string segment_dir = options_.dir + "/segments";
  if (mkdir(segment_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    error = {kIo, ErrnoText("cannot create " + segment_dir)};
    return false;
  }
  for (const std::string& name : ListFiles(segment_dir, ".seg.tmp")) unlink((segment_dir + "/" + name).c_str());
  for (const std::string& name : ListFiles(segment_dir, ".seg")) {
    const uint64_t sequence = std::strtoull(name.c_str(), nullptr, 16);
    next_segment_sequence_ = std::max(next_segment_sequence_, sequence + 1);
    std::string reason;
    std::unique_ptr<Segment> segment = Segment::Open(segment_dir + "/" + name, reason);
    if (segment) {
      for (const std::string& key : segment->keys()) catalog_.Add(key);
      segments_.push_back(std::move(segment));
    } else {
      unreadable_segments_.push_back(reason);  // kept on disk, reported in stats; the rest is served
    }
  }
  active_ = std::make_unique<Memtable>();
  if (!wal_.Open(options_.dir, options_.durability, options_.sync_interval_ms, options_.wal_mapped, message)) {
    error = {kIo, message};
    return false;
  }
  const bool replayed = wal_.Replay(
      [&](const WalBatch& batch) { Ingest(batch.keys, batch.key_index, batch.timestamps, batch.values, batch.count); },
      recovery_, message);
  if (!replayed) {
    error = {kIo, message};
    return false;
  }
  flush_thread_ = std::thread(&Engine::FlushLoop, this);
  compaction_thread_ = std::thread(&Engine::CompactionLoop, this);
  std::unique_lock<std::shared_mutex> lock(state_mutex_);
  // Points the log gave back may be ones whose rollups a crash lost: flushing them now writes
  // those rollups again, instead of when the memtable next fills.
  if (!options_.downsample.empty() && recovery_.points > 0 && active_->bytes() > 0) {
    FreezeLocked();
  } else {
    MaybeFreezeLocked(lock);
  }
  return true;
}

Engine::~Engine() { Shutdown(); }

void Engine::Shutdown() {
  {
    std::unique_lock<std::shared_mutex> lock(state_mutex_);
    stopping_ = true;
  }
  flush_wake_.notify_all();
  compaction_wake_.notify_all();
  if (flush_thread_.joinable()) flush_thread_.join();
  if (compaction_thread_.joinable()) compaction_thread_.join();
  wal_.Close();
  lock_.Release();
}

SeriesBuffer& Engine::BufferFor(std::string_view key) {
  SeriesBuffer& buffer = active_->FindOrInsert(key);
  if (buffer.timestamps.empty()) catalog_.Add(key);  // only on a key's first write to this memtable
  return buffer;
}

void Engine::Ingest(const std::vector<std::string_view>& keys, const uint32_t* key_index, const int64_t* timestamps,
                    const double* values, size_t count) {
  if (!key_index) {
    active_->Append(BufferFor(keys[0]), timestamps, values, count);
    return;
  }
  // Live feeds interleave series (one point of each, round after round): runs of one key are
  // short. Then the points are grouped by key first (a counting sort, order kept within a key), so
  // each series is looked up in the skip list once per batch, not once per point.
  size_t runs = 1;
  for (size_t i = 1; i < count; ++i) runs += key_index[i] != key_index[i - 1];
  if (keys.size() > 1 && runs * 4 > count) {
    thread_local std::vector<size_t> starts;
    thread_local std::vector<int64_t> grouped_timestamps;
    thread_local std::vector<double> grouped_values;
    starts.assign(keys.size() + 1, 0);
    for (size_t i = 0; i < count; ++i) ++starts[key_index[i] + 1];
    for (size_t k = 1; k <= keys.size(); ++k) starts[k] += starts[k - 1];
    grouped_timestamps.resize(count);
    grouped_values.resize(count);
    for (size_t i = 0; i < count; ++i) {
      const size_t at = starts[key_index[i]]++;
      grouped_timestamps[at] = timestamps[i];
      grouped_values[at] = values[i];
    }
    // starts[k] is now the end of key k's points, and the start of key k + 1's.
    size_t begin = 0;
    for (size_t k = 0; k < keys.size(); ++k) {
      const size_t end = starts[k];
      if (end > begin) active_->Append(BufferFor(keys[k]), grouped_timestamps.data() + begin, grouped_values.data() + begin, end - begin);
      begin = end;
    }
    return;
  }
  // Runs of the same key go in together.
  size_t run_start = 0;
  for (size_t i = 1; i <= count; ++i) {
    if (i == count || key_index[i] != key_index[run_start]) {
      active_->Append(BufferFor(keys[key_index[run_start]]), timestamps + run_start, values + run_start,
                      i - run_start);
      run_start = i;
    }
  }
}

bool Engine::Write(std::string_view key, const int64_t* timestamps, const double* values, size_t count,
                   EngineError& error) {
  std::unique_lock<std::shared_mutex> lock(state_mutex_);
  std::string message;
  // The log append happens under the lock so a freeze can never separate a record from its points.
  if (options_.durability != Durability::kNone && !wal_.AppendSeries(key, timestamps, values, count, message)) {
    error = {kIo, message};
    return false;
  }
  active_->Append(BufferFor(key), timestamps, values, count);
  points_written_ += count;
  MaybeFreezeLocked(lock);
  return true;
}

bool Engine::WriteMany(const std::vector<std::string>& keys, const uint32_t* key_index, const int64_t* timestamps,
                       const double* values, size_t count, EngineError& error) {
  std::vector<std::string_view> views(keys.begin(), keys.end());
  std::unique_lock<std::shared_mutex> lock(state_mutex_);
  std::string message;
  if (options_.durability != Durability::kNone &&
      !wal_.AppendMany(keys, key_index, timestamps, values, count, message)) {
    error = {kIo, message};
    return false;
  }
  Ingest(views, key_index, timestamps, values, count);
  points_written_ += count;
  MaybeFreezeLocked(lock);
  return true;
}

void Engine::MaybeFreezeLocked(std::unique_lock<std::shared_mutex>& lock) {
  if (active_->bytes() < options_.memtable_bytes || stopping_) return;
  // Backpressure: memory stays bounded at two memtables; a writer waits for the previous flush.
  flush_wake_.wait(lock, [&] { return !immutable_ || stopping_; });
  if (!stopping_ && active_->bytes() >= options_.memtable_bytes) FreezeLocked();
}

void Engine::FreezeLocked() {
  std::string message;
  immutable_wal_sequence_ = wal_.Rotate(message);
  if (!message.empty()) background_error_ = message;
  immutable_ = std::shared_ptr<const Memtable>(active_.release());
  active_ = std::make_unique<Memtable>();
  flush_wake_.notify_all();
}

void Engine::FlushLoop() {
  std::unique_lock<std::shared_mutex> lock(state_mutex_);
  while (true) {
    flush_wake_.wait(lock, [&] { return stopping_ || immutable_; });
    if (!immutable_) break;  // stopping with nothing left to write
    lock.unlock();
    EngineError error;
    const bool written = WriteImmutable(error);
    lock.lock();
    if (!written) {
      // Keep the data in memory and in the log; say why in stats and retry later.
      background_error_ = error.message;
      flush_wake_.wait_for(lock, std::chrono::seconds(1));
      if (stopping_) break;
    }
  }
}

bool Engine::WriteImmutable(EngineError& error) {
  std::shared_ptr<const Memtable> frozen;
  uint64_t wal_sequence;
  uint64_t sequence;
  {
    std::shared_lock<std::shared_mutex> lock(state_mutex_);
    frozen = immutable_;
    wal_sequence = immutable_wal_sequence_;
    sequence = next_segment_sequence_;
  }
  std::string message;
  const std::string segment_dir = options_.dir + "/segments";
  std::unique_ptr<Segment> segment;
  {
    // One series at a time: sorted and deduplicated into buffers reused across series.
    SegmentWriter writer;
    if (!writer.Begin(segment_dir, sequence, message)) {
      error = {kIo, message};
      return false;
    }
    std::vector<int64_t> timestamps;
    std::vector<double> values;
    bool written = true;
    frozen->ForEach([&](const std::string& key, const SeriesBuffer& series) {
      if (!written) return;
      series.CopyRange(INT64_MIN, INT64_MAX, timestamps, values);
      written = writer.Add({key, timestamps.data(), values.data(), timestamps.size()}, message);
    });
    if (written && writer.points() > 0) written = writer.Finish(message);
    if (!written) {
      error = {kIo, message};
      return false;
    }
    if (writer.points() > 0) {
      segment = Segment::Open(segment_dir + "/" + HexSequence(sequence) + ".seg", message);
      if (!segment) {
        error = {kCorrupt, "a segment just written does not read back: " + message};
        return false;
      }
    }
  }
  {
    std::unique_lock<std::shared_mutex> lock(state_mutex_);
    if (segment) segments_.push_back(std::move(segment));
    next_segment_sequence_ = sequence + 1;
    immutable_.reset();
    flush_finishing_ = true;
    ++flushes_;
    background_error_.clear();
    compaction_requested_ = true;
  }
  flush_wake_.notify_all();  // writers waiting on memory may go on while the rollups are written
  compaction_wake_.notify_all();
  if (!options_.downsample.empty()) Downsample(*frozen);
  frozen.reset();
  ReturnFreedMemory();
  {
    std::unique_lock<std::shared_mutex> lock(state_mutex_);
    flush_finishing_ = false;
  }
  flush_wake_.notify_all();
  // The flushed points' log goes only once their rollups are in the log and synced: a crash
  // before that replays the points, and their next flush writes the rollups again.
  if (!options_.downsample.empty() && options_.durability != Durability::kNone && !wal_.Sync(message)) {
    std::unique_lock<std::shared_mutex> lock(state_mutex_);
    background_error_ = "downsampling: " + message;
    return true;  // the segment is written; the log stays until a later flush deletes it
  }
  wal_.DeleteThrough(wal_sequence);
  return true;
}

namespace {

constexpr const char* kOpNames[] = {"count", "sum", "avg", "min", "max", "first", "last"};

}  // namespace

void Engine::Downsample(const Memtable& flushed) {
  std::vector<int64_t> ts;
  std::vector<double> values;
  flushed.ForEach([&](const std::string& key, const SeriesBuffer& series) {
    if (series.timestamps.empty()) return;
    size_t tags_start;
    const std::string name = SeriesNameOfKey(key, tags_start);
    for (const DownsampleRule& rule : options_.downsample) {
      if (rule.series != name) continue;
      const int64_t every = rule.every_us;
      const int64_t first = FloorToBucket(series.min_timestamp, every);
      const int64_t last = FloorToBucket(series.max_timestamp, every);
      const int64_t range_end = last > INT64_MAX - every ? INT64_MAX : last + every - 1;
      EngineError error;
      if (!Scan(key, first, range_end, SIZE_MAX, ts, values, error)) {
        std::unique_lock<std::shared_mutex> lock(state_mutex_);
        background_error_ = "downsampling " + key + ": " + error.message;
        return;
      }
      // One pass over the points, bucket by bucket; one output column per op.
      std::vector<int64_t> bucket_starts;
      std::vector<std::vector<double>> outputs(7);
      for (size_t i = 0; i < ts.size();) {
        const int64_t bucket = FloorToBucket(ts[i], every);
        Accumulator accumulator;
        for (; i < ts.size() && FloorToBucket(ts[i], every) == bucket; ++i) accumulator.Add(values[i]);
        bucket_starts.push_back(bucket);
        for (int op = 0; op < 7; ++op) {
          if (rule.ops_mask & (1u << op)) outputs[op].push_back(accumulator.Result(static_cast<AggregateOp>(op)).value);
        }
      }
      for (int op = 0; op < 7; ++op) {
        if (!(rule.ops_mask & (1u << op)) || bucket_starts.empty()) continue;
        std::string out_key;
        AppendEscapedSeriesName(out_key, name + "." + kOpNames[op] + "_" + rule.label);
        out_key.append(key, tags_start, std::string::npos);
        if (!Write(out_key, bucket_starts.data(), outputs[op].data(), bucket_starts.size(), error)) {
          std::unique_lock<std::shared_mutex> lock(state_mutex_);
          background_error_ = "downsampling " + key + ": " + error.message;
        }
      }
    }
  });
}

bool Engine::Flush(EngineError& error) {
  std::unique_lock<std::shared_mutex> lock(state_mutex_);
  auto flushed = [&] { return (!immutable_ && !flush_finishing_) || stopping_; };
  flush_wake_.wait(lock, flushed);
  if (active_->points() > 0 && !stopping_) FreezeLocked();
  flush_wake_.wait(lock, flushed);
  if (!background_error_.empty()) {
    error = {kIo, background_error_};
    return false;
  }
  return true;
}

namespace {

// Collects the pieces of `key` overlapping [start, end], sorted by their first timestamp.
void CollectPieces(std::string_view key, int64_t start, int64_t end, ReadSnapshot& snapshot) {
  int priority = 0;
  for (const auto& segment : snapshot.segments) {
    ++priority;
    const std::vector<BlockMeta>* blocks = segment->Find(key);
    if (!blocks) continue;
    for (size_t i = 0; i < blocks->size(); ++i) {
      const BlockMeta& meta = (*blocks)[i];
      if (meta.max_time < start || meta.min_time > end) continue;
      snapshot.pieces.push_back({meta.min_time, meta.max_time, priority, segment.get(), blocks, i, nullptr, nullptr});
    }
  }
  for (int m = 0; m < 2; ++m) {
    ++priority;
    if (snapshot.memory_ts[m].empty()) continue;
    snapshot.pieces.push_back({snapshot.memory_ts[m].front(), snapshot.memory_ts[m].back(), priority, nullptr, nullptr, 0,
                               &snapshot.memory_ts[m], &snapshot.memory_values[m]});
  }
  std::sort(snapshot.pieces.begin(), snapshot.pieces.end(),
            [](const Piece& a, const Piece& b) { return a.min_time < b.min_time; });
}

// Decodes one piece's points within [start, end] into ts/values (appending), tagged with its priority.
bool LoadPiece(const Piece& piece, int64_t start, int64_t end, std::vector<int64_t>& ts, std::vector<double>& values,
               std::string& error) {
  const size_t before = ts.size();
  if (piece.segment) {
    if (!piece.segment->DecodeBlock(*piece.blocks, piece.block, ts, values, error)) return false;
  } else {
    ts.insert(ts.end(), piece.memory_timestamps->begin(), piece.memory_timestamps->end());
    values.insert(values.end(), piece.memory_values->begin(), piece.memory_values->end());
  }
  // Keep [start, end] only (the points are sorted within a piece).
  auto first = std::lower_bound(ts.begin() + static_cast<ptrdiff_t>(before), ts.end(), start);
  auto last = std::upper_bound(first, ts.end(), end);
  const size_t from = static_cast<size_t>(first - ts.begin());
  const size_t to = static_cast<size_t>(last - ts.begin());
  ts.erase(ts.begin() + static_cast<ptrdiff_t>(to), ts.end());
  values.erase(values.begin() + static_cast<ptrdiff_t>(to), values.end());
  ts.erase(ts.begin() + static_cast<ptrdiff_t>(before), ts.begin() + static_cast<ptrdiff_t>(from));
  values.erase(values.begin() + static_cast<ptrdiff_t>(before), values.begin() + static_cast<ptrdiff_t>(from));
  return true;
}

// Walks groups of overlapping pieces in time order. For a lone segment block inside the range,
// `whole_block` gets that piece (its block summary: (*piece.blocks)[piece.block]); otherwise `points` gets the group's merged, deduplicated points.
// The end of the group of overlapping pieces that starts at pieces[group_start].
size_t GroupEnd(const std::vector<Piece>& pieces, size_t group_start) {
  size_t group_end = group_start + 1;
  int64_t group_max = pieces[group_start].max_time;
  while (group_end < pieces.size() && pieces[group_end].min_time <= group_max) {
    group_max = std::max(group_max, pieces[group_end].max_time);
    ++group_end;
  }
  return group_end;
}

// Whether VisitGroups hands the group [group_start, group_end) to `whole_block`: one segment block,
// inside [start, end].
bool IsWholeBlock(const std::vector<Piece>& pieces, size_t group_start, size_t group_end, int64_t start, int64_t end) {
  const Piece& lone = pieces[group_start];
  return group_end == group_start + 1 && lone.segment && lone.min_time >= start && lone.max_time <= end;
}

// VisitGroups over pieces [first_piece, end_piece), which must be group boundaries.
template <typename WholeBlock, typename Points>
bool VisitGroupRange(const std::vector<Piece>& pieces, size_t first_piece, size_t end_piece, int64_t start, int64_t end,
                     WholeBlock&& whole_block, Points&& points, std::string& error) {
  std::vector<int64_t> ts;
  std::vector<double> values;
  std::vector<int> priorities;
  for (size_t group_start = first_piece; group_start < end_piece;) {
    const size_t group_end = GroupEnd(pieces, group_start);
    if (IsWholeBlock(pieces, group_start, group_end, start, end)) {
      if (!whole_block(pieces[group_start])) return true;
    } else {
      ts.clear();
      values.clear();
      priorities.clear();
      for (size_t i = group_start; i < group_end; ++i) {
        if (!LoadPiece(pieces[i], start, end, ts, values, error)) return false;
        priorities.resize(ts.size(), pieces[i].priority);
      }
      if (group_end > group_start + 1) {
        // Merge: order by (time, priority) and keep the newest write of each timestamp.
        std::vector<uint32_t> order(ts.size());
        for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
          return ts[a] != ts[b] ? ts[a] < ts[b] : priorities[a] < priorities[b];
        });
        std::vector<int64_t> merged_ts;
        std::vector<double> merged_values;
        for (size_t i = 0; i < order.size(); ++i) {
          if (i + 1 < order.size() && ts[order[i + 1]] == ts[order[i]]) continue;
          merged_ts.push_back(ts[order[i]]);
          merged_values.push_back(values[order[i]]);
        }
        ts.swap(merged_ts);
        values.swap(merged_values);
      }
      if (!points(ts, values)) return true;
    }
    group_start = group_end;
  }
  return true;
}

template <typename WholeBlock, typename Points>
bool VisitGroups(const ReadSnapshot& snapshot, int64_t start, int64_t end, WholeBlock&& whole_block, Points&& points,
                 std::string& error) {
  return VisitGroupRange(snapshot.pieces, 0, snapshot.pieces.size(), start, end, std::forward<WholeBlock>(whole_block),
                         std::forward<Points>(points), error);
}

}  // namespace

void Engine::Snapshot(std::string_view key, int64_t start, int64_t end, ReadSnapshot& snapshot) {
  {
    std::shared_lock<std::shared_mutex> lock(state_mutex_);
    snapshot.segments = segments_;
    if (immutable_) {
      if (const SeriesBuffer* series = immutable_->Find(key)) {
        series->CopyRange(start, end, snapshot.memory_ts[0], snapshot.memory_values[0]);
      }
    }
    if (const SeriesBuffer* series = active_->Find(key)) {
      series->CopyRange(start, end, snapshot.memory_ts[1], snapshot.memory_values[1]);
    }
  }
  CollectPieces(key, start, end, snapshot);
}

namespace {

// A group of overlapping pieces of a window query (GroupEnd), summarised.
struct WindowGroup {
  size_t first_piece, end_piece;
  uint64_t points;     // a bound: blocks cut by the range count whole
  int64_t low, high;   // its points' time range, clipped to the query's
  bool loose;          // its points bound counts points outside the range, or duplicates
  bool decoded;        // a whole block spanning windows: decoded (the others answer from summaries)
};

std::vector<WindowGroup> WindowGroups(const std::vector<Piece>& pieces, int64_t start, int64_t end, int64_t every) {
  std::vector<WindowGroup> groups;
  for (size_t group_start = 0; group_start < pieces.size();) {
    const size_t group_end = GroupEnd(pieces, group_start);
    WindowGroup group{group_start, group_end, 0, INT64_MAX, INT64_MIN, group_end > group_start + 1, false};
    for (size_t i = group_start; i < group_end; ++i) {
      const Piece& piece = pieces[i];
      group.loose |= piece.min_time < start || piece.max_time > end;
      group.points += piece.segment ? (*piece.blocks)[piece.block].count : piece.memory_timestamps->size();
      group.low = std::min(group.low, std::max(start, piece.min_time));
      group.high = std::max(group.high, std::min(end, piece.max_time));
    }
    const Piece& lone = pieces[group_start];
    group.decoded = IsWholeBlock(pieces, group_start, group_end, start, end) &&
                    FloorDivide(lone.min_time, every) != FloorDivide(lone.max_time, every);
    groups.push_back(group);
    group_start = group_end;
  }
  return groups;
}

// A run of whole groups of a window query, and where its windows go in the output.
struct WindowChunk {
  size_t first_group = 0, end_group = 0;
  uint64_t points = 0;
  int64_t low = INT64_MAX, high = INT64_MIN;
  size_t offset = 0, capacity = 0;
  size_t count = 0;
  std::string error;
};

// A bound on the windows of `chunk`: each holds at least one point, and they are distinct
// windows between the first and the last point. (Within a window of the ends of int64, window
// starts saturate or wrap: only the points bound holds there.)
size_t WindowBound(const WindowChunk& chunk, int64_t every) {
  if (chunk.points == 0 || chunk.high < chunk.low) return 0;
  if (chunk.low < INT64_MIN + every || chunk.high > INT64_MAX - every) return static_cast<size_t>(chunk.points);
  const uint64_t buckets = static_cast<uint64_t>(FloorDivide(chunk.high, every) - FloorDivide(chunk.low, every)) + 1;
  return static_cast<size_t>(std::min(chunk.points, buckets));
}

// Splitting a window query into chunks computed side by side needs this many points per chunk
// (~100 µs of work: starting a thread costs tens of microseconds), and at most this many chunks:
// enough that a helper thread descheduled by other load holds up only a small share of the query.
constexpr uint64_t kPointsPerChunk = 32768;
constexpr size_t kMaxChunks = 16;

// Cuts the groups into `wanted` chunks of about equal point counts (one chunk: all of them), only
// between groups whose points fall in different windows: then no window spans two chunks, and
// every window is computed by one aggregator exactly as a single pass would compute it.
std::vector<WindowChunk> CutIntoChunks(const std::vector<WindowGroup>& groups, int64_t every, size_t wanted) {
  uint64_t total = 0;
  for (const WindowGroup& group : groups) total += group.points;
  std::vector<WindowChunk> chunks(1);
  uint64_t done = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    const WindowGroup& group = groups[g];
    const bool full = chunks.size() < wanted && done * wanted >= total * chunks.size();
    // A loose group at either end (a block the range cuts) gets a chunk of its own, so the gap
    // its loose bound leaves moves few windows.
    const bool isolate = (g == 1 && groups[0].loose) || (g + 1 == groups.size() && group.loose);
    const bool clean_cut = g > 0 && chunks.back().points > 0 &&
                           FloorDivide(groups[g - 1].high, every) != FloorDivide(group.low, every);
    if ((full || (wanted > 1 && isolate)) && clean_cut) {
      WindowChunk next;
      next.first_group = next.end_group = g;
      chunks.push_back(next);
    }
    WindowChunk& chunk = chunks.back();
    chunk.end_group = g + 1;
    chunk.points += group.points;
    chunk.low = std::min(chunk.low, group.low);
    chunk.high = std::max(chunk.high, group.high);
    done += group.points;
  }
  return chunks;
}

}  // namespace

// Window results of at least this many rows (16 bytes each: 4 MiB, more than a core's share of
// the cache) are written past the cache where that is faster (window_writer.h); so are scans of
// as many points.
constexpr size_t kLargeWindowOutput = size_t{1} << 18;
constexpr size_t kLargeScanOutput = kLargeWindowOutput;

bool Engine::AggregateWindows(std::string_view key, int64_t start, int64_t end, int64_t every_us, AggregateOp op,
                              const std::function<ResultColumns(size_t)>& allocate, size_t& first,
                              size_t& count, EngineError& error) {
  first = count = 0;
  ReadSnapshot snapshot;
  Snapshot(key, start, end, snapshot);
  const std::vector<Piece>& pieces = snapshot.pieces;
  const std::vector<WindowGroup> groups = WindowGroups(pieces, start, end, every_us);
  size_t decoded_blocks = 0;
  for (const WindowGroup& group : groups) decoded_blocks += group.decoded;
  auto jobs_in = [&](const WindowChunk& chunk) {
    std::vector<BlockJob> jobs;
    for (size_t g = chunk.first_group; g < chunk.end_group; ++g) {
      const Piece& piece = pieces[groups[g].first_piece];
      if (groups[g].decoded) jobs.push_back({piece.segment, piece.blocks, piece.block});
    }
    return jobs;
  };

  // One pass, or chunks computed side by side when there are at least an eighth as many windows
  // as points: then writing the windows is a large share of the work (1 s windows over 10 s data
  // write 16 bytes per point), and splitting that as well as the decoding pays. With wide windows
  // the decode is nearly all the work, and it measured faster on one thread (docs/benchmarks.md).
  std::vector<WindowChunk> chunks = CutIntoChunks(groups, every_us, 1);
  const bool dense = WindowBound(chunks[0], every_us) * 8 >= chunks[0].points;
  const size_t wanted = static_cast<size_t>(std::min<uint64_t>(kMaxChunks, chunks[0].points / kPointsPerChunk));
  const unsigned threads = dense ? ThreadsForTasks(wanted, options_.query_threads) : 1;
  if (threads > 1) chunks = CutIntoChunks(groups, every_us, wanted);
  size_t capacity = 0;
  for (WindowChunk& chunk : chunks) {
    chunk.offset = capacity;
    chunk.capacity = WindowBound(chunk, every_us);
    capacity += chunk.capacity;
  }
  // Allocated here, on the calling thread (it may create JavaScript objects), once.
  const ResultColumns columns = allocate(capacity);

  // Sums and averages take a run's sum from running totals (one subtraction); the other ops need
  // the values themselves.
  const bool cumulative = op == AggregateOp::kSum || op == AggregateOp::kAvg || op == AggregateOp::kCount;
  auto compute = [&](WindowChunk& chunk, unsigned decode_helpers) {
    WindowAggregator windows(every_us, op, columns.times + chunk.offset, columns.values + chunk.offset,
                             chunk.capacity, capacity >= kLargeWindowOutput);
    ParallelBlockDecoder decoder(jobs_in(chunk), cumulative, decode_helpers);
    const size_t end_piece = chunk.end_group > chunk.first_group ? groups[chunk.end_group - 1].end_piece : 0;
    const size_t first_piece = chunk.end_group > chunk.first_group ? groups[chunk.first_group].first_piece : 0;
    const bool ok = VisitGroupRange(
        pieces, first_piece, end_piece, start, end,
        [&](const Piece& piece) {
          const BlockMeta& meta = (*piece.blocks)[piece.block];
          if (FloorDivide(meta.min_time, every_us) == FloorDivide(meta.max_time, every_us)) {
            windows.AddBlockSummary(FloorToBucket(meta.min_time, every_us), meta);
            return true;
          }
          DecodedBlock block;
          if (!decoder.Next(block, chunk.error)) return false;
          if (block.shape.decimal) {
            windows.AddDecimalBlock(block.shape, block.ts, block.integers, meta.count);
          } else {
            windows.AddPoints(block.ts, block.values, meta.count);
          }
          return true;
        },
        [&](const std::vector<int64_t>& ts, const std::vector<double>& vs) {
          windows.AddPoints(ts.data(), vs.data(), ts.size());
          return true;
        },
        chunk.error);
    if (ok && chunk.error.empty() && !windows.Finish(chunk.count)) {
      chunk.error = "more windows than points: the series' data is inconsistent";
    }
  };
  if (chunks.size() == 1) {
    // In one pass, helper threads can still decode blocks ahead of it (parallel_decoder.h).
    const unsigned helpers = dense && options_.query_threads != 1 ? ParallelBlockDecoder::HelpersFor(decoded_blocks) : 0;
    compute(chunks[0], options_.query_threads == 0 ? helpers : std::min(helpers, options_.query_threads - 1));
  } else {
    RunTasks(chunks.size(), threads, [&](size_t i) { compute(chunks[i], 0); });
  }
  for (const WindowChunk& chunk : chunks) {
    if (!chunk.error.empty()) {
      error = {kCorrupt, chunk.error};
      return false;
    }
  }
  // The chunks' windows end to end. They are apart only where a chunk's bound was loose: mostly
  // the first and last chunks, whose blocks the range cuts. So the chunk holding the most windows
  // stays, and the others move up to it (the first one towards the end of its space).
  size_t anchor = 0;
  for (size_t i = 1; i < chunks.size(); ++i) anchor = chunks[i].count > chunks[anchor].count ? i : anchor;
  auto move = [&](const WindowChunk& chunk, size_t to) {
    if (chunk.offset == to || chunk.count == 0) return;
    std::memmove(columns.times + to, columns.times + chunk.offset, chunk.count * sizeof(int64_t));
    std::memmove(columns.values + to, columns.values + chunk.offset, chunk.count * sizeof(double));
  };
  first = chunks[anchor].offset;
  for (size_t i = anchor; i-- > 0;) {
    first -= chunks[i].count;
    move(chunks[i], first);
  }
  count = chunks[anchor].offset + chunks[anchor].count - first;
  for (size_t i = anchor + 1; i < chunks.size(); ++i) {
    move(chunks[i], first + count);
    count += chunks[i].count;
  }
  return true;
}

bool Engine::Aggregate(std::string_view key, int64_t start, int64_t end, AggregateOp op, AggregateResult& result,
                       EngineError& error) {
  ReadSnapshot snapshot;
  Snapshot(key, start, end, snapshot);
  Accumulator accumulator;
  std::string message;
  const bool ok = VisitGroups(
      snapshot, start, end,
      [&](const Piece& piece) {
        accumulator.AddBlock((*piece.blocks)[piece.block]);
        return true;
      },
      [&](const std::vector<int64_t>& ts, const std::vector<double>& values) {
        if (!ts.empty()) accumulator.AddTimes(ts.front(), ts.back());
        for (double value : values) accumulator.Add(value);
        return true;
      },
      message);
  if (!ok) {
    error = {kCorrupt, message};
    return false;
  }
  result = accumulator.Result(op);
  return true;
}

bool Engine::Scan(std::string_view key, int64_t start, int64_t end, size_t limit,
                  const std::function<ResultColumns(size_t)>& allocate, size_t& count, EngineError& error) {
  count = 0;
  ReadSnapshot snapshot;
  Snapshot(key, start, end, snapshot);
  uint64_t points = 0;
  for (const Piece& piece : snapshot.pieces) {
    points += piece.segment ? (*piece.blocks)[piece.block].count : piece.memory_timestamps->size();
  }
  // Written straight into the result, allocated once from a bound on the points (a copy per point
  // from a block's decode buffer, which stays in cache, instead of growing vectors and copying
  // them out).
  const size_t capacity = static_cast<size_t>(std::min<uint64_t>(limit, points));
  const ResultColumns columns = allocate(capacity);
  // A result larger than a core's share of the cache is copied past it (stream_copy.h).
  const bool large = capacity >= kLargeScanOutput;
  std::string message;
  std::vector<int64_t> block_ts;
  std::vector<double> block_values;
  auto take = [&](const std::vector<int64_t>& ts, const std::vector<double>& v) {
    const size_t n = std::min(ts.size(), capacity - count);
    if (n > 0 && large) {
      StreamCopy(columns.times + count, ts.data(), n * sizeof(int64_t));
      StreamCopy(columns.values + count, v.data(), n * sizeof(double));
    } else if (n > 0) {
      std::memcpy(columns.times + count, ts.data(), n * sizeof(int64_t));
      std::memcpy(columns.values + count, v.data(), n * sizeof(double));
    }
    count += n;
    return count < capacity;
  };
  const bool ok = VisitGroups(
      snapshot, start, end,
      [&](const Piece& piece) {  // scans need the points: decode the block
        block_ts.clear();
        block_values.clear();
        if (!piece.segment->DecodeBlock(*piece.blocks, piece.block, block_ts, block_values, message)) return false;
        return take(block_ts, block_values);
      },
      take, message);
  if (!ok || !message.empty()) {
    error = {kCorrupt, message};
    return false;
  }
  return true;
}

bool Engine::Scan(std::string_view key, int64_t start, int64_t end, size_t limit, std::vector<int64_t>& timestamps,
                  std::vector<double>& values, EngineError& error) {
  size_t count = 0;
  const bool ok = Scan(
      key, start, end, limit,
      [&](size_t capacity) {
        timestamps.resize(capacity);
        values.resize(capacity);
        return ResultColumns{timestamps.data(), values.data()};
      },
      count, error);
  timestamps.resize(ok ? count : 0);
  values.resize(ok ? count : 0);
  return ok;
}

void Engine::CompactionLoop() {
  std::unique_lock<std::shared_mutex> lock(state_mutex_);
  while (!stopping_) {
    compaction_wake_.wait_for(lock, std::chrono::seconds(60), [&] { return stopping_ || compaction_requested_; });
    if (stopping_) break;
    compaction_requested_ = false;
    lock.unlock();
    if (options_.retention_us > 0) {
      const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
      ApplyRetention(now_us);
    }
    while (true) {
      std::lock_guard<std::mutex> merging(compaction_mutex_);
      std::vector<std::shared_ptr<const Segment>> group = PickCompactionGroup();
      if (group.empty()) break;
      EngineError error;
      if (!MergeSegments(group, error)) {
        std::unique_lock<std::shared_mutex> state(state_mutex_);
        background_error_ = error.message;
        break;
      }
      std::shared_lock<std::shared_mutex> state(state_mutex_);
      if (stopping_) break;
    }
    lock.lock();
  }
}

std::vector<std::shared_ptr<const Segment>> Engine::PickCompactionGroup() {
  std::shared_lock<std::shared_mutex> lock(state_mutex_);
  if (options_.compaction_trigger == 0) return {};
  const size_t trigger = std::max<uint32_t>(2, options_.compaction_trigger);
  // Size-tiered: the first run of `trigger` or more consecutive segments whose sizes are within 4x.
  for (size_t first = 0; first + trigger <= segments_.size(); ++first) {
    uint64_t smallest = segments_[first]->file_bytes(), largest = smallest;
    size_t last = first + 1;
    while (last < segments_.size()) {
      const uint64_t size = segments_[last]->file_bytes();
      if (std::max(largest, size) > 4 * std::min(smallest, size)) break;
      smallest = std::min(smallest, size);
      largest = std::max(largest, size);
      ++last;
    }
    if (last - first >= trigger) return {segments_.begin() + first, segments_.begin() + last};
  }
  return {};
}

bool Engine::MergeSegments(const std::vector<std::shared_ptr<const Segment>>& group, EngineError& error) {
  const int64_t drop_before =
      options_.retention_us > 0
          ? std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
                    .count() -
                options_.retention_us
          : INT64_MIN;
  const std::string segment_dir = options_.dir + "/segments";
  const uint64_t sequence = group.back()->sequence();
  std::string message;
  SegmentWriter writer;
  if (!writer.Begin(segment_dir, sequence, message)) {
    error = {kIo, message};
    return false;
  }
  // Walk the inputs' sorted key lists together; for each key merge its points, newest input winning.
  std::vector<size_t> cursor(group.size(), 0);
  std::vector<int64_t> ts, merged_ts;
  std::vector<double> values, merged_values;
  std::vector<uint32_t> priority, order;
  while (true) {
    const std::string* next_key = nullptr;
    for (size_t i = 0; i < group.size(); ++i) {
      if (cursor[i] < group[i]->keys().size() && (!next_key || group[i]->keys()[cursor[i]] < *next_key)) {
        next_key = &group[i]->keys()[cursor[i]];
      }
    }
    if (!next_key) break;
    const std::string key = *next_key;
    ts.clear();
    values.clear();
    priority.clear();
    for (size_t i = 0; i < group.size(); ++i) {
      if (cursor[i] >= group[i]->keys().size() || group[i]->keys()[cursor[i]] != key) continue;
      const std::vector<BlockMeta>& blocks = group[i]->blocks_of(cursor[i]);
      for (size_t b = 0; b < blocks.size(); ++b) {
        if (blocks[b].max_time < drop_before) continue;
        if (!group[i]->DecodeBlock(blocks, b, ts, values, message)) {
          error = {kCorrupt, "compaction stopped: " + message};
          return false;
        }
      }
      priority.resize(ts.size(), static_cast<uint32_t>(i));
      group[i]->ReleaseBlockPages(blocks);
      ++cursor[i];
    }
    order.resize(ts.size());
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return ts[a] != ts[b] ? ts[a] < ts[b] : priority[a] < priority[b];
    });
    merged_ts.clear();
    merged_values.clear();
    for (size_t i = 0; i < order.size(); ++i) {
      if (i + 1 < order.size() && ts[order[i + 1]] == ts[order[i]]) continue;
      if (ts[order[i]] < drop_before) continue;
      merged_ts.push_back(ts[order[i]]);
      merged_values.push_back(values[order[i]]);
    }
    if (!writer.Add({key, merged_ts.data(), merged_values.data(), merged_ts.size()}, message)) {
      error = {kIo, message};
      return false;
    }
  }
  if (!writer.Finish(message)) {
    error = {kIo, message};
    return false;
  }
  const std::string merged_path = segment_dir + "/" + HexSequence(sequence) + ".seg";
  std::shared_ptr<const Segment> merged = Segment::Open(merged_path, message);
  if (!merged) {
    error = {kCorrupt, "a merged segment does not read back: " + message};
    return false;
  }
  {
    std::unique_lock<std::shared_mutex> lock(state_mutex_);
    auto first = std::find(segments_.begin(), segments_.end(), group.front());
    segments_.erase(first, first + static_cast<ptrdiff_t>(group.size()));
    segments_.insert(segments_.begin() + (first - segments_.begin()), merged);
    ++compactions_;
  }
  // The newest input's file was replaced by the rename; the others go now.
  for (size_t i = 0; i + 1 < group.size(); ++i) unlink(group[i]->path().c_str());
  SyncDirectory(segment_dir);
  ReturnFreedMemory();
  return true;
}

bool Engine::Compact(EngineError& error) {
  std::lock_guard<std::mutex> merging(compaction_mutex_);
  std::vector<std::shared_ptr<const Segment>> all;
  {
    std::shared_lock<std::shared_mutex> lock(state_mutex_);
    all = segments_;
  }
  if (all.size() < 2 && (all.empty() || options_.retention_us == 0)) return true;
  return MergeSegments(all, error);
}

uint64_t Engine::ApplyRetention(int64_t now_us) {
  if (options_.retention_us <= 0) return 0;
  std::lock_guard<std::mutex> merging(compaction_mutex_);
  const int64_t cutoff = now_us - options_.retention_us;
  std::vector<std::shared_ptr<const Segment>> expired;
  {
    std::unique_lock<std::shared_mutex> lock(state_mutex_);
    for (auto it = segments_.begin(); it != segments_.end();) {
      if ((*it)->max_time() < cutoff) {
        expired.push_back(*it);
        it = segments_.erase(it);
      } else {
        ++it;
      }
    }
    retention_dropped_ += expired.size();
  }
  for (const auto& segment : expired) unlink(segment->path().c_str());
  if (!expired.empty()) SyncDirectory(options_.dir + "/segments");
  return expired.size();
}

EngineStats Engine::Stats() {
  EngineStats stats;
  std::shared_lock<std::shared_mutex> lock(state_mutex_);
  stats.memtable_points = active_->points() + (immutable_ ? immutable_->points() : 0);
  stats.memtable_bytes = active_->bytes() + (immutable_ ? immutable_->bytes() : 0);
  stats.memtable_series = active_->series_count();
  stats.segments = segments_.size();
  for (const auto& segment : segments_) {
    stats.segment_bytes += segment->file_bytes();
    stats.segment_points += segment->points();
  }
  stats.wal_bytes_written = wal_.bytes_written();
  stats.wal_unsynced_bytes = wal_.unsynced_bytes();
  stats.points_written = points_written_;
  stats.series = catalog_.size();
  stats.flushes = flushes_;
  stats.compactions = compactions_;
  stats.segments_dropped_by_retention = retention_dropped_;
  stats.recovered_points = recovery_.points;
  stats.recovered_truncated_bytes = recovery_.truncated_bytes;
  stats.unreadable_segments = unreadable_segments_;
  stats.background_error = background_error_;
  return stats;
}

}  // namespace sluice
