#include "dir_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace sluice {

bool DirLock::Acquire(const std::string& dir, std::string& error, long& locked_by_pid) {
  locked_by_pid = 0;
  if (fd_ >= 0) return true;
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    error = "cannot create data directory " + dir + ": " + std::strerror(errno);
    return false;
  }
  const std::string path = dir + "/LOCK";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "cannot open lock file " + path + ": " + std::strerror(errno);
    return false;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int lock_errno = errno;
    char buffer[32] = {0};
    ssize_t n = pread(fd, buffer, sizeof(buffer) - 1, 0);
    close(fd);
    if (lock_errno == EWOULDBLOCK) {
      locked_by_pid = n > 0 ? std::strtol(buffer, nullptr, 10) : 0;
      error = "data directory " + dir + " is in use by " +
              (locked_by_pid == static_cast<long>(getpid()) ? std::string("this process")
                                                            : "process " + std::to_string(locked_by_pid)) +
              " (lock file " + path + "); stop it or use another data directory";
    } else {
      error = "cannot lock " + path + ": " + std::strerror(lock_errno);
    }
    return false;
  }
  // The PID is only for the message above; the flock is the lock.
  const std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    error = "cannot write lock file " + path + ": " + std::strerror(errno);
    close(fd);
    return false;
  }
  fd_ = fd;
  return true;
}

void DirLock::Release() {
  if (fd_ < 0) return;
  close(fd_);  // drops the flock
  fd_ = -1;
}

}  // namespace sluice
