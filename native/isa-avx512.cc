// isa-avx512.cc — the kernels compiled for AVX-512 (F, DQ, VL, BW); chosen by addon.cc via CPUID.
// GEMM runs on 256-bit vectors with AVX-512VL's 32 registers (see kernels-impl.h, GEMM).
#define GS_VBYTES 64
#define GS_GEMM_VBYTES 32
#define GS_MR32 12
#define GS_MR32B 8
#define GS_NV32 2
#define GS_MR64 12
#define GS_MR64B 8
#define GS_NV64 2
#define GS_TABLE_FN gs_table_avx512
#define GS_TABLE_NAME "avx512"
#include "kernels-impl.h"
