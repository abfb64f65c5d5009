// Entry points that expose the block codecs, and the window writer that turns decoded blocks into
// results, to tests and benchmarks (bindings/index.ts codec*).
#pragma once

#include <napi.h>

namespace sluice {

// A corrupt count must not make a decoder allocate gigabytes: 2^24 points is far above any block.
inline constexpr size_t kMaxCodecPoints = size_t{1} << 24;

void RegisterCodecProbe(Napi::Env env, Napi::Object exports);

}  // namespace sluice
