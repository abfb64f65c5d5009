// The write-ahead log. A write is acknowledged once its record is in the log (in the kernel's page
// cache, so it survives kill -9; in `sync` mode also fsynced, so it survives power loss).
//
// Records are copied into a shared mapping of a preallocated file rather than written with a
// system call each: the stores land in the page cache all the same, at a quarter of the cost of a
// writev for a one-point record. Records of 64 KiB or more go in with one pwritev into the same
// file, which costs less than faulting in their pages. A file that fills up is retired (synced by
// the `batch` thread, then cut to its length) and a new one mapped. Where the file system cannot
// preallocate, every record is written with writev instead.
//
// Files: <dir>/wal/<16 hex digits>.wal, each starting with the 8-byte magic "SLWAL001", then records:
//   [payload length u32][CRC-32C of payload u32][payload]
// payload, kind 1 (one series): [1 u8][key length u16][key][count u32][count × i64 µs][count × f64]
// payload, kind 2 (many series): [2 u8][key count u32][key count × (length u16, key)][count u32]
//                                [count × u32 key index][count × i64 µs][count × f64]
// Little-endian. Recovery reads records in order and cuts a file at the first record that is
// short or fails its checksum (a torn tail), so it is never read as data. Zeros after the last
// record are the unused part of a preallocated file, not a torn tail.
#pragma once

#include <sys/uio.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sluice {

enum class Durability : uint8_t { kNone = 0, kBatch = 1, kSync = 2 };

// One decoded record: either one key for every point, or a key index per point.
struct WalBatch {
  std::vector<std::string_view> keys;
  const uint32_t* key_index = nullptr;  // null: every point belongs to keys[0]
  const int64_t* timestamps = nullptr;   // unaligned-safe copies (see Replay)
  const double* values = nullptr;
  size_t count = 0;
};

struct WalRecoveryStats {
  uint64_t records = 0;
  uint64_t points = 0;
  uint64_t truncated_bytes = 0;  // torn tails cut
  uint64_t files = 0;
};

class Wal {
 public:
  Wal() = default;
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;
  ~Wal();

  // Opens <dir>/wal (created if missing). Call Replay before the first append.
  // `mapped`: records are copied into mapped, preallocated files (false: one writev each).
  bool Open(const std::string& data_dir, Durability durability, uint32_t sync_interval_ms, bool mapped,
            std::string& error);
  // Feeds every intact record, oldest first, to `apply`, cutting torn tails; then opens a new file.
  bool Replay(const std::function<void(const WalBatch&)>& apply, WalRecoveryStats& stats, std::string& error);

  bool AppendSeries(std::string_view key, const int64_t* timestamps, const double* values, size_t count,
                    std::string& error);
  bool AppendMany(const std::vector<std::string>& keys, const uint32_t* key_index, const int64_t* timestamps,
                  const double* values, size_t count, std::string& error);

  // Starts a new file; every file up to the returned sequence may be deleted once the data they
  // hold is in a durable segment (DeleteThrough).
  uint64_t Rotate(std::string& error);
  void DeleteThrough(uint64_t sequence);
  // fdatasync now (close and the `batch` timer use it).
  bool Sync(std::string& error);
  void Close();

  uint64_t bytes_written() const { return bytes_written_; }
  uint64_t unsynced_bytes() const;
  // Bytes appended, and bytes known to be on disk (fsynced; in `none` mode nothing ever is), read
  // together: a write is durable once `synced` reaches the `written` seen right after it.
  void Positions(uint64_t& written, uint64_t& synced) const;
  Durability durability() const { return durability_; }

 private:
  struct File;
  // Opens the next file with room for a record of `record_bytes` (header included).
  bool OpenNewFile(size_t record_bytes, std::string& error);
  // Opens the next file (room for `record_bytes`) and retires the current one to the list the
  // `batch` thread syncs; on failure the current file stays.
  bool SwitchFileLocked(size_t record_bytes, std::string& error);
  bool AppendRecord(struct iovec* parts, int count, size_t payload_length, std::string& error);
  void SyncLoop();

  std::string dir_;
  Durability durability_ = Durability::kBatch;
  uint32_t sync_interval_ms_ = 100;
  bool mapped_ = true;
  uint64_t next_sequence_ = 1;

  mutable std::mutex mutex_;  // guards current_, retiring_, bytes counters
  std::shared_ptr<File> current_;
  // Files no longer appended to whose records may not be on disk yet: the next Sync syncs them
  // before it counts their bytes as synced, then lets them go.
  std::vector<std::shared_ptr<File>> retiring_;
  uint64_t bytes_written_ = 0;
  uint64_t bytes_synced_ = 0;

  std::mutex sync_mutex_;
  std::condition_variable sync_wake_;
  bool stopping_ = false;
  std::thread sync_thread_;
};

}  // namespace sluice
