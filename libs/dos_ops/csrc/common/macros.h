// HOST_DEVICE marks math compiled once for the CPU kernels and once for the CUDA kernels.
#pragma once

#if defined(__CUDACC__)
#define HOST_DEVICE __host__ __device__
#else
#define HOST_DEVICE
#endif

#define HOST_DEVICE_INLINE HOST_DEVICE inline
