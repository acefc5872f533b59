// isa-avx2.cc — the kernels compiled for AVX2 (no FMA: -mavx2 without -mfma).
#define GS_VBYTES 32
#define GS_MR32 6
#define GS_MR32B 4
#define GS_NV32 2
#define GS_MR64 6
#define GS_MR64B 4
#define GS_NV64 2
#define GS_TABLE_FN gs_table_avx2
#define GS_TABLE_NAME "avx2"
#include "kernels-impl.h"
