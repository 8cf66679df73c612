// Packed 64-bit cell key: cloud above bit 48, then 16 bits per axis (x, y, z), so that integer
// order of keys is the lexicographic order (cloud, x, y, z) the reference produces.
#pragma once

#include <cstdint>

#include "macros.h"

namespace dos_ops {

constexpr int kAxisBits = 16;
constexpr int kCloudShift = 3 * kAxisBits;
constexpr int64_t kMaxAxis = (int64_t{1} << kAxisBits) - 1;
constexpr int64_t kMaxClouds = int64_t{1} << 15;  // keeps keys non-negative as int64

// Grid coordinates are validated non-negative, so truncating division is floor division.
HOST_DEVICE_INLINE int64_t pack_cell_key(int64_t cloud, const int64_t* grid, int64_t stride) {
  return (cloud << kCloudShift) | ((grid[0] / stride) << (2 * kAxisBits)) | ((grid[1] / stride) << kAxisBits) |
         (grid[2] / stride);
}

HOST_DEVICE_INLINE int64_t key_cloud(int64_t key) { return key >> kCloudShift; }

HOST_DEVICE_INLINE int64_t key_axis(int64_t key, int axis) {
  return (key >> ((2 - axis) * kAxisBits)) & kMaxAxis;
}

}  // namespace dos_ops
