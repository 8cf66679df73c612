// CUDA grid pooling: packed 64-bit keys (common/grid_key.h), CUB radix sort of (key, row) pairs
// (stable, so cells keep input order), run heads scanned into cell ids, one thread per (cell,
// channel) for the reductions.
#include <cub/cub.cuh>

#include "../common/grid_key.h"
#include "../common/offsets.h"
#include "cuda_utils.cuh"

namespace dos_ops {
namespace cuda {
namespace {

using Key = unsigned long long;

__global__ void key_kernel(const int64_t* grid, const int64_t* offset, int64_t clouds, int64_t n, int64_t stride,
                           int64_t* key, int64_t* row) {
  DOS_GRID_STRIDE(i, n) {
    key[i] = pack_cell_key(cloud_of_row(offset, clouds, i), grid + 3 * i, stride);
    row[i] = i;
  }
}

__global__ void run_head_kernel(const int64_t* key, int64_t n, int64_t* head) {
  DOS_GRID_STRIDE(i, n) { head[i] = (i == 0 || key[i] != key[i - 1]) ? 1 : 0; }
}

__global__ void cluster_kernel(const int64_t* key, const int64_t* order, const int64_t* segment, int64_t n,
                               int64_t cells, int64_t* cluster, int64_t* idx_ptr) {
  DOS_GRID_STRIDE(i, n) {
    const int64_t m = segment[i] - 1;
    cluster[order[i]] = m;
    if (i == 0 || key[i] != key[i - 1]) idx_ptr[m] = i;
    if (i == n - 1) idx_ptr[cells] = n;
  }
}

__global__ void cell_kernel(const int64_t* key, const int64_t* order, const int64_t* idx_ptr, int64_t cells,
                            int64_t* head, int64_t* pooled_grid) {
  DOS_GRID_STRIDE(m, cells) {
    const int64_t first = idx_ptr[m];
    head[m] = order[first];
    for (int axis = 0; axis < 3; ++axis) pooled_grid[3 * m + axis] = key_axis(key[first], axis);
  }
}

// Cells are sorted by cloud: new_offset[b] = number of cells of clouds <= b.
__global__ void cell_offset_kernel(const int64_t* key, const int64_t* idx_ptr, int64_t cells, int64_t clouds,
                                   int64_t* new_offset) {
  DOS_GRID_STRIDE(b, clouds) {
    int64_t lo = 0, hi = cells;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (key_cloud(key[idx_ptr[mid]]) <= b) lo = mid + 1; else hi = mid;
    }
    new_offset[b] = lo;
  }
}

template <typename T>
__global__ void max_kernel(const T* x, int64_t channels, const int64_t* order, const int64_t* idx_ptr, int64_t cells,
                           T* out, int64_t* argmax) {
  using acc_t = typename Acc<T>::type;
  DOS_GRID_STRIDE(w, cells * channels) {
    const int64_t m = w / channels, c = w % channels;
    int64_t arg = order[idx_ptr[m]];
    acc_t best = to_float(x[arg * channels + c]);
    for (int64_t j = idx_ptr[m] + 1; j < idx_ptr[m + 1]; ++j) {
      const int64_t row = order[j];
      const acc_t v = to_float(x[row * channels + c]);
      // Strict compare keeps the lowest row on ties; the first NaN wins and sticks.
      if (v > best || (isnan(v) && !isnan(best))) {
        best = v;
        arg = row;
      }
    }
    out[w] = cast_from_acc<T>(best);
    if (argmax != nullptr) argmax[w] = arg;
  }
}

template <typename T>
__global__ void mean_kernel(const T* x, int64_t channels, const int64_t* order, const int64_t* idx_ptr, int64_t cells,
                            T* out) {
  using acc_t = typename Acc<T>::type;
  DOS_GRID_STRIDE(w, cells * channels) {
    const int64_t m = w / channels, c = w % channels;
    acc_t sum = 0;
    for (int64_t j = idx_ptr[m]; j < idx_ptr[m + 1]; ++j) sum += to_float(x[order[j] * channels + c]);
    out[w] = cast_from_acc<T>(sum / static_cast<acc_t>(idx_ptr[m + 1] - idx_ptr[m]));
  }
}

template <typename T>
__global__ void max_backward_kernel(const T* grad, const int64_t* argmax, int64_t cells, int64_t channels, T* out) {
  // Every row belongs to one cell, so no two threads write the same element.
  DOS_GRID_STRIDE(w, cells * channels) { out[argmax[w] * channels + w % channels] = grad[w]; }
}

template <typename T>
__global__ void mean_backward_kernel(const T* grad, const int64_t* cluster, const int64_t* idx_ptr, int64_t n,
                                     int64_t channels, T* out) {
  using acc_t = typename Acc<T>::type;
  DOS_GRID_STRIDE(w, n * channels) {
    const int64_t m = cluster[w / channels];
    const acc_t count = static_cast<acc_t>(idx_ptr[m + 1] - idx_ptr[m]);
    out[w] = cast_from_acc<T>(to_float(grad[m * channels + w % channels]) / count);
  }
}

}  // namespace

size_t grid_pool_scratch_bytes(int64_t n, int end_bit) {
  size_t sort_bytes = 0, scan_bytes = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, static_cast<const Key*>(nullptr), static_cast<Key*>(nullptr),
                                  static_cast<const int64_t*>(nullptr), static_cast<int64_t*>(nullptr), n, 0,
                                  end_bit);
  cub::DeviceScan::InclusiveSum(nullptr, scan_bytes, static_cast<const int64_t*>(nullptr),
                                static_cast<int64_t*>(nullptr), n);
  return sort_bytes > scan_bytes ? sort_bytes : scan_bytes;
}

