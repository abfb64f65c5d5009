// Runs independent, numbered tasks on the calling thread and a few short-lived helper threads,
// each thread claiming the next unclaimed task: a helper that loses its core to other load holds
// up at most the one task it is in, and the caller carries on with the rest. Used to cut one
// read into time ranges that are computed side by side (engine.cc, AggregateWindows).
#pragma once

#include <cstddef>
#include <functional>

namespace sluice {

// Threads worth using (the caller's included) for `tasks` tasks on this machine, at most `limit`
// (0: no limit beyond the machine's): 1 means "run them in order on the caller".
unsigned ThreadsForTasks(size_t tasks, unsigned limit);

// Calls task(i) once for every i < tasks, on up to `threads` threads (the caller is one of them),
// and returns when all have returned. An exception a task throws is rethrown here, on the caller,
// after the other threads have stopped; tasks not yet claimed then are skipped.
void RunTasks(size_t tasks, unsigned threads, const std::function<void(size_t)>& task);

}  // namespace sluice
