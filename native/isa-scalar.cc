// isa-scalar.cc — the kernels for the target's baseline instruction set (SSE2 on x86-64):
// 16-byte vectors, which the compiler lowers to whatever the baseline has.
#define GS_VBYTES 16
#define GS_MR32 6
#define GS_MR32B 4
#define GS_NV32 2
#define GS_MR64 6
#define GS_MR64B 4
#define GS_NV64 2
#define GS_TABLE_FN gs_table_scalar
#define GS_TABLE_NAME "scalar"
#include "kernels-impl.h"
