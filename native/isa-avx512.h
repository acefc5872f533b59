// isa-avx512.h — what the two AVX-512 builds share (isa-avx512.cc, isa-avx512-ymm.cc): 512-bit
// element-wise vectors and the GEMM's register tiles (rows × vectors); each build defines its
// GEMM vector width and its table's name before including it.
#define GS_VBYTES 64
#define GS_MR32 12
#define GS_MR32B 8
#define GS_NV32 2
#define GS_MR64 12
#define GS_MR64B 8
#define GS_NV64 2
#include "kernels-impl.h"
