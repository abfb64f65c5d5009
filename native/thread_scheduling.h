// How Linux schedules the calling thread, for a thread that sleeps between events and should run
// as soon as one comes (a workflow worker): a short scheduler slice (EEVDF, Linux 6.12 and later).
// Woken onto a core where another thread runs, it then preempts that thread instead of waiting for
// the end of that thread's slice.
#pragma once

#include <napi.h>

namespace sluice {

// Smallest and largest slice Linux accepts (sched_attr.sched_runtime for SCHED_OTHER).
inline constexpr unsigned kMinSliceMicros = 100;
inline constexpr unsigned kMaxSliceMicros = 100000;

void RegisterThreadScheduling(Napi::Env env, Napi::Object exports);

}  // namespace sluice
