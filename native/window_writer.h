// Writes runs of one-point windows (a window start and its value) to the output columns. With
// 1 s windows over 10 s data that is 16 bytes out per point decoded, and the stores, not the
// decoding, set the pace: large outputs are written with whole-cache-line non-temporal stores
// (no read of each line before it is written), with AVX-512 or AVX2 where the CPU has them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice {

// For k < count: starts[k] = first_bucket + k * bucket_step (wrapping), and values[k] =
// double(integers[k] - integers[k - 1]) / divisor when `differences` (running totals: the caller
// makes integers[-1] readable), else double(integers[k]) / divisor; bit for bit the scalar
// conversion and division. `stream`: the output is large and is not read again soon, so it may
// bypass the cache.
void WriteOnePointWindows(const int64_t* integers, bool differences, size_t count, uint64_t first_bucket,
                          uint64_t bucket_step, double divisor, int64_t* starts, double* values, bool stream);

// The ways of writing them: ordinary stores, or streamed with AVX2 or AVX-512 vectors.
enum class WindowStores { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };
// Whether this CPU runs `stores` (kScalar: always).
bool CanUseWindowStores(WindowStores stores);
// WriteOnePointWindows with the given stores (which the CPU must run), so that tests can compare
// every kind this machine has against the scalar one (native/codec_probe.cc).
void WriteOnePointWindowsWith(WindowStores stores, const int64_t* integers, bool differences, size_t count,
                              uint64_t first_bucket, uint64_t bucket_step, double divisor, int64_t* starts,
                              double* values);

}  // namespace sluice
