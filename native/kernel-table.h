// kernel-table.h — the function table one instruction-set build of the kernels exports.
// Each isa-*.cc compiles kernels-impl.h with its own target flags into an anonymous namespace
// and hands out one of these tables; addon.cc picks a table at run time by CPUID.
#ifndef GRADSYNC_KERNEL_TABLE_H
#define GRADSYNC_KERNEL_TABLE_H
#include <stddef.h>
#include <stdint.h>

// Activation codes, in the order of ACTIVATIONS in src/tensor/kernels.ts.
enum GsAct { GS_TANH = 0, GS_SIGMOID = 1, GS_RELU = 2, GS_LINEAR = 3, GS_SOFTMAX = 4 };

// A convolution's geometry (src/tensor/im2col.ts ConvGeometry): input c × h × w, kernel kh × kw,
// stride, zero padding on every side, output oh × ow.
struct GsConvGeom {
  size_t c, h, w, kh, kw, stride, pad, oh, ow;
};

template <typename T>
struct GsOps {
  void (*gemm_nt)(size_t m, size_t n, size_t k, const T* A, const T* B, T* C);
  void (*gemm_tn)(size_t m, size_t n, size_t k, const T* A, const T* B, T* C);
  void (*gemm_nn)(size_t m, size_t n, size_t k, const T* A, const T* B, T* C);
  void (*add_bias)(size_t m, size_t n, T* C, const T* b);
  void (*col_sum)(size_t m, size_t n, const T* A, T* out);
  void (*activate)(int f, size_t m, size_t n, const T* z, T* a);
  void (*activate_backward)(int f, size_t m, size_t n, const T* z, const T* a, T* g);
  void (*add_into)(size_t n, T* a, const T* b);
  long (*first_nonfinite)(size_t n, const T* a);
  void (*sgd_update)(size_t n, double lr, const T* g, T* p, T* u);
  void (*sgd_update_stream)(size_t n, double lr, const T* g, T* p, T* u);
  long (*copy_stream)(size_t n, const T* src, T* dst);
  void (*reduce_grad)(size_t n, T* g, const T* p, double divisor, double lambda, double* out);
  void (*add_reduce_grad)(size_t n, const T* a, const T* b, const T* p, double divisor, double lambda, double* out, T* g);
  void (*reduce_sgd)(size_t n, T* a, const T* b, T* p, double divisor, double lambda, double lr, double* out, int stream);
  void (*activation_stats)(int f, size_t m, size_t n, const T* z, const T* a, double* out);
  double (*softmax_ce)(size_t rows, size_t n, const T* z, const T* a, const T* y, T* g);
  long (*gemm_tn_check)(size_t m, size_t n, size_t k, const T* A, const T* B, T* C, int shared);
  void (*gemm_nt_acc)(size_t m, size_t n, size_t k, const T* A, const T* B, T* C);
  void (*im2col)(size_t rows, const GsConvGeom& g, const T* x, T* cols);
  void (*col2im)(size_t rows, const GsConvGeom& g, const T* dcols, T* dx);
  void (*max_pool)(size_t rows, size_t c, size_t h, size_t w, size_t size, size_t stride, const T* x, T* out, int32_t* arg);
  void (*max_pool_backward)(size_t rows, size_t in_size, size_t out_size, const T* g_out, const int32_t* arg, T* g_in);
  void (*momentum_update)(size_t n, double lr, double mu, int nesterov, int first, const T* g, T* v, T* p, T* u);
  long (*add_into_check)(size_t n, T* a, const T* b);
};

struct GsKernelTable {
  const char* name;  // "avx512", "avx512-ymm", "avx2", "scalar"; the fma profile's "avx512-fma", "avx512-ymm-fma", "avx2-fma"
  GsOps<float> f32;
  GsOps<double> f64;
};

extern "C" {
const GsKernelTable* gs_table_avx512(void);
const GsKernelTable* gs_table_avx512_ymm(void);
const GsKernelTable* gs_table_avx2(void);
const GsKernelTable* gs_table_scalar(void);
// the fma profile: each GEMM term one fused multiply-add (kernels-impl.h, GS_FMA)
const GsKernelTable* gs_table_avx512_fma(void);
const GsKernelTable* gs_table_avx512_ymm_fma(void);
const GsKernelTable* gs_table_avx2_fma(void);
// the processor's fma over arrays (fma-probe.cc; x86-64 only): what the tests check fma.ts against
void gs_fma_f32(size_t n, const float* a, const float* b, const float* c, float* out);
void gs_fma_f64(size_t n, const double* a, const double* b, const double* c, double* out);
}
#endif
