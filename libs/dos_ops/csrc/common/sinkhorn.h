// Math shared by the CPU and CUDA Zipf-Sinkhorn kernels.
//
// Invariant used for stability: row scaling absorbs any per-row constant and column scaling any
// per-column constant, so the kernels work on E_ik = exp(L_ik - a_i - s_k) with a_i the row max
// of L and s_k either 0 or the column max of (L - a). With s_k = colmax every row and every column
// of E holds an exact 1 and no entry exceeds 1: nothing overflows and no column underflows to all
// zeros, however large |L| is. The first row scaling, which sees the raw logits in the reference,
// starts from column weights exp(s_k) to stay exact.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "macros.h"

namespace dos_ops {

// Unnormalised Zipf weight of 0-based column k, i.e. rank^-alpha with rank = k + 1; the prior
// w_k = rank^-alpha / sum_r r^-alpha divides these by their sum.
HOST_DEVICE_INLINE double zipf_weight(int64_t k, double alpha) { return pow(static_cast<double>(k + 1), -alpha); }

// exp(x) for x <= 0, branch-free so that the CPU loops vectorise (Cephes polynomial, ~2 ulp; the
// selects need -fno-trapping-math to be if-converted). Returns exactly 0 below the smallest normal
// float instead of denormals.
HOST_DEVICE_INLINE float exp_nonpositive(float x) {
#if defined(__CUDA_ARCH__)
  return expf(x);
#else
  const float input = x;
  x = x > -87.0f ? x : -87.0f;
  const float rounded = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(x / ln 2)
  const float r = (x - rounded * 0.693359375f) + rounded * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(rounded) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  const float y = p * scale;
  return input >= -87.0f ? y : 0.0f;
#endif
}

HOST_DEVICE_INLINE double exp_nonpositive(double x) { return exp(x); }

}  // namespace dos_ops
