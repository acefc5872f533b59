// fma-probe.cc — the processor's own fused multiply-add over arrays, compiled with -mfma: the
// hardware the tests check src/tensor/fma.ts's emulation against (addon.cc exports it as
// hardwareFma only where CPUID reports FMA). No kernel uses it.
#include <stddef.h>
#include "kernel-table.h"

#if defined(__x86_64__) && defined(__FMA__)
extern "C" void gs_fma_f32(size_t n, const float* a, const float* b, const float* c, float* out) {
  for (size_t i = 0; i < n; i++) out[i] = __builtin_fmaf(a[i], b[i], c[i]);
}
extern "C" void gs_fma_f64(size_t n, const double* a, const double* b, const double* c, double* out) {
  for (size_t i = 0; i < n; i++) out[i] = __builtin_fma(a[i], b[i], c[i]);
}
#endif
