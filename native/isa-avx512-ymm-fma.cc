// isa-avx512-ymm-fma.cc — isa-avx512-ymm.cc's kernels (GEMM on 256-bit vectors, 32 registers)
// for the `fma` profile: each GEMM term one fused multiply-add (kernels-impl.h, GS_FMA).
#define GS_FMA 1
#define GS_GEMM_VBYTES 32
#define GS_TABLE_FN gs_table_avx512_ymm_fma
#define GS_TABLE_NAME "avx512-ymm-fma"
#include "isa-avx512.h"
