#include "wal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "bit_io.h"
#include "checksum.h"
#include "file_util.h"

namespace sluice {
namespace {

constexpr char kMagic[8] = {'S', 'L', 'W', 'A', 'L', '0', '0', '1'};
constexpr uint8_t kKindSeries = 1;
constexpr uint8_t kKindMany = 2;
// A record bigger than this is refused on write and treated as corruption on read.
constexpr uint32_t kMaxPayloadBytes = 512u << 20;
// A mapped file's size: large enough that rotating is rare at any write rate, small enough to
// preallocate on a small device. A bigger record gets a file of its own size.
constexpr size_t kMappedFileBytes = 32u << 20;
constexpr size_t kMappedFileGrain = 1u << 20;
// Records at least this big are written with pwritev rather than copied into the mapping.
constexpr size_t kCopiedRecordLimit = 64u << 10;

bool IsAllZero(const uint8_t* p, size_t length) {
  for (size_t i = 0; i < length; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

}  // namespace

struct Wal::File {
  int fd = -1;
  uint64_t sequence = 0;
  // The shared mapping records are copied into; null when records are written with writev.
  uint8_t* base = nullptr;
  size_t capacity = 0;
  size_t used = 0;  // bytes of the file holding the magic and whole records
  // Pages below this offset were dropped from the process's resident set (MADV_DONTNEED); their
  // bytes stay in the page cache and the file.
  size_t released = 0;
  ~File() {
    if (base != nullptr) {
      munmap(base, capacity);
      // The preallocated tail goes back to the file system; a crash before this leaves zeros that
      // recovery recognises.
      if (ftruncate(fd, static_cast<off_t>(used)) != 0) {
        // Nothing to do: the zeros are harmless, and the file is deleted after the next flush.
      }
    }
    if (fd >= 0) close(fd);
  }
};

Wal::~Wal() { Close(); }

bool Wal::Open(const std::string& data_dir, Durability durability, uint32_t sync_interval_ms, bool mapped,
               std::string& error) {
  dir_ = data_dir + "/wal";
  durability_ = durability;
  mapped_ = mapped;
  sync_interval_ms_ = sync_interval_ms == 0 ? 1 : sync_interval_ms;
  if (mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST) {
    error = ErrnoText("cannot create " + dir_);
    return false;
  }
  return true;
}

bool Wal::Replay(const std::function<void(const WalBatch&)>& apply, WalRecoveryStats& stats, std::string& error) {
  std::vector<std::string> names = ListFiles(dir_, ".wal");
  std::vector<uint8_t> buffer;
  std::vector<int64_t> timestamps;
  std::vector<double> values;
  std::vector<uint32_t> key_index;
  for (const std::string& name : names) {
    const std::string path = dir_ + "/" + name;
    next_sequence_ = std::max<uint64_t>(next_sequence_, std::strtoull(name.c_str(), nullptr, 16) + 1);
    size_t size;
    int fd = OpenWithSize(path, O_RDWR, size, error);
    if (fd < 0) return false;
    buffer.resize(size);
    size_t got = 0;
    while (got < buffer.size()) {
      ssize_t n = pread(fd, buffer.data() + got, buffer.size() - got, static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    buffer.resize(got);
    ++stats.files;
    size_t good_end = 0;
    if (buffer.size() >= sizeof(kMagic) && std::memcmp(buffer.data(), kMagic, sizeof(kMagic)) == 0) {
      good_end = sizeof(kMagic);
      const uint8_t* p = buffer.data() + good_end;
      const uint8_t* file_end = buffer.data() + buffer.size();
      while (true) {
        uint32_t length, crc;
        if (!ReadScalar(p, file_end, length) || !ReadScalar(p, file_end, crc)) break;
        if (length > kMaxPayloadBytes || static_cast<size_t>(file_end - p) < length) break;
        if (Crc32c(p, length) != crc) break;
        const uint8_t* payload_end = p + length;
        // Decode into aligned copies: the record's arrays may sit at any offset.
        WalBatch batch;
        uint8_t kind;
        bool ok = ReadScalar(p, payload_end, kind);
        std::vector<std::string_view>& keys = batch.keys;
        if (ok && kind == kKindSeries) {
          uint16_t key_length;
          ok = ReadScalar(p, payload_end, key_length) && static_cast<size_t>(payload_end - p) >= key_length;
          if (ok) {
            keys.emplace_back(reinterpret_cast<const char*>(p), key_length);
            p += key_length;
          }
        } else if (ok && kind == kKindMany) {
          uint32_t key_count;
          ok = ReadScalar(p, payload_end, key_count) && key_count <= length;
          for (uint32_t i = 0; ok && i < key_count; ++i) {
            uint16_t key_length;
            ok = ReadScalar(p, payload_end, key_length) && static_cast<size_t>(payload_end - p) >= key_length;
            if (ok) {
              keys.emplace_back(reinterpret_cast<const char*>(p), key_length);
              p += key_length;
            }
          }
        } else {
          ok = false;
        }
        uint32_t count = 0;
        ok = ok && ReadScalar(p, payload_end, count);
        const size_t per_point = kind == kKindMany ? 20 : 16;
        ok = ok && static_cast<size_t>(payload_end - p) == static_cast<size_t>(count) * per_point && !keys.empty();
        if (!ok) break;  // a record with a valid checksum but a bad shape: stop here like a torn tail
        if (kind == kKindMany) {
          key_index.resize(count);
          std::memcpy(key_index.data(), p, count * 4u);
          p += count * 4u;
          for (uint32_t index : key_index) {
            if (index >= keys.size()) ok = false;
          }
          if (!ok) break;
          batch.key_index = key_index.data();
        }
        timestamps.resize(count);
        values.resize(count);
        std::memcpy(timestamps.data(), p, count * 8u);
        std::memcpy(values.data(), p + count * 8u, count * 8u);
        batch.timestamps = timestamps.data();
        batch.values = values.data();
        batch.count = count;
        apply(batch);
        ++stats.records;
        stats.points += count;
        p = payload_end;
        good_end = static_cast<size_t>(p - buffer.data());
      }
    }
    if (good_end < buffer.size()) {
      if (!IsAllZero(buffer.data() + good_end, buffer.size() - good_end)) stats.truncated_bytes += buffer.size() - good_end;
      if (ftruncate(fd, static_cast<off_t>(good_end)) != 0 || fdatasync(fd) != 0) {
        error = ErrnoText("cannot cut the torn tail of " + path);
        close(fd);
        return false;
      }
    }
    close(fd);
  }
  if (!OpenNewFile(0, error)) return false;
  if (durability_ == Durability::kBatch) sync_thread_ = std::thread(&Wal::SyncLoop, this);
  return true;
}

bool Wal::OpenNewFile(size_t record_bytes, std::string& error) {
  auto file = std::make_shared<File>();
  file->sequence = next_sequence_++;
  const std::string path = dir_ + "/" + HexSequence(file->sequence) + ".wal";
  file->fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (file->fd < 0) {
    error = ErrnoText("cannot create " + path);
    return false;
  }
  const size_t wanted = sizeof(kMagic) + record_bytes;
  const size_t capacity =
      std::max(kMappedFileBytes, (wanted + kMappedFileGrain - 1) / kMappedFileGrain * kMappedFileGrain);
  // Preallocated, so a store into the mapping never meets a full disk (which would be SIGBUS). With
  // durability `none` nothing is ever logged: the file only marks the sequence.
  if (durability_ == Durability::kNone || !mapped_) {
    // falls through to the unmapped file below
  } else if (fallocate(file->fd, 0, 0, static_cast<off_t>(capacity)) == 0) {
    void* base = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_SHARED, file->fd, 0);
    if (base != MAP_FAILED) {
      file->base = static_cast<uint8_t*>(base);
      file->capacity = capacity;
    } else if (ftruncate(file->fd, 0) != 0) {
      error = ErrnoText("cannot map or reset " + path);
      return false;
    }
  } else if (ftruncate(file->fd, 0) != 0) {
    // No preallocation (a file system without it, or too little free space for a whole file):
    // this file takes records with writev, so writing goes on until the disk is really full.
    error = ErrnoText("cannot reset " + path);
    return false;
  }
  if (file->base != nullptr) {
    std::memcpy(file->base, kMagic, sizeof(kMagic));
  } else {
    // No preallocation here (or no mapping): every record is written with writev at the end.
    if (fcntl(file->fd, F_SETFL, O_APPEND) != 0 || !WriteAll(file->fd, kMagic, sizeof(kMagic))) {
      error = ErrnoText("cannot write " + path);
      return false;
    }
  }
  file->used = sizeof(kMagic);
  if (durability_ != Durability::kNone) SyncDirectory(dir_);
  current_ = std::move(file);
  return true;
}

bool Wal::SwitchFileLocked(size_t record_bytes, std::string& error) {
  std::shared_ptr<File> previous = current_;
  // OpenNewFile replaces current_ only when it succeeds: a failure leaves the log as it was.
  if (!OpenNewFile(record_bytes, error)) return false;
  // In `sync` mode every record of the previous file was synced as it was written.
  if (previous && durability_ == Durability::kBatch) retiring_.push_back(std::move(previous));
  return true;
}

bool Wal::AppendRecord(struct iovec* parts, int count, size_t payload_length, std::string& error) {
  if (payload_length > kMaxPayloadBytes) {
    error = "a write of " + std::to_string(payload_length) + " bytes is more than one log record holds (" +
            std::to_string(kMaxPayloadBytes) + "); split the batch";
    return false;
  }
  uint32_t crc = 0;
  for (int i = 1; i < count; ++i) crc = Crc32c(parts[i].iov_base, parts[i].iov_len, crc);
  uint32_t header[2] = {static_cast<uint32_t>(payload_length), crc};
  parts[0] = {header, sizeof(header)};
  const size_t record_bytes = sizeof(header) + payload_length;
  std::shared_ptr<File> file;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!current_) {
      error = "the write-ahead log is closed";
      return false;
    }
    if (current_->base != nullptr && current_->used + record_bytes > current_->capacity &&
        !SwitchFileLocked(record_bytes, error)) {
      return false;
    }
    file = current_;
    if (file->base != nullptr && record_bytes >= kCopiedRecordLimit) {
      // Big records go in with one pwritev into the same (preallocated) pages: copying them into
      // the mapping would take a page fault for every page on top of the copy.
      if (!WriteAllVAt(file->fd, parts, count, static_cast<int64_t>(file->used))) {
        error = ErrnoText("write-ahead log write failed");
        return false;
      }
    } else if (file->base != nullptr) {
      uint8_t* out = file->base + file->used;
      for (int i = 0; i < count; ++i) {
        std::memcpy(out, parts[i].iov_base, parts[i].iov_len);
        out += parts[i].iov_len;
      }
    } else if (!WriteAllV(file->fd, parts, count)) {
      error = ErrnoText("write-ahead log write failed");
      return false;
    }
    file->used += record_bytes;
    bytes_written_ += record_bytes;
  }
  if (durability_ == Durability::kSync) {
    if (fdatasync(file->fd) != 0) {
      error = ErrnoText("write-ahead log fdatasync failed");
      return false;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    bytes_synced_ = bytes_written_;
  }
  return true;
}

bool Wal::AppendSeries(std::string_view key, const int64_t* timestamps, const double* values, size_t count,
                       std::string& error) {
  uint8_t kind = kKindSeries;
  uint16_t key_length = static_cast<uint16_t>(key.size());
  uint32_t point_count = static_cast<uint32_t>(count);
  struct iovec parts[7] = {
      {nullptr, 0},
      {&kind, 1},
      {&key_length, 2},
      {const_cast<char*>(key.data()), key.size()},
      {&point_count, 4},
      {const_cast<int64_t*>(timestamps), count * 8},
      {const_cast<double*>(values), count * 8},
  };
  return AppendRecord(parts, 7, 1 + 2 + key.size() + 4 + count * 16, error);
}

bool Wal::AppendMany(const std::vector<std::string>& keys, const uint32_t* key_index, const int64_t* timestamps,
                     const double* values, size_t count, std::string& error) {
  std::vector<uint8_t> head;
  head.push_back(kKindMany);
  uint32_t key_count = static_cast<uint32_t>(keys.size());
  head.insert(head.end(), reinterpret_cast<uint8_t*>(&key_count), reinterpret_cast<uint8_t*>(&key_count) + 4);
  for (const std::string& key : keys) {
    uint16_t key_length = static_cast<uint16_t>(key.size());
    head.insert(head.end(), reinterpret_cast<uint8_t*>(&key_length), reinterpret_cast<uint8_t*>(&key_length) + 2);
    head.insert(head.end(), key.begin(), key.end());
  }
  uint32_t point_count = static_cast<uint32_t>(count);
  head.insert(head.end(), reinterpret_cast<uint8_t*>(&point_count), reinterpret_cast<uint8_t*>(&point_count) + 4);
  struct iovec parts[5] = {
      {nullptr, 0},
      {head.data(), head.size()},
      {const_cast<uint32_t*>(key_index), count * 4},
      {const_cast<int64_t*>(timestamps), count * 8},
      {const_cast<double*>(values), count * 8},
  };
  return AppendRecord(parts, 5, head.size() + count * 20, error);
}

uint64_t Wal::Rotate(std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  const uint64_t finished = current_ ? current_->sequence : 0;
  // The finished file is synced by the `batch` thread (or was, record by record, in `sync` mode):
  // not here, where the caller holds the engine's write lock.
  SwitchFileLocked(0, error);
  return finished;
}

void Wal::DeleteThrough(uint64_t sequence) {
  for (const std::string& name : ListFiles(dir_, ".wal")) {
    if (std::strtoull(name.c_str(), nullptr, 16) <= sequence) unlink((dir_ + "/" + name).c_str());
  }
  if (durability_ != Durability::kNone) SyncDirectory(dir_);
}

bool Wal::Sync(std::string& error) {
  std::vector<std::shared_ptr<File>> files;
  uint64_t written;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    files = retiring_;
    if (current_) files.push_back(current_);
    written = bytes_written_;
  }
  if (durability_ == Durability::kNone) return true;
  for (const std::shared_ptr<File>& file : files) {
    if (fdatasync(file->fd) != 0) {
      error = ErrnoText("write-ahead log fdatasync failed");
      return false;
    }
  }
  uint8_t* release_from = nullptr;
  size_t release_bytes = 0;
  std::shared_ptr<File> still_current;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    bytes_synced_ = std::max(bytes_synced_, written);
    // Synced retired files go (unmapped and cut to their length as the last reference drops).
    retiring_.erase(std::remove_if(retiring_.begin(), retiring_.end(),
                                   [&](const std::shared_ptr<File>& file) {
                                     return std::find(files.begin(), files.end(), file) != files.end();
                                   }),
                    retiring_.end());
    // Whole pages below the one being appended to never change again: they leave the process's
    // memory (staying in the page cache and the file), so a mapped log does not grow the resident
    // set. Safe even for pages not yet synced: the kernel keeps a shared page's dirty state.
    if (current_ && current_->base != nullptr) {
      const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
      const size_t below = current_->used / page * page;
      if (below > current_->released) {
        still_current = current_;  // keeps the mapping alive while it is advised, unlocked
        release_from = current_->base + current_->released;
        release_bytes = below - current_->released;
        current_->released = below;
      }
    }
  }
  if (release_bytes > 0) madvise(release_from, release_bytes, MADV_DONTNEED);
  return true;
}

void Wal::Positions(uint64_t& written, uint64_t& synced) const {
  std::lock_guard<std::mutex> lock(mutex_);
  written = bytes_written_;
  synced = bytes_synced_;
}

uint64_t Wal::unsynced_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_written_ - bytes_synced_;
}

void Wal::SyncLoop() {
  std::unique_lock<std::mutex> lock(sync_mutex_);
  while (!stopping_) {
    sync_wake_.wait_for(lock, std::chrono::milliseconds(sync_interval_ms_));
    if (stopping_) break;
    if (unsynced_bytes() == 0) continue;
    lock.unlock();
    std::string ignored;  // a failing fsync shows in unsynced_bytes (stats) and fails the next Sync
    Sync(ignored);
    lock.lock();
  }
}

void Wal::Close() {
  {
    std::lock_guard<std::mutex> lock(sync_mutex_);
    stopping_ = true;
  }
  sync_wake_.notify_all();
  if (sync_thread_.joinable()) sync_thread_.join();
  std::string ignored;
  Sync(ignored);
  std::lock_guard<std::mutex> lock(mutex_);
  current_.reset();
  retiring_.clear();
}

}  // namespace sluice
