// Small POSIX helpers the storage files share: whole writes, fsync of a directory, listing.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

// Writes every byte of the iovecs (retrying short writes and EINTR). False with errno set on failure.
bool WriteAllV(int fd, struct iovec* parts, int count);
// The same at `offset` (pwritev; the file position does not move).
bool WriteAllVAt(int fd, struct iovec* parts, int count, int64_t offset);
bool WriteAll(int fd, const void* data, size_t length);
// Opens `path` with `flags` and reads its size; -1 with `error` set on failure.
int OpenWithSize(const std::string& path, int flags, size_t& size, std::string& error);
// Makes a rename or unlink in `dir` durable.
bool SyncDirectory(const std::string& dir);
// Names in `dir` that end with `suffix`, sorted.
std::vector<std::string> ListFiles(const std::string& dir, const std::string& suffix);
// 16 lower-case hex digits: names that sort in numeric order.
std::string HexSequence(uint64_t sequence);
std::string ErrnoText(const std::string& what);

}  // namespace sluice
