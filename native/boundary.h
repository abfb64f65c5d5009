// Probes of the JS <-> native boundary: what one call costs and what moving a large typed array
// each way costs. They are the baseline later hot paths are measured against (bench/boundary.js).
#pragma once

#include <napi.h>

namespace sluice {

// Largest array the probes accept: 2^27 doubles (1 GiB).
inline constexpr size_t kMaxProbeElements = size_t{1} << 27;

void RegisterBoundary(Napi::Env env, Napi::Object exports);

}  // namespace sluice
