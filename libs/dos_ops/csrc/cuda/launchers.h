// Host-side launchers of the CUDA kernels. They see only raw device pointers, sizes and a stream
// (no torch types), so the .cu files compile with plain `nvcc -c`. Every launcher returns the first
// CUDA error it meets; bindings.cpp turns it into an exception. Buffers are allocated by the caller.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace dos_ops {
namespace cuda {

enum class FloatType { kHalf, kBFloat16, kFloat, kDouble };

// ---- masked_gather ----
// Scratch bytes of the prefix sum over n flags.
size_t masked_gather_scan_bytes(int64_t n);
// position[i] = number of kept rows among 0..i (inclusive scan); flags is scratch of n int64.
cudaError_t masked_gather_scan(const bool* keep, int64_t n, int64_t* flags, int64_t* position, void* scratch,
                               size_t scratch_bytes, cudaStream_t stream);
// kept_index [M] and new_offset [B] from the scan.
cudaError_t masked_gather_index(const bool* keep, const int64_t* position, int64_t n, const int64_t* offset,
                                int64_t clouds, int64_t* kept_index, int64_t kept, int64_t* new_offset,
                                cudaStream_t stream);
// dst[j] = src[kept_index[j]] for rows of row_bytes bytes.
cudaError_t gather_rows(const void* src, void* dst, const int64_t* kept_index, int64_t kept, int64_t row_bytes,
                        cudaStream_t stream);
// dst[kept_index[j]] = src[j]; the other rows of dst must be zeroed by the caller.
cudaError_t scatter_rows(const void* src, void* dst, const int64_t* kept_index, int64_t kept, int64_t row_bytes,
                         cudaStream_t stream);

// ---- grid_pool ----
size_t grid_pool_scratch_bytes(int64_t n, int end_bit);
// Sorts the packed keys (cloud, x, y, z) with their rows, then segment[i] = 1 + cell of sorted
// point i (inclusive scan of run heads). Buffers of n int64: key (sorted on return), order (sorted
// rows), segment, and two of scratch.
cudaError_t grid_pool_sort(const int64_t* grid, const int64_t* offset, int64_t clouds, int64_t n, int64_t stride,
                           int end_bit, int64_t* key, int64_t* order, int64_t* segment, int64_t* tmp_a,
                           int64_t* tmp_b, void* scratch, size_t scratch_bytes, cudaStream_t stream);
// cluster [N], idx_ptr [M + 1], head [M], pooled grid [M, 3], new_offset [B].
cudaError_t grid_pool_cells(const int64_t* key, const int64_t* order, const int64_t* segment, int64_t n,
                            int64_t cells, int64_t clouds, int64_t* cluster, int64_t* idx_ptr, int64_t* head,
                            int64_t* pooled_grid, int64_t* new_offset, cudaStream_t stream);
// out [M, C] = max (argmax optional, may be null) or mean of x [N, C] over each cell.
cudaError_t grid_pool_reduce(FloatType type, const void* x, int64_t channels, const int64_t* order,
                             const int64_t* idx_ptr, int64_t cells, bool max, void* out, int64_t* argmax,
                             cudaStream_t stream);
// out [N, C] (zeroed by the caller) at (argmax[m, c], c) = grad[m, c].
cudaError_t grid_pool_max_backward(FloatType type, const void* grad, const int64_t* argmax, int64_t cells,
                                   int64_t channels, void* out, cudaStream_t stream);
// out [N, C] = grad[cluster[i]] / count of the cell.
cudaError_t grid_pool_mean_backward(FloatType type, const void* grad, const int64_t* cluster, const int64_t* idx_ptr,
                                    int64_t n, int64_t channels, void* out, cudaStream_t stream);

// ---- zipf_sinkhorn ----
// Row chunks never cross clouds: chunk c covers rows [chunk_begin[c], chunk_end[c]) of cloud
// chunk_cloud[c], and cloud b owns chunks [cloud_chunk[b], cloud_chunk[b + 1]).
struct SinkhornChunks {
  const int64_t* chunk_begin;  // [chunks]
  const int64_t* chunk_end;    // [chunks]
  const int64_t* chunk_cloud;  // [chunks]
  const int64_t* cloud_chunk;  // [clouds + 1]
  int64_t chunks;
};
// Scratch (in elements of the accumulation type, float or double) the caller must provide.
int64_t zipf_sinkhorn_scratch_elements(int64_t n, int64_t k, int64_t clouds, int64_t chunks);
// target [N, K] and row_error [B] are float (double when `type` is kDouble); prior [K] is double.
cudaError_t zipf_sinkhorn(FloatType type, const void* logits, int64_t n, int64_t k, const int64_t* offset,
                          int64_t clouds, const double* prior, int64_t n_iter, SinkhornChunks chunks, void* target,
                          void* row_error, void* scratch, cudaStream_t stream);

// ---- submconv ----
size_t submconv_neighbours_scratch_bytes(int64_t n, int end_bit);
// nbr [N, 27] (common/submconv.h) of the cells of grid [N, 3]; key, row, sorted_key, sorted_row are
// scratch of n int64 each.
cudaError_t submconv_neighbours(const int64_t* grid, const int64_t* offset, int64_t clouds, int64_t n, int end_bit,
                                int64_t* key, int64_t* row, int64_t* sorted_key, int64_t* sorted_row, void* scratch,
                                size_t scratch_bytes, int64_t* nbr, cudaStream_t stream);
// dst [rows, 27 * channels] = rows of x at nbr[r0 + r, k] (mirrored: nbr[r0 + r, 26 - k]), 0 if missing.
cudaError_t submconv_gather(FloatType type, const void* x, int64_t channels, const int64_t* nbr, int64_t r0,
                            int64_t rows, bool mirrored, void* dst, cudaStream_t stream);

}  // namespace cuda
}  // namespace dos_ops
