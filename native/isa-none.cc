// isa-none.cc — stand-ins for the x86 builds on other architectures: no table.
#include "kernel-table.h"
#if !defined(__x86_64__)
extern "C" const GsKernelTable* gs_table_avx512(void) { return nullptr; }
extern "C" const GsKernelTable* gs_table_avx512_ymm(void) { return nullptr; }
extern "C" const GsKernelTable* gs_table_avx2(void) { return nullptr; }
extern "C" const GsKernelTable* gs_table_avx512_fma(void) { return nullptr; }
extern "C" const GsKernelTable* gs_table_avx512_ymm_fma(void) { return nullptr; }
extern "C" const GsKernelTable* gs_table_avx2_fma(void) { return nullptr; }
#endif
