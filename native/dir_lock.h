// Exclusive use of a data directory by one process: an flock() on <dir>/LOCK, which the kernel
// releases when the process dies (kill -9 included), so there is no stale lock to clean up.
#pragma once

#include <string>

namespace sluice {

class DirLock {
 public:
  DirLock() = default;
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  ~DirLock() { Release(); }

  // Creates `dir` (one level) if missing and locks it. On failure returns false with `error` set
  // and `locked_by_pid` to the holder's PID when another process holds it (0 otherwise).
  bool Acquire(const std::string& dir, std::string& error, long& locked_by_pid);
  void Release();
  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace sluice
