// CUDA 3x3x3 submanifold convolution: neighbour table from a CUB radix sort of packed cell keys and
// one binary search per (row, tap); the convolution gathers the 27 neighbour rows of a block of
// rows into one [rows, 27 C] matrix (zeros where missing) that bindings.cpp multiplies with cuBLAS
// through torch. Taps and their mirror: common/submconv.h.
#include <cub/cub.cuh>

#include "../common/grid_key.h"
#include "../common/offsets.h"
#include "../common/submconv.h"
#include "cuda_utils.cuh"

namespace dos_ops {
namespace cuda {
namespace {

using Key = unsigned long long;

__global__ void cell_key_kernel(const int64_t* grid, const int64_t* offset, int64_t clouds, int64_t n, int64_t* key,
                                int64_t* row) {
  DOS_GRID_STRIDE(i, n) {
    key[i] = pack_cell_key(cloud_of_row(offset, clouds, i), grid + 3 * i, 1);
    row[i] = i;
  }
}

// Stable sort from the identity: the first of equal keys is the lowest row, as the CPU kernel.
__global__ void lookup_kernel(const int64_t* grid, const int64_t* offset, int64_t clouds, int64_t n,
                              const int64_t* sorted_key, const int64_t* sorted_row, int64_t* nbr) {
  DOS_GRID_STRIDE(w, n * kTaps) {
    const int64_t i = w / kTaps;
    const int tap = static_cast<int>(w % kTaps);
    const int64_t target = tap_key(cloud_of_row(offset, clouds, i), grid + 3 * i, tap);
    int64_t found = -1;
    if (target >= 0) {
      const int64_t p = lower_bound(sorted_key, n, target);
      if (p < n && sorted_key[p] == target) found = sorted_row[p];
    }
    nbr[w] = found;
  }
}

// dst[r, k * C + c] = x[nbr[r0 + r, k'], c] with k' = k (or 26 - k when mirrored), 0 if missing.
template <typename T>
__global__ void gather_taps_kernel(const T* x, int64_t channels, const int64_t* nbr, int64_t r0, int64_t rows,
                                   bool mirrored, T* dst) {
  const int64_t width = kTaps * channels;
  DOS_GRID_STRIDE(w, rows * width) {
    const int64_t r = w / width, col = w % width;
    const int tap = static_cast<int>(col / channels);
    const int64_t j = nbr[(r0 + r) * kTaps + (mirrored ? mirror_tap(tap) : tap)];
    dst[w] = j >= 0 ? x[j * channels + col % channels] : T(0);
  }
}

}  // namespace

size_t submconv_neighbours_scratch_bytes(int64_t n, int end_bit) {
  size_t bytes = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, bytes, static_cast<const Key*>(nullptr), static_cast<Key*>(nullptr),
                                  static_cast<const int64_t*>(nullptr), static_cast<int64_t*>(nullptr), n, 0,
                                  end_bit);
  return bytes;
}

cudaError_t submconv_neighbours(const int64_t* grid, const int64_t* offset, int64_t clouds, int64_t n, int end_bit,
                                int64_t* key, int64_t* row, int64_t* sorted_key, int64_t* sorted_row, void* scratch,
                                size_t scratch_bytes, int64_t* nbr, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  cell_key_kernel<<<blocks_for(n), kThreads, 0, stream>>>(grid, offset, clouds, n, key, row);
  DOS_CHECK_LAUNCH();
  DOS_RETURN_IF_ERROR(cub::DeviceRadixSort::SortPairs(scratch, scratch_bytes, reinterpret_cast<const Key*>(key),
                                                      reinterpret_cast<Key*>(sorted_key), row, sorted_row, n, 0,
                                                      end_bit, stream));
  lookup_kernel<<<blocks_for(n * kTaps), kThreads, 0, stream>>>(grid, offset, clouds, n, sorted_key, sorted_row, nbr);
  DOS_CHECK_LAUNCH();
  return cudaSuccess;
}

cudaError_t submconv_gather(FloatType type, const void* x, int64_t channels, const int64_t* nbr, int64_t r0,
                            int64_t rows, bool mirrored, void* dst, cudaStream_t stream) {
  if (rows == 0 || channels == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto zero) -> cudaError_t {
    using T = decltype(zero);
    gather_taps_kernel<T><<<blocks_for(rows * kTaps * channels), kThreads, 0, stream>>>(
        static_cast<const T*>(x), channels, nbr, r0, rows, mirrored, static_cast<T*>(dst));
    DOS_CHECK_LAUNCH();
    return cudaSuccess;
  });
}

}  // namespace cuda
}  // namespace dos_ops
