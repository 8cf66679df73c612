// Device helpers shared by the .cu files (CUDA headers only).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "launchers.h"

#define DOS_RETURN_IF_ERROR(expr)            \
  do {                                       \
    const cudaError_t dos_error_ = (expr);   \
    if (dos_error_ != cudaSuccess) return dos_error_; \
  } while (0)

// Checks the launch that just happened (bad configuration, missing kernel image).
#define DOS_CHECK_LAUNCH() DOS_RETURN_IF_ERROR(cudaGetLastError())

namespace dos_ops {
namespace cuda {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items; capped, since the loops stride anyway.
inline unsigned int blocks_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(blocks < 1 ? 1 : (blocks > 65535 ? 65535 : blocks));
}

#define DOS_GRID_STRIDE(i, n)                                                                      \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);          \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ double to_float(double x) { return x; }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) { return x; }
template <>
__device__ __forceinline__ __half from_float<__half>(float x) { return __float2half(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16(x); }
__device__ __forceinline__ double from_double(double x) { return x; }

// Accumulation type of a storage type: double for double, float otherwise.
template <typename T>
struct Acc {
  using type = float;
};
template <>
struct Acc<double> {
  using type = double;
};

template <typename T>
__device__ __forceinline__ T cast_from_acc(typename Acc<T>::type x) {
  return from_float<T>(x);
}
template <>
__device__ __forceinline__ double cast_from_acc<double>(double x) {
  return x;
}

// Calls f(T{}) with the storage type named by `type`.
template <typename F>
cudaError_t dispatch_float(FloatType type, F&& f) {
  switch (type) {
    case FloatType::kHalf: return f(__half{});
    case FloatType::kBFloat16: return f(__nv_bfloat16{});
    case FloatType::kFloat: return f(float{});
    case FloatType::kDouble: return f(double{});
  }
  return cudaErrorInvalidValue;
}

}  // namespace cuda
}  // namespace dos_ops
