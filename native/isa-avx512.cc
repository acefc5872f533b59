// isa-avx512.cc — the kernels compiled for AVX-512 (F, DQ, VL, BW), GEMM on 512-bit vectors;
// chosen by addon.cc via CPUID. Intel's AVX-512 cores (Ice Lake, Sapphire Rapids…) issue
// two 512-bit multiplies or adds per cycle: measured here (Ice Lake Xeon, bench-kernels, the
// workload's 8 GEMMs at 64 rows) 60.9 GFLOP/s, against 34.7 with the same tile on 256-bit
// vectors (isa-avx512-ymm.cc), which is what AVX2's two 256-bit ports give too.
#define GS_GEMM_VBYTES 64
#define GS_TABLE_FN gs_table_avx512
#define GS_TABLE_NAME "avx512"
#include "isa-avx512.h"
