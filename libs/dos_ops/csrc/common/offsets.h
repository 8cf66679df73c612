// Cloud lookup in `offset` (cumulative counts without leading zero, non-decreasing).
#pragma once

#include <cstdint>

#include "macros.h"

namespace dos_ops {

// Number of entries of the sorted array `values[0:n]` that are < `target`.
template <typename T>
HOST_DEVICE_INLINE int64_t lower_bound(const T* values, int64_t n, T target) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (values[mid] < target) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// Cloud owning `row`: the first b with offset[b] > row (empty clouds own no row).
HOST_DEVICE_INLINE int64_t cloud_of_row(const int64_t* offset, int64_t num_clouds, int64_t row) {
  return lower_bound(offset, num_clouds, row + 1);
}

HOST_DEVICE_INLINE int64_t cloud_start(const int64_t* offset, int64_t b) { return b == 0 ? 0 : offset[b - 1]; }

}  // namespace dos_ops
