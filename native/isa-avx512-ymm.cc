// isa-avx512-ymm.cc — the kernels compiled for AVX-512 (F, DQ, VL, BW) with the GEMM on
// 256-bit vectors and AVX-512VL's 32 registers (kernels-impl.h, GEMM): for AMD Zen 4, which
// runs a 512-bit multiply or add as two 256-bit halves, where a mix of them issues slower
// than the same work on 256-bit vectors. addon.cc puts it first on Zen 4, after "avx512"
// elsewhere. The same bits as every other build (THE KERNEL SPEC: lanes are independent outputs).
#define GS_GEMM_VBYTES 32
#define GS_TABLE_FN gs_table_avx512_ymm
#define GS_TABLE_NAME "avx512-ymm"
#include "isa-avx512.h"
