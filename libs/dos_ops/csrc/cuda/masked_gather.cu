// CUDA masked gather: prefix sum of the keep mask (CUB), then row copies by 32-bit words when rows
// allow it, bytes otherwise.
#include <cub/cub.cuh>

#include "cuda_utils.cuh"

namespace dos_ops {
namespace cuda {
namespace {

__global__ void flags_kernel(const bool* keep, int64_t n, int64_t* flags) {
  DOS_GRID_STRIDE(i, n) { flags[i] = keep[i] ? 1 : 0; }
}

__global__ void kept_index_kernel(const bool* keep, const int64_t* position, int64_t n, int64_t* kept_index) {
  DOS_GRID_STRIDE(i, n) {
    if (keep[i]) kept_index[position[i] - 1] = i;
  }
}

__global__ void new_offset_kernel(const int64_t* position, const int64_t* offset, int64_t clouds,
                                  int64_t* new_offset) {
  DOS_GRID_STRIDE(b, clouds) { new_offset[b] = offset[b] == 0 ? 0 : position[offset[b] - 1]; }
}

// Row j of the compact side <-> row index[j] of the full side, in units of T.
template <typename T, bool kGather>
__global__ void move_rows_kernel(const T* src, T* dst, const int64_t* index, int64_t rows, int64_t row_units) {
  DOS_GRID_STRIDE(w, rows * row_units) {
    const int64_t j = w / row_units, r = w % row_units;
    if (kGather) {
      dst[w] = src[index[j] * row_units + r];
    } else {
      dst[index[j] * row_units + r] = src[w];
    }
  }
}

template <bool kGather>
cudaError_t move_rows(const void* src, void* dst, const int64_t* index, int64_t rows, int64_t row_bytes,
                      cudaStream_t stream) {
  if (rows == 0 || row_bytes == 0) return cudaSuccess;
  const bool words = row_bytes % 4 == 0 && reinterpret_cast<uintptr_t>(src) % 4 == 0 &&
                     reinterpret_cast<uintptr_t>(dst) % 4 == 0;
  if (words) {
    move_rows_kernel<uint32_t, kGather><<<blocks_for(rows * row_bytes / 4), kThreads, 0, stream>>>(
        static_cast<const uint32_t*>(src), static_cast<uint32_t*>(dst), index, rows, row_bytes / 4);
  } else {
    move_rows_kernel<uint8_t, kGather><<<blocks_for(rows * row_bytes), kThreads, 0, stream>>>(
        static_cast<const uint8_t*>(src), static_cast<uint8_t*>(dst), index, rows, row_bytes);
  }
  DOS_CHECK_LAUNCH();
  return cudaSuccess;
}

}  // namespace

size_t masked_gather_scan_bytes(int64_t n) {
  size_t bytes = 0;
  cub::DeviceScan::InclusiveSum(nullptr, bytes, static_cast<const int64_t*>(nullptr),
                                static_cast<int64_t*>(nullptr), n);
  return bytes;
}

cudaError_t masked_gather_scan(const bool* keep, int64_t n, int64_t* flags, int64_t* position, void* scratch,
                               size_t scratch_bytes, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  flags_kernel<<<blocks_for(n), kThreads, 0, stream>>>(keep, n, flags);
  DOS_CHECK_LAUNCH();
  return cub::DeviceScan::InclusiveSum(scratch, scratch_bytes, flags, position, n, stream);
}

cudaError_t masked_gather_index(const bool* keep, const int64_t* position, int64_t n, const int64_t* offset,
                                int64_t clouds, int64_t* kept_index, int64_t kept, int64_t* new_offset,
                                cudaStream_t stream) {
  if (n > 0 && kept > 0) {
    kept_index_kernel<<<blocks_for(n), kThreads, 0, stream>>>(keep, position, n, kept_index);
    DOS_CHECK_LAUNCH();
  }
  if (n == 0) return cudaMemsetAsync(new_offset, 0, sizeof(int64_t) * clouds, stream);
  new_offset_kernel<<<blocks_for(clouds), kThreads, 0, stream>>>(position, offset, clouds, new_offset);
  DOS_CHECK_LAUNCH();
  return cudaSuccess;
}

cudaError_t gather_rows(const void* src, void* dst, const int64_t* kept_index, int64_t kept, int64_t row_bytes,
                        cudaStream_t stream) {
  return move_rows<true>(src, dst, kept_index, kept, row_bytes, stream);
}

cudaError_t scatter_rows(const void* src, void* dst, const int64_t* kept_index, int64_t kept, int64_t row_bytes,
                         cudaStream_t stream) {
  return move_rows<false>(src, dst, kept_index, kept, row_bytes, stream);
}

}  // namespace cuda
}  // namespace dos_ops
