#include "window_writer.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace sluice {
namespace {

inline int64_t IntegerAt(const int64_t* integers, bool differences, size_t k) {
  // Differences wrap in uint64 and are exact (the caller checked that the values fit).
  return differences ? static_cast<int64_t>(static_cast<uint64_t>(integers[k]) - static_cast<uint64_t>(integers[k - 1]))
                     : integers[k];
}

void StartsScalar(size_t from, size_t to, uint64_t first_bucket, uint64_t bucket_step, int64_t* starts) {
  for (size_t k = from; k < to; ++k) starts[k] = static_cast<int64_t>(first_bucket + k * bucket_step);
}

void ValuesScalar(const int64_t* integers, bool differences, size_t from, size_t to, double divisor, double* values) {
  for (size_t k = from; k < to; ++k) values[k] = static_cast<double>(IntegerAt(integers, differences, k)) / divisor;
}

#if defined(__x86_64__)
constexpr size_t kLine = 64;

// Each column is written on its own, a whole 64-byte line per store, from its first aligned
// element (the two columns need not be aligned alike).
__attribute__((target("avx512f,avx512dq"))) void StreamValuesAvx512(const int64_t* integers, bool differences, size_t from,
                                                               size_t to, double divisor, double* values) {
  const __m512d divisors = _mm512_set1_pd(divisor);
  for (size_t k = from; k < to; k += 8) {
    __m512i integer = _mm512_loadu_si512(integers + k);
    if (differences) integer = _mm512_sub_epi64(integer, _mm512_loadu_si512(integers + k - 1));
    _mm512_stream_pd(values + k, _mm512_div_pd(_mm512_cvtepi64_pd(integer), divisors));
  }
}

__attribute__((target("avx512f"))) void StreamStartsAvx512(size_t from, size_t to, uint64_t first_bucket,
                                                            uint64_t bucket_step, int64_t* starts) {
  const auto at = [&](size_t k) { return static_cast<int64_t>(first_bucket + k * bucket_step); };
  __m512i buckets = _mm512_setr_epi64(at(from), at(from + 1), at(from + 2), at(from + 3), at(from + 4), at(from + 5),
                                      at(from + 6), at(from + 7));
  const __m512i eight_steps = _mm512_set1_epi64(static_cast<int64_t>(bucket_step * 8));
  for (size_t k = from; k < to; k += 8) {
    _mm512_stream_si512(reinterpret_cast<__m512i*>(starts + k), buckets);
    buckets = _mm512_add_epi64(buckets, eight_steps);
  }
}

// AVX2 has no int64 → double conversion: those stay scalar; two 32-byte stores fill a line.
__attribute__((target("avx2"))) void StreamValuesAvx2(const int64_t* integers, bool differences, size_t from, size_t to,
                                                double divisor, double* values) {
  const __m256d divisors = _mm256_set1_pd(divisor);
  for (size_t k = from; k < to; k += 4) {
    const __m256d converted = _mm256_setr_pd(static_cast<double>(IntegerAt(integers, differences, k)),
                                             static_cast<double>(IntegerAt(integers, differences, k + 1)),
                                             static_cast<double>(IntegerAt(integers, differences, k + 2)),
                                             static_cast<double>(IntegerAt(integers, differences, k + 3)));
    _mm256_stream_pd(values + k, _mm256_div_pd(converted, divisors));
  }
}

__attribute__((target("avx2"))) void StreamStartsAvx2(size_t from, size_t to, uint64_t first_bucket,
                                                      uint64_t bucket_step, int64_t* starts) {
  const auto at = [&](size_t k) { return static_cast<int64_t>(first_bucket + k * bucket_step); };
  __m256i buckets = _mm256_setr_epi64x(at(from), at(from + 1), at(from + 2), at(from + 3));
  const __m256i four_steps = _mm256_set1_epi64x(static_cast<int64_t>(bucket_step * 4));
  for (size_t k = from; k < to; k += 4) {
    _mm256_stream_si256(reinterpret_cast<__m256i*>(starts + k), buckets);
    buckets = _mm256_add_epi64(buckets, four_steps);
  }
}

// Set while the addon loads; __builtin_cpu_init() first, as GCC asks of checks made from a static
// initializer.
const bool kHasAvx512 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
}();
const bool kHasAvx2 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
}();

// [head, body_end): the elements of `column` (8-byte aligned) that whole aligned lines cover.
template <typename T>
bool AlignedBody(const T* column, size_t count, size_t& head, size_t& body_end) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(column);
  if (address % sizeof(T) != 0) return false;
  head = ((kLine - address % kLine) % kLine) / sizeof(T);
  if (count < head + kLine / sizeof(T)) return false;
  body_end = head + (count - head) / (kLine / sizeof(T)) * (kLine / sizeof(T));
  return true;
}
#endif

}  // namespace

bool CanUseWindowStores(WindowStores stores) {
#if defined(__x86_64__)
  if (stores == WindowStores::kAvx512) return kHasAvx512;
  if (stores == WindowStores::kAvx2) return kHasAvx2;
#endif
  return stores == WindowStores::kScalar;
}

void WriteOnePointWindowsWith(WindowStores stores, const int64_t* integers, bool differences, size_t count,
                              uint64_t first_bucket, uint64_t bucket_step, double divisor, int64_t* starts,
                              double* values) {
#if defined(__x86_64__)
  if (stores != WindowStores::kScalar && CanUseWindowStores(stores)) {
    const bool wide = stores == WindowStores::kAvx512;
    size_t head, body_end;
    if (AlignedBody(starts, count, head, body_end)) {
      StartsScalar(0, head, first_bucket, bucket_step, starts);
      if (wide) {
        StreamStartsAvx512(head, body_end, first_bucket, bucket_step, starts);
      } else {
        StreamStartsAvx2(head, body_end, first_bucket, bucket_step, starts);
      }
      StartsScalar(body_end, count, first_bucket, bucket_step, starts);
    } else {
      StartsScalar(0, count, first_bucket, bucket_step, starts);
    }
    if (AlignedBody(values, count, head, body_end)) {
      ValuesScalar(integers, differences, 0, head, divisor, values);
      if (wide) {
        StreamValuesAvx512(integers, differences, head, body_end, divisor, values);
      } else {
        StreamValuesAvx2(integers, differences, head, body_end, divisor, values);
      }
      ValuesScalar(integers, differences, body_end, count, divisor, values);
    } else {
      ValuesScalar(integers, differences, 0, count, divisor, values);
    }
    // Streamed stores are weakly ordered: make them visible before the caller reports it is done.
    _mm_sfence();
    return;
  }
#endif
  StartsScalar(0, count, first_bucket, bucket_step, starts);
  ValuesScalar(integers, differences, 0, count, divisor, values);
}

void WriteOnePointWindows(const int64_t* integers, bool differences, size_t count, uint64_t first_bucket,
                          uint64_t bucket_step, double divisor, int64_t* starts, double* values, bool stream) {
  WindowStores stores = WindowStores::kScalar;
  if (stream && CanUseWindowStores(WindowStores::kAvx512)) {
    stores = WindowStores::kAvx512;
  } else if (stream && CanUseWindowStores(WindowStores::kAvx2)) {
    stores = WindowStores::kAvx2;
  }
  WriteOnePointWindowsWith(stores, integers, differences, count, first_bucket, bucket_step, divisor, starts, values);
}

}  // namespace sluice
