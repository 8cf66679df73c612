// Per-row work of the CPU Zipf-Sinkhorn (see zipf_sinkhorn.cpp). Written once as templates; for
// float, the entry points below are also compiled for AVX2+FMA and picked when the library loads
// (GCC target_clones on x86-64 Linux), since these loops are the whole cost of the op.
#pragma once

#include <cstdint>

#include "../common/sinkhorn.h"
#include "vector_math.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define DOS_CPU_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DOS_CPU_CLONES
#endif

namespace dos_ops {
namespace cpu {

// Builds row i of E = exp(L - rowmax - shift) from logits `l`, updates the column max of
// (L - rowmax) in `colmax` (optional), and returns the row scaling 1 / (n * E_i . v0) (v0 = 1 when
// null) after adding its column contribution u * E_i to `part`.
template <typename in_t, typename acc_t>
DOS_ALWAYS_INLINE acc_t first_row_impl(const in_t* __restrict l, acc_t* __restrict row, acc_t* __restrict e,
                                       acc_t* __restrict part, acc_t* __restrict colmax, const acc_t* __restrict shift,
                                       const acc_t* __restrict v0, int64_t cols, acc_t inv_rows) {
  for (int64_t k = 0; k < cols; ++k) row[k] = static_cast<acc_t>(l[k]);
  const acc_t a = max_of(row, cols);
  for (int64_t k = 0; k < cols; ++k) row[k] -= a;
  if (colmax) {
    for (int64_t k = 0; k < cols; ++k) colmax[k] = row[k] > colmax[k] ? row[k] : colmax[k];
  }
  if (shift) {
    for (int64_t k = 0; k < cols; ++k) e[k] = exp_nonpositive(row[k] - shift[k]);
  } else {
    for (int64_t k = 0; k < cols; ++k) e[k] = exp_nonpositive(row[k]);
  }
  const acc_t u = inv_rows / (v0 ? dot(e, v0, cols) : sum_of(e, cols));
  axpy(u, e, part, cols);
  return u;
}

// Row scaling 1 / (n * E_i . v), and its column contribution added to `part`.
template <typename acc_t>
DOS_ALWAYS_INLINE acc_t round_row_impl(const acc_t* __restrict e, const acc_t* __restrict v, acc_t* __restrict part,
                                       int64_t cols, acc_t inv_rows) {
  const acc_t u = inv_rows / dot(e, v, cols);
  axpy(u, e, part, cols);
  return u;
}

// Returns the row marginal u * E_i . v, then overwrites E_i with the target u * E_i / colsum.
template <typename acc_t>
DOS_ALWAYS_INLINE acc_t final_row_impl(acc_t* __restrict e, const acc_t* __restrict v,
                                       const acc_t* __restrict inv_colsum, acc_t u, int64_t cols) {
  const acc_t marginal = u * dot(e, v, cols);
  for (int64_t k = 0; k < cols; ++k) e[k] = u * e[k] * inv_colsum[k];
  return marginal;
}

DOS_CPU_CLONES inline float first_row_f32(const float* l, float* row, float* e, float* part, float* colmax,
                                          const float* shift, const float* v0, int64_t cols, float inv_rows) {
  return first_row_impl(l, row, e, part, colmax, shift, v0, cols, inv_rows);
}

DOS_CPU_CLONES inline float round_row_f32(const float* e, const float* v, float* part, int64_t cols, float inv_rows) {
  return round_row_impl(e, v, part, cols, inv_rows);
}

DOS_CPU_CLONES inline float final_row_f32(float* e, const float* v, const float* inv_colsum, float u, int64_t cols) {
  return final_row_impl(e, v, inv_colsum, u, cols);
}

template <typename in_t, typename acc_t>
acc_t first_row(const in_t* l, acc_t* row, acc_t* e, acc_t* part, acc_t* colmax, const acc_t* shift, const acc_t* v0,
                int64_t cols, acc_t inv_rows) {
  if constexpr (std::is_same_v<in_t, float> && std::is_same_v<acc_t, float>) {
    return first_row_f32(l, row, e, part, colmax, shift, v0, cols, inv_rows);
  } else {
    return first_row_impl(l, row, e, part, colmax, shift, v0, cols, inv_rows);
  }
}

template <typename acc_t>
acc_t round_row(const acc_t* e, const acc_t* v, acc_t* part, int64_t cols, acc_t inv_rows) {
  if constexpr (std::is_same_v<acc_t, float>) {
    return round_row_f32(e, v, part, cols, inv_rows);
  } else {
    return round_row_impl(e, v, part, cols, inv_rows);
  }
}

template <typename acc_t>
acc_t final_row(acc_t* e, const acc_t* v, const acc_t* inv_colsum, acc_t u, int64_t cols) {
  if constexpr (std::is_same_v<acc_t, float>) {
    return final_row_f32(e, v, inv_colsum, u, cols);
  } else {
    return final_row_impl(e, v, inv_colsum, u, cols);
  }
}

}  // namespace cpu
}  // namespace dos_ops
