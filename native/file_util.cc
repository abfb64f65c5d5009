#include "file_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace sluice {

bool WriteAllV(int fd, struct iovec* parts, int count) { return WriteAllVAt(fd, parts, count, -1); }

bool WriteAllVAt(int fd, struct iovec* parts, int count, int64_t offset) {
  while (count > 0) {
    ssize_t written = offset < 0 ? writev(fd, parts, std::min(count, IOV_MAX))
                                 : pwritev(fd, parts, std::min(count, IOV_MAX), static_cast<off_t>(offset));
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    size_t left = static_cast<size_t>(written);
    if (offset >= 0) offset += written;
    while (count > 0 && left >= parts->iov_len) {
      left -= parts->iov_len;
      ++parts;
      --count;
    }
    if (count > 0) {
      parts->iov_base = static_cast<char*>(parts->iov_base) + left;
      parts->iov_len -= left;
    }
  }
  return true;
}

bool WriteAll(int fd, const void* data, size_t length) {
  struct iovec part = {const_cast<void*>(data), length};
  return WriteAllV(fd, &part, 1);
}

int OpenWithSize(const std::string& path, int flags, size_t& size, std::string& error) {
  int fd = open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) {
    error = ErrnoText("cannot open " + path);
    return -1;
  }
  struct stat info;
  if (fstat(fd, &info) != 0) {
    error = ErrnoText("cannot stat " + path);
    close(fd);
    return -1;
  }
  size = static_cast<size_t>(info.st_size);
  return fd;
}

bool SyncDirectory(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = fsync(fd) == 0;
  close(fd);
  return ok;
}

std::vector<std::string> ListFiles(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> names;
  DIR* handle = opendir(dir.c_str());
  if (!handle) return names;
  while (struct dirent* entry = readdir(handle)) {
    std::string name = entry->d_name;
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      names.push_back(std::move(name));
    }
  }
  closedir(handle);
  std::sort(names.begin(), names.end());
  return names;
}

std::string HexSequence(uint64_t sequence) {
  char buffer[17];
  std::snprintf(buffer, sizeof(buffer), "%016llx", static_cast<unsigned long long>(sequence));
  return buffer;
}

std::string ErrnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace sluice
