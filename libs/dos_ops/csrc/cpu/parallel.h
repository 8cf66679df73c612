// Grain sizes for at::parallel_for in the CPU kernels.
#pragma once

#include <cstdint>

namespace dos_ops {
namespace cpu {

// Light O(N) passes (keys, flags, scans, index fills) cost a few ns per row. Below this many rows
// they run on the calling thread: on a loaded machine every parallel region may wait a whole
// scheduler time slice for a preempted worker, which costs more than such a pass (measured here:
// grid_pool's index passes took 5x longer on 2 threads than on 1 under load). Heavy passes
// (feature reductions, exp, gathers) stay parallel.
constexpr int64_t kLightPassRows = int64_t{1} << 21;

}  // namespace cpu
}  // namespace dos_ops
