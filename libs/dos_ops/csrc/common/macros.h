// HOST_DEVICE marks math compiled once for the CPU kernels and once for the CUDA kernels.
#pragma once

#if defined(__CUDACC__)
#define HOST_DEVICE __host__ __device__
#else
#define HOST_DEVICE
#endif

// Forced inline: the CPU kernels call these from functions compiled for wider vector ISAs
// (cpu/sinkhorn_rows.h), where GCC would otherwise refuse to inline them.
#if defined(__CUDACC__)
#define HOST_DEVICE_INLINE __host__ __device__ __forceinline__
#elif defined(__GNUC__)
#define HOST_DEVICE_INLINE inline __attribute__((always_inline))
#else
#define HOST_DEVICE_INLINE inline
#endif
