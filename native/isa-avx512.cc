// isa-avx512.cc — the kernels compiled for AVX-512 (F, DQ, VL, BW), GEMM on 512-bit vectors;
// chosen by addon.cc via CPUID. Intel's AVX-512 cores (Ice Lake, Sapphire Rapids…) issue
// two 512-bit multiplies or adds per cycle, so 512-bit GEMM vectors do twice the work of the
// 256-bit ones of isa-avx512-ymm.cc and AVX2 per instruction issued.
#define GS_GEMM_VBYTES 64
#define GS_TABLE_FN gs_table_avx512
#define GS_TABLE_NAME "avx512"
#include "isa-avx512.h"
