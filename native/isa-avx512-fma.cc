// isa-avx512-fma.cc — isa-avx512.cc's kernels (GEMM on 512-bit vectors) for the `fma` profile:
// each GEMM term one fused multiply-add (kernels-impl.h, GS_FMA).
#define GS_FMA 1
#define GS_GEMM_VBYTES 64
#define GS_TABLE_FN gs_table_avx512_fma
#define GS_TABLE_NAME "avx512-fma"
#include "isa-avx512.h"
