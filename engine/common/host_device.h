// STRATA_HOST_DEVICE: marks an inline function that the host code and CUDA kernels share.
#pragma once

#ifdef __CUDACC__
#define STRATA_HOST_DEVICE __host__ __device__
#else
#define STRATA_HOST_DEVICE
#endif
