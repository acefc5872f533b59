// isa-avx2-fma.cc — the kernels for AVX2 with FMA, the `fma` profile: each GEMM term one fused
// multiply-add (kernels-impl.h, GS_FMA); everything else the same operations as isa-avx2.cc.
#define GS_FMA 1
#define GS_VBYTES 32
#define GS_MR32 6
#define GS_MR32B 4
#define GS_NV32 2
#define GS_MR64 6
#define GS_MR64B 4
#define GS_NV64 2
#define GS_TABLE_FN gs_table_avx2_fma
#define GS_TABLE_NAME "avx2-fma"
#include "kernels-impl.h"
