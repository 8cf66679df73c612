// Row-level loops of the CPU kernels, written so that GCC/Clang vectorise them without fast-math:
// reductions keep kLanes independent partial results.
#pragma once

#include <algorithm>
#include <cstdint>

namespace dos_ops {
namespace cpu {

constexpr int64_t kLanes = 16;

// Forced inline so that callers compiled for AVX2 (sinkhorn_rows.h) get these loops in their ISA.
#if defined(__GNUC__)
#define DOS_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define DOS_ALWAYS_INLINE inline
#endif

template <typename T>
DOS_ALWAYS_INLINE T dot(const T* __restrict a, const T* __restrict b, int64_t n) {
  T lanes[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes) {
    for (int64_t j = 0; j < kLanes; ++j) lanes[j] += a[k + j] * b[k + j];
  }
  for (; k < n; ++k) lanes[0] += a[k] * b[k];
  T total = 0;
  for (int64_t j = 0; j < kLanes; ++j) total += lanes[j];
  return total;
}

template <typename T>
DOS_ALWAYS_INLINE T sum_of(const T* __restrict a, int64_t n) {
  T lanes[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes) {
    for (int64_t j = 0; j < kLanes; ++j) lanes[j] += a[k + j];
  }
  for (; k < n; ++k) lanes[0] += a[k];
  T total = 0;
  for (int64_t j = 0; j < kLanes; ++j) total += lanes[j];
  return total;
}

template <typename T>
DOS_ALWAYS_INLINE T max_of(const T* __restrict a, int64_t n) {
  T lanes[kLanes];
  for (int64_t j = 0; j < kLanes; ++j) lanes[j] = a[0];
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes) {
    for (int64_t j = 0; j < kLanes; ++j) lanes[j] = a[k + j] > lanes[j] ? a[k + j] : lanes[j];
  }
  for (; k < n; ++k) lanes[0] = a[k] > lanes[0] ? a[k] : lanes[0];
  return *std::max_element(lanes, lanes + kLanes);
}

// y += alpha * x
template <typename T>
DOS_ALWAYS_INLINE void axpy(T alpha, const T* __restrict x, T* __restrict y, int64_t n) {
  for (int64_t k = 0; k < n; ++k) y[k] += alpha * x[k];
}

}  // namespace cpu
}  // namespace dos_ops
