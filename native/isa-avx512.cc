// isa-avx512.cc — the kernels compiled for AVX-512 (F, DQ, VL, BW); chosen by addon.cc via CPUID.
#define GS_VBYTES 64
#define GS_MR32 8
#define GS_NV32 2
#define GS_MR64 8
#define GS_NV64 2
#define GS_TABLE_FN gs_table_avx512
#define GS_TABLE_NAME "avx512"
#include "kernels-impl.h"
