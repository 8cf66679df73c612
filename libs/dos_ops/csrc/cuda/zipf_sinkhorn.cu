// CUDA Zipf-Sinkhorn for all clouds at once, in the exp domain with the two-sided shift of
// common/sinkhorn.h (row max, then column max of the row-shifted logits), so no entry overflows and
// no column underflows to zeros. Row reductions use one block per row; column reductions use fixed
// row chunks reduced in chunk order, so results are deterministic.
#include <cub/cub.cuh>

#include "../common/offsets.h"
#include "../common/sinkhorn.h"
#include "cuda_utils.cuh"

namespace dos_ops {
namespace cuda {
namespace {

template <typename acc_t>
struct Scratch {
  acc_t* row_max;  // [n]
  acc_t* u;        // [n] row scaling
  acc_t* row_err;  // [n]
  acc_t* shift;    // [clouds, k] column shift
  acc_t* v;        // [clouds, k] column scaling
  acc_t* colsum;   // [clouds, k]
  acc_t* partial;  // [chunks, k]
};

__device__ __forceinline__ float device_exp(float x) { return exp_nonpositive(x); }
__device__ __forceinline__ double device_exp(double x) { return exp(x); }

__device__ __forceinline__ int64_t rows_of(const int64_t* offset, int64_t b) {
  return offset[b] - cloud_start(offset, b);
}

template <typename in_t, typename acc_t>
__global__ void row_max_kernel(const in_t* logits, int64_t n, int64_t k, acc_t* row_max) {
  using Reduce = cub::BlockReduce<acc_t, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    acc_t best = -INFINITY;
    for (int64_t c = threadIdx.x; c < k; c += blockDim.x) best = fmax(best, static_cast<acc_t>(to_float(logits[i * k + c])));
    const acc_t total = Reduce(storage).Reduce(best, [](acc_t a, acc_t b) { return a > b ? a : b; });
    if (threadIdx.x == 0) row_max[i] = total;
    __syncthreads();
  }
}

// partial[chunk, c] = max over the chunk's rows of (L - row_max).
template <typename in_t, typename acc_t>
__global__ void col_max_partial_kernel(const in_t* logits, int64_t k, const acc_t* row_max, SinkhornChunks chunks,
                                       acc_t* partial) {
  DOS_GRID_STRIDE(w, chunks.chunks * k) {
    const int64_t chunk = w / k, c = w % k;
    acc_t best = -INFINITY;
    for (int64_t i = chunks.chunk_begin[chunk]; i < chunks.chunk_end[chunk]; ++i) {
      best = fmax(best, static_cast<acc_t>(to_float(logits[i * k + c])) - row_max[i]);
    }
    partial[w] = best;
  }
}

template <typename acc_t>
__global__ void col_max_reduce_kernel(const acc_t* partial, int64_t k, int64_t clouds, SinkhornChunks chunks,
                                      acc_t* shift, acc_t* v) {
  DOS_GRID_STRIDE(w, clouds * k) {
    const int64_t b = w / k, c = w % k;
    acc_t best = -INFINITY;
    for (int64_t chunk = chunks.cloud_chunk[b]; chunk < chunks.cloud_chunk[b + 1]; ++chunk) {
      best = fmax(best, partial[chunk * k + c]);
    }
    shift[w] = chunks.cloud_chunk[b] == chunks.cloud_chunk[b + 1] ? acc_t(0) : best;
    v[w] = exp(shift[w]);  // the first row scaling sees exp(L - row_max) = E * exp(shift)
  }
}

template <typename in_t, typename acc_t>
__global__ void exp_kernel(const in_t* logits, int64_t n, int64_t k, const int64_t* offset, int64_t clouds,
                           const acc_t* row_max, const acc_t* shift, acc_t* E) {
  DOS_GRID_STRIDE(w, n * k) {
    const int64_t i = w / k, c = w % k;
    const int64_t b = cloud_of_row(offset, clouds, i);
    E[w] = device_exp(static_cast<acc_t>(to_float(logits[w])) - row_max[i] - shift[b * k + c]);
  }
}

// out[i] = scale_i * sum_c E[i, c] * v[b, c], with scale_i = 1 / (n_b * that sum) when `invert`.
template <typename acc_t>
__global__ void row_dot_kernel(const acc_t* E, int64_t n, int64_t k, const int64_t* offset, int64_t clouds,
                               const acc_t* v, const acc_t* u, acc_t* out, bool invert) {
  using Reduce = cub::BlockReduce<acc_t, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const int64_t b = cloud_of_row(offset, clouds, i);
    acc_t sum = 0;
    for (int64_t c = threadIdx.x; c < k; c += blockDim.x) sum += E[i * k + c] * v[b * k + c];
    const acc_t total = Reduce(storage).Sum(sum);
    if (threadIdx.x == 0) {
      const acc_t rows = static_cast<acc_t>(rows_of(offset, b));
      // invert: row scaling u_i; otherwise: |row marginal - 1/n_b| of diag(u) E diag(v).
      out[i] = invert ? acc_t(1) / (rows * total) : fabs(u[i] * total - acc_t(1) / rows);
    }
    __syncthreads();
  }
}

template <typename acc_t>
__global__ void col_sum_partial_kernel(const acc_t* E, int64_t k, const acc_t* u, SinkhornChunks chunks,
                                       acc_t* partial) {
  DOS_GRID_STRIDE(w, chunks.chunks * k) {
    const int64_t chunk = w / k, c = w % k;
    acc_t sum = 0;
    for (int64_t i = chunks.chunk_begin[chunk]; i < chunks.chunk_end[chunk]; ++i) sum += u[i] * E[i * k + c];
    partial[w] = sum;
  }
}

template <typename acc_t>
__global__ void col_sum_reduce_kernel(const acc_t* partial, int64_t k, int64_t clouds, SinkhornChunks chunks,
                                      const double* prior, acc_t* colsum, acc_t* v) {
  DOS_GRID_STRIDE(w, clouds * k) {
    const int64_t b = w / k, c = w % k;
    double sum = 0;
    for (int64_t chunk = chunks.cloud_chunk[b]; chunk < chunks.cloud_chunk[b + 1]; ++chunk) {
      sum += partial[chunk * k + c];
    }
    colsum[w] = static_cast<acc_t>(sum);
    v[w] = static_cast<acc_t>(prior[c] / sum);
  }
}

template <typename acc_t>
__global__ void cloud_error_kernel(const acc_t* row_err, const int64_t* offset, int64_t clouds, acc_t* row_error) {
  using Reduce = cub::BlockReduce<acc_t, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  for (int64_t b = blockIdx.x; b < clouds; b += gridDim.x) {
    acc_t sum = 0;
    for (int64_t i = cloud_start(offset, b) + threadIdx.x; i < offset[b]; i += blockDim.x) sum += row_err[i];
    const acc_t total = Reduce(storage).Sum(sum);
    if (threadIdx.x == 0) row_error[b] = total;
    __syncthreads();
  }
}

// Final column normalisation; the last column scaling cancels in it.
template <typename acc_t>
__global__ void normalise_kernel(acc_t* E, int64_t n, int64_t k, const int64_t* offset, int64_t clouds,
                                 const acc_t* u, const acc_t* colsum) {
  DOS_GRID_STRIDE(w, n * k) {
    const int64_t i = w / k;
    const int64_t b = cloud_of_row(offset, clouds, i);
    E[w] = u[i] * E[w] / colsum[b * k + w % k];
  }
}

unsigned int row_blocks(int64_t n) { return static_cast<unsigned int>(n < 65535 ? (n < 1 ? 1 : n) : 65535); }

template <typename in_t, typename acc_t>
cudaError_t run(const in_t* logits, int64_t n, int64_t k, const int64_t* offset, int64_t clouds, const double* prior,
                int64_t n_iter, SinkhornChunks chunks, acc_t* E, acc_t* row_error, acc_t* scratch,
                cudaStream_t stream) {
  Scratch<acc_t> s;
  s.row_max = scratch;
  s.u = s.row_max + n;
  s.row_err = s.u + n;
  s.shift = s.row_err + n;
  s.v = s.shift + clouds * k;
  s.colsum = s.v + clouds * k;
  s.partial = s.colsum + clouds * k;
  const unsigned int elem_blocks = blocks_for(n * k), col_blocks = blocks_for(chunks.chunks * k);
  const unsigned int cloud_col_blocks = blocks_for(clouds * k);

  row_max_kernel<in_t, acc_t><<<row_blocks(n), kThreads, 0, stream>>>(logits, n, k, s.row_max);
  DOS_CHECK_LAUNCH();
  col_max_partial_kernel<in_t, acc_t><<<col_blocks, kThreads, 0, stream>>>(logits, k, s.row_max, chunks, s.partial);
  DOS_CHECK_LAUNCH();
  col_max_reduce_kernel<acc_t><<<cloud_col_blocks, kThreads, 0, stream>>>(s.partial, k, clouds, chunks, s.shift, s.v);
  DOS_CHECK_LAUNCH();
  exp_kernel<in_t, acc_t><<<elem_blocks, kThreads, 0, stream>>>(logits, n, k, offset, clouds, s.row_max, s.shift, E);
  DOS_CHECK_LAUNCH();
  for (int64_t t = 0; t < n_iter; ++t) {
    row_dot_kernel<acc_t><<<row_blocks(n), kThreads, 0, stream>>>(E, n, k, offset, clouds, s.v, s.u, s.u, true);
    DOS_CHECK_LAUNCH();
    col_sum_partial_kernel<acc_t><<<col_blocks, kThreads, 0, stream>>>(E, k, s.u, chunks, s.partial);
    DOS_CHECK_LAUNCH();
    col_sum_reduce_kernel<acc_t><<<cloud_col_blocks, kThreads, 0, stream>>>(s.partial, k, clouds, chunks, prior,
                                                                           s.colsum, s.v);
    DOS_CHECK_LAUNCH();
  }
  row_dot_kernel<acc_t><<<row_blocks(n), kThreads, 0, stream>>>(E, n, k, offset, clouds, s.v, s.u, s.row_err, false);
  DOS_CHECK_LAUNCH();
  cloud_error_kernel<acc_t><<<row_blocks(clouds), kThreads, 0, stream>>>(s.row_err, offset, clouds, row_error);
  DOS_CHECK_LAUNCH();
  normalise_kernel<acc_t><<<elem_blocks, kThreads, 0, stream>>>(E, n, k, offset, clouds, s.u, s.colsum);
  DOS_CHECK_LAUNCH();
  return cudaSuccess;
}

}  // namespace

int64_t zipf_sinkhorn_scratch_elements(int64_t n, int64_t k, int64_t clouds, int64_t chunks) {
  return 3 * n + 3 * clouds * k + chunks * k;
}

cudaError_t zipf_sinkhorn(FloatType type, const void* logits, int64_t n, int64_t k, const int64_t* offset,
                          int64_t clouds, const double* prior, int64_t n_iter, SinkhornChunks chunks, void* target,
                          void* row_error, void* scratch, cudaStream_t stream) {
  if (n == 0 || k == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using in_t = decltype(tag);
    using acc_t = typename Acc<in_t>::type;
    return run<in_t, acc_t>(static_cast<const in_t*>(logits), n, k, offset, clouds, prior, n_iter, chunks,
                            static_cast<acc_t*>(target), static_cast<acc_t*>(row_error),
                            static_cast<acc_t*>(scratch), stream);
  });
}

}  // namespace cuda
}  // namespace dos_ops