cudaError_t grid_pool_sort(const int64_t* grid, const int64_t* offset, int64_t clouds, int64_t n, int64_t stride,
                           int end_bit, int64_t* key, int64_t* order, int64_t* segment, int64_t* tmp_a,
                           int64_t* tmp_b, void* scratch, size_t scratch_bytes, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  key_kernel<<<blocks_for(n), kThreads, 0, stream>>>(grid, offset, clouds, n, stride, tmp_a, tmp_b);
  DOS_CHECK_LAUNCH();
  DOS_RETURN_IF_ERROR(cub::DeviceRadixSort::SortPairs(scratch, scratch_bytes, reinterpret_cast<const Key*>(tmp_a),
                                                      reinterpret_cast<Key*>(key), tmp_b, order, n, 0, end_bit,
                                                      stream));
  run_head_kernel<<<blocks_for(n), kThreads, 0, stream>>>(key, n, tmp_a);
  DOS_CHECK_LAUNCH();
  return cub::DeviceScan::InclusiveSum(scratch, scratch_bytes, tmp_a, segment, n, stream);
}

cudaError_t grid_pool_cells(const int64_t* key, const int64_t* order, const int64_t* segment, int64_t n,
                            int64_t cells, int64_t clouds, int64_t* cluster, int64_t* idx_ptr, int64_t* head,
                            int64_t* pooled_grid, int64_t* new_offset, cudaStream_t stream) {
  if (n == 0) {
    DOS_RETURN_IF_ERROR(cudaMemsetAsync(idx_ptr, 0, sizeof(int64_t), stream));
    return cudaMemsetAsync(new_offset, 0, sizeof(int64_t) * clouds, stream);
  }
  cluster_kernel<<<blocks_for(n), kThreads, 0, stream>>>(key, order, segment, n, cells, cluster, idx_ptr);
  DOS_CHECK_LAUNCH();
  cell_kernel<<<blocks_for(cells), kThreads, 0, stream>>>(key, order, idx_ptr, cells, head, pooled_grid);
  DOS_CHECK_LAUNCH();
  cell_offset_kernel<<<blocks_for(clouds), kThreads, 0, stream>>>(key, idx_ptr, cells, clouds, new_offset);
  DOS_CHECK_LAUNCH();
  return cudaSuccess;
}

cudaError_t grid_pool_reduce(FloatType type, const void* x, int64_t channels, const int64_t* order,
                             const int64_t* idx_ptr, int64_t cells, bool max, void* out, int64_t* argmax,
                             cudaStream_t stream) {
  if (cells == 0 || channels == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    if (max) {
      max_kernel<T><<<blocks_for(cells * channels), kThreads, 0, stream>>>(
          static_cast<const T*>(x), channels, order, idx_ptr, cells, static_cast<T*>(out), argmax);
    } else {
      mean_kernel<T><<<blocks_for(cells * channels), kThreads, 0, stream>>>(static_cast<const T*>(x), channels, order,
                                                                            idx_ptr, cells, static_cast<T*>(out));
    }
    return cudaGetLastError();
  });
}

cudaError_t grid_pool_max_backward(FloatType type, const void* grad, const int64_t* argmax, int64_t cells,
                                   int64_t channels, void* out, cudaStream_t stream) {
  if (cells == 0 || channels == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    max_backward_kernel<T><<<blocks_for(cells * channels), kThreads, 0, stream>>>(
        static_cast<const T*>(grad), argmax, cells, channels, static_cast<T*>(out));
    return cudaGetLastError();
  });
}

cudaError_t grid_pool_mean_backward(FloatType type, const void* grad, const int64_t* cluster, const int64_t* idx_ptr,
                                    int64_t n, int64_t channels, void* out, cudaStream_t stream) {
  if (n == 0 || channels == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    mean_backward_kernel<T><<<blocks_for(n * channels), kThreads, 0, stream>>>(
        static_cast<const T*>(grad), cluster, idx_ptr, n, channels, static_cast<T*>(out));
    return cudaGetLastError();
  });
}

}  // namespace cuda
}  // namespace dos_ops
