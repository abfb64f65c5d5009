#include "thread_scheduling.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "errors.h"

#if defined(__linux__)
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace sluice {
namespace {

#if defined(__linux__) && defined(SYS_sched_setattr) && defined(SYS_sched_getattr)
// The kernel's struct sched_attr (glibc 2.36 has no wrapper).
struct SchedAttr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
  uint32_t sched_util_min;
  uint32_t sched_util_max;
};

// 0 or the errno. Policy and nice value stay as they are: only the slice changes.
int SetSlice(uint64_t nanos) {
  SchedAttr attr;
  std::memset(&attr, 0, sizeof attr);
  if (syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0) != 0) return errno;
  if (attr.sched_policy != SCHED_OTHER && attr.sched_policy != SCHED_BATCH) return EPERM;
  attr.size = sizeof attr;
  attr.sched_flags = 0;
  attr.sched_runtime = nanos;
  attr.sched_deadline = 0;
  attr.sched_period = 0;
  if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) return errno;
  return 0;
}
#else
int SetSlice(uint64_t) { return ENOSYS; }
#endif

// setThreadSlice(micros): null when Linux took the slice (kernels before 6.12 take it and ignore
// it), else its reason.
Napi::Value SetThreadSlice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) ThrowTypeError(env, kInvalidArgument, "argument 0 must be a number of microseconds");
  const double micros = info[0].As<Napi::Number>().DoubleValue();
  if (!(micros >= kMinSliceMicros && micros <= kMaxSliceMicros) || micros != static_cast<double>(static_cast<uint64_t>(micros))) {
    ThrowRangeError(env, kInvalidArgument,
                    "argument 0 must be an integer number of microseconds from " + std::to_string(kMinSliceMicros) + " to " +
                        std::to_string(kMaxSliceMicros));
  }
  const int error = SetSlice(static_cast<uint64_t>(micros) * 1000);
  if (error == 0) return env.Null();
  return Napi::String::New(env, std::strerror(error));
}

}  // namespace

void RegisterThreadScheduling(Napi::Env env, Napi::Object exports) {
  exports.Set("setThreadSlice", Napi::Function::New(env, SetThreadSlice, "setThreadSlice"));
}

}  // namespace sluice
