// Taps of the 3x3x3 submanifold convolution, shared by the CPU and CUDA kernels.
//
// Tap k = 9 (dx + 1) + 3 (dy + 1) + (dz + 1) reads the input at grid + (dx, dy, dz): spconv's
// weight order [C_out, 3, 3, 3, C_in] flattened over the kernel dims. Tap 26 - k is the mirrored
// offset, so the transpose of a submanifold neighbour table is the table read at mirrored taps:
// j = nbr[i, k] holds exactly when i = nbr[j, 26 - k].
#pragma once

#include <cstdint>

#include "grid_key.h"
#include "macros.h"

namespace dos_ops {

constexpr int kTaps = 27;

HOST_DEVICE_INLINE int tap_shift(int tap, int axis) {
  return (axis == 0 ? tap / 9 : axis == 1 ? (tap / 3) % 3 : tap % 3) - 1;
}

HOST_DEVICE_INLINE int mirror_tap(int tap) { return kTaps - 1 - tap; }

// Packed (cloud, x, y, z) key of the cell at grid + shift of `tap`, or -1 when that cell leaves
// [0, kMaxAxis] on some axis. Keys of in-range cells keep the order of their source cells within a
// tap, which the CPU lookup relies on.
HOST_DEVICE_INLINE int64_t tap_key(int64_t cloud, const int64_t* grid, int tap) {
  int64_t key = cloud;
  for (int axis = 0; axis < 3; ++axis) {
    const int64_t c = grid[axis] + tap_shift(tap, axis);
    if (c < 0 || c > kMaxAxis) return -1;
    key = (key << kAxisBits) | c;
  }
  return key;
}

}  // namespace dos_ops
