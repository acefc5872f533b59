// addon.cc — the N-API face of the native kernels: CPUID dispatch and argument checking.
//
// Exports:
//   isas(): string[]                   builds this CPU can run, best first ("avx512", "avx512-ymm", "avx2", "scalar")
//   fmaIsas(): string[]                the fma profile's builds this CPU can run, best first ("avx512-fma",
//                                        "avx512-ymm-fma", "avx2-fma"); [] without FMA
//   hardwareFma(a, b, c, out): void    out[i] = the processor's fma(a[i], b[i], c[i]) over Float32Arrays or
//                                        Float64Arrays (fma-probe.cc); throws without FMA. For the tests
//   lineOffset(view): number           where a typed array's first element lies in its 64-byte line (0–63)
//   kernels(isa, dtype): object        { gemmNT, gemmTN, gemmNN, addBias, colSum, activate, activateBackward,
//                                        addInto, addIntoCheck, firstNonFinite, sgdUpdate, sgdUpdateShared, copyShared,
//                                        reduceGrad, addReduceGrad, reduceSgd, activationStats, softmaxCE,
//                                        gatherRows, gemmTNCheck, gemmNTAcc, im2col, col2im, maxPool,
//                                        maxPoolBackward, momentumUpdate }
// Each function takes the KernelSet method's arguments (activations as their index in
// ACTIVATIONS), checks every dimension and typed array (dtype and length), and works on the
// typed arrays' memory in place — plain or SharedArrayBuffer-backed, any byteOffset, no copy.
// Context-aware (NAPI_MODULE_INIT), so worker_threads can load it; the only state is const.
// Not here: the arithmetic (kernels-impl.h).

#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel-table.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace {

// ---- CPU detection -----------------------------------------------------------------------

#if defined(__x86_64__)
static uint64_t xgetbv0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((uint64_t)edx << 32) | eax;
}

static bool osAvx(uint64_t& xcr0) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  const bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
  if (!osxsave || !avx) return false;
  xcr0 = xgetbv0();
  return (xcr0 & 0x6) == 0x6;  // XMM and YMM state enabled by the OS
}

static bool hasAvx2() {
  uint64_t xcr0;
  if (!osAvx(xcr0)) return false;
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return (b >> 5) & 1;
}

// FMA3 (CPUID.1:ECX bit 12), usable when the OS saves YMM state
static bool hasFma() {
  uint64_t xcr0;
  if (!osAvx(xcr0)) return false;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  return (c >> 12) & 1;
}

static bool hasAvx512() {
  uint64_t xcr0;
  if (!osAvx(xcr0)) return false;
  if ((xcr0 & 0xe6) != 0xe6) return false;  // opmask, ZMM_Hi256, Hi16_ZMM state enabled
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
  return f && dq && bw && vl;
}

// AMD family 19h with AVX-512 (Zen 4): 512-bit multiplies and adds run as two 256-bit halves
static bool zen4() {
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return false;
  const bool amd = b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163;  // "AuthenticAMD"
  if (!amd || !__get_cpuid(1, &a, &b, &c, &d)) return false;
  const unsigned base = (a >> 8) & 0xf, family = base == 0xf ? base + ((a >> 20) & 0xff) : base;
  return family == 0x19;
}
#else
static bool hasFma() { return false; }
static bool hasAvx2() { return false; }
static bool hasAvx512() { return false; }
static bool zen4() { return false; }
#endif

static const GsKernelTable* tableFor(const char* isa) {
  if (strcmp(isa, "avx512") == 0) return hasAvx512() ? gs_table_avx512() : nullptr;
  if (strcmp(isa, "avx512-ymm") == 0) return hasAvx512() ? gs_table_avx512_ymm() : nullptr;
  if (strcmp(isa, "avx2") == 0) return hasAvx2() ? gs_table_avx2() : nullptr;
  if (strcmp(isa, "scalar") == 0) return gs_table_scalar();
  if (strcmp(isa, "avx512-fma") == 0) return hasAvx512() && hasFma() ? gs_table_avx512_fma() : nullptr;
  if (strcmp(isa, "avx512-ymm-fma") == 0) return hasAvx512() && hasFma() ? gs_table_avx512_ymm_fma() : nullptr;
  if (strcmp(isa, "avx2-fma") == 0) return hasAvx2() && hasFma() ? gs_table_avx2_fma() : nullptr;
  return nullptr;
}

// ---- argument checking -------------------------------------------------------------------

static const size_t MAX_DIM = (size_t)1 << 31;

struct Args {
  napi_env env;
  static constexpr size_t MAX_ARGS = 12;
  napi_value argv[MAX_ARGS];
  size_t argc;
  bool failed = false;

  Args(napi_env e, napi_callback_info info, size_t want, void** data) : env(e), argc(want) {
    if (want > MAX_ARGS) abort();  // napi_get_cb_info writes `want` values into argv
    napi_get_cb_info(env, info, &argc, argv, nullptr, data);
    if (argc < want) fail("ERR_GS_NATIVE_ARGS", "expected more arguments");
  }
  void fail(const char* code, const char* msg) {
    if (!failed) napi_throw_range_error(env, code, msg);
    failed = true;
  }
  size_t dim(size_t i, const char* name) {
    if (failed) return 0;
    double v;
    if (napi_get_value_double(env, argv[i], &v) != napi_ok || !(v >= 0 && v < (double)MAX_DIM) || v != (double)(int64_t)v) {
      char msg[128];
      snprintf(msg, sizeof msg, "%s must be an integer in [0, 2^31)", name);
      fail("ERR_GS_NATIVE_DIM", msg);
      return 0;
    }
    return (size_t)v;
  }
  // The typed array's data (byteOffset applied), checked to be of `type` with ≥ need elements.
  // `length`, when given, receives the array's element count.
  void* array(size_t i, napi_typedarray_type type, size_t need, const char* name, size_t* length = nullptr) {
    if (failed) return nullptr;
    bool is = false;
    napi_is_typedarray(env, argv[i], &is);
    napi_typedarray_type t;
    size_t len = 0;
    void* data = nullptr;
    if (!is || napi_get_typedarray_info(env, argv[i], &t, &len, &data, nullptr, nullptr) != napi_ok || t != type) {
      char msg[128];
      snprintf(msg, sizeof msg, "%s must be %s", name,
               type == napi_float32_array   ? "a Float32Array"
               : type == napi_float64_array ? "a Float64Array"
               : type == napi_int32_array   ? "an Int32Array"
                                            : "a Uint32Array");
      fail("ERR_GS_NATIVE_TYPE", msg);
      return nullptr;
    }
    if (len < need) {
      char msg[160];
      snprintf(msg, sizeof msg, "%s has %zu elements, needs %zu", name, len, need);
      fail("ERR_GS_NATIVE_LENGTH", msg);
      return nullptr;
    }
    if (length != nullptr) *length = len;
    return data;
  }
};

template <typename T> struct TA;
template <> struct TA<float> { static constexpr napi_typedarray_type type = napi_float32_array; };
template <> struct TA<double> { static constexpr napi_typedarray_type type = napi_float64_array; };

enum GemmKind { NT, TN, NN, TN_CHECK, NT_ACC };

// Products are bounded: each dim < 2^31, so m·k etc. fit in size_t on 64-bit targets.
// TN_CHECK is gemmTNCheck(m, n, k, A, B, C, shared): gemmTN and firstNonFinite(C) in one pass.
template <typename T, GemmKind G>
static napi_value gemm(napi_env env, napi_callback_info info) {
  void* data;
  Args a(env, info, G == TN_CHECK ? 7 : 6, &data);
  const GsOps<T>* ops = (const GsOps<T>*)data;
  const size_t m = a.dim(0, "m"), n = a.dim(1, "n"), k = a.dim(2, "k");
  const T* A = (const T*)a.array(3, TA<T>::type, m * k, "A");
  const T* B = (const T*)a.array(4, TA<T>::type, n * k, "B");
  T* C = (T*)a.array(5, TA<T>::type, m * n, "C");
  bool shared = false;
  if (G == TN_CHECK && !a.failed && napi_get_value_bool(env, a.argv[6], &shared) != napi_ok) a.fail("ERR_GS_NATIVE_ARGS", "shared must be a boolean");
  if (a.failed) return nullptr;
  if (G == NT) ops->gemm_nt(m, n, k, A, B, C);
  if (G == TN) ops->gemm_tn(m, n, k, A, B, C);
  if (G == NN) ops->gemm_nn(m, n, k, A, B, C);
  if (G == NT_ACC) ops->gemm_nt_acc(m, n, k, A, B, C);
  if (G != TN_CHECK) return nullptr;
  napi_value r;
  napi_create_double(env, (double)ops->gemm_tn_check(m, n, k, A, B, C, shared ? 1 : 0), &r);
  return r;
}

template <typename T>
static napi_value addBias(napi_env env, napi_callback_info info) {
  void* data;
  Args a(env, info, 4, &data);
  const GsOps<T>* ops = (const GsOps<T>*)data;
  const size_t m = a.dim(0, "m"), n = a.dim(1, "n");
  T* C = (T*)a.array(2, TA<T>::type, m * n, "C");
  const T* b = (const T*)a.array(3, TA<T>::type, n, "b");
  if (a.failed) return nullptr;
  ops->add_bias(m, n, C, b);
  return nullptr;
}

template <typename T>
static napi_value colSum(napi_env env, napi_callback_info info) {
  void* data;
  Args a(env, info, 4, &data);
  const GsOps<T>* ops = (const GsOps<T>*)data;
  const size_t m = a.dim(0, "m"), n = a.dim(1, "n");
  const T* A = (const T*)a.array(2, TA<T>::type, m * n, "A");
  T* out = (T*)a.array(3, TA<T>::type, n, "out");
  if (a.failed) return nullptr;
  ops->col_sum(m, n, A, out);
  return nullptr;
}

// im2col(rows, c, h, w, kh, kw, stride, pad, x, cols) and col2im(…, dcols, dx): the geometry is
// checked as conv2d's spec checks it (a kernel within the padded input, stride ≥ 1), the output
// size derived from it; x and dx hold rows·c·h·w elements, cols and dcols K·rows·oh·ow.
template <typename T, bool Back>
static napi_value convLayout(napi_env env, napi_callback_info info) {
  void* data;
  Args a(env, info, 10, &data);
  const GsOps<T>* ops = (const GsOps<T>*)data;
  GsConvGeom g;
  const size_t rows = a.dim(0, "rows");
  g.c = a.dim(1, "c"), g.h = a.dim(2, "h"), g.w = a.dim(3, "w"), g.kh = a.dim(4, "kh"), g.kw = a.dim(5, "kw");
  g.stride = a.dim(6, "stride"), g.pad = a.dim(7, "pad");
  if (a.failed) return nullptr;
  if (g.stride == 0 || g.kh == 0 || g.kw == 0 || g.kh > g.h + 2 * g.pad || g.kw > g.w + 2 * g.pad || g.pad >= MAX_DIM / 4) {
    a.fail("ERR_GS_NATIVE_DIM", "the kernel must fit the padded input, with stride ≥ 1");
    return nullptr;
  }
  g.oh = (g.h + 2 * g.pad - g.kh) / g.stride + 1;
  g.ow = (g.w + 2 * g.pad - g.kw) / g.stride + 1;
  const double img = (double)rows * g.c * g.h * g.w, col = (double)g.c * g.kh * g.kw * rows * g.oh * g.ow;
  if (img >= (double)MAX_DIM * MAX_DIM || col >= (double)MAX_DIM * MAX_DIM) {
    a.fail("ERR_GS_NATIVE_DIM", "the geometry is too large");
    return nullptr;
  }
  const T* in = (const T*)a.array(8, TA<T>::type, Back ? (size_t)col : (size_t)img, Back ? "dcols" : "x");
  T* out = (T*)a.array(9, TA<T>::type, Back ? (size_t)img : (size_t)col, Back ? "dx" : "cols");
  if (a.failed) return nullptr;
  if (Back) ops->col2im(rows, g, in, out);
  else ops->im2col(rows, g, in, out);
  return nullptr;
}

// maxPool(rows, c, h, w, size, stride, x, out, arg): windows that tile within the input (size ≤ h, w).
template <typename T>
static napi_value maxPool(napi_env env, napi_callback_info info) {
  void* data;
  Args a(env, info, 9, &data);
  const GsOps<T>* ops = (const GsOps<T>*)data;
  const size_t rows = a.dim(0, "rows"), c = a.dim(1, "c"), h = a.dim(2, "h"), w = a.dim(3, "w");
  const size_t size = a.dim(4, "size"), stride = a.dim(5, "stride");
  if (a.failed) return nullptr;
  if (size == 0 || stride == 0 || size > h || size > w) {
    a.fail("ERR_GS_NATIVE_DIM", "the window must fit the input, with stride ≥ 1");
    return nullptr;
  }
  const size_t oh = (h - size) / stride + 1, ow = (w - size) / stride + 1;
  if ((double)rows * c * h * w >= (double)MAX_DIM * MAX_DIM || (double)c * h * w >= (double)MAX_DIM) {
    a.fail("ERR_GS_NATIVE_DIM", "the input is too large");
    return nullptr;
  }
  const T* x = (const T*)a.array(6, TA<T>::type, rows * c * h * w, "x");
  T* out = (T*)a.array(7, TA<T>::type, rows * c * oh * ow, "out");
  int32_t* arg = (int32_t*)a.array(8, napi_int32_array, rows * c * oh * ow, "arg");
  if (a.failed) return nullptr;
  ops->max_pool(rows, c, h, w, size, stride, x, out, arg);
  return nullptr;
}

// maxPoolBackward(rows, inSize, outSize, gOut, arg, gIn): every winner index is checked to lie
// in its example (an index is never trusted to address memory).
template <typename T>
static napi_value maxPoolBackward(napi_env env, napi_callback_info info) {
  void* data;
  Args a(env, info, 6, &data);
  const GsOps<T>* ops = (const GsOps<T>*)data;
  const size_t rows = a.dim(0, "rows"), inSize = a.dim(1, "inSize"), outSize = a.dim(2, "outSize");
  if (a.failed) return nullptr;
  if ((double)rows * inSize >= (double)MAX_DIM * MAX_DIM || (double)rows * outSize >= (double)MAX_DIM * MAX_DIM) {
    a.fail("ERR_GS_NATIVE_DIM", "the input is too large");
    return nullptr;
  }
  const T* gOut = (const T*)a.array(3, TA<T>::type, rows * outSize, "gOut");
  const int32_t* arg = (const int32_t*)a.array(4, napi_int32_array, rows * outSize, "arg");
  T* gIn = (T*)a.array(5, TA<T>::type, rows * inSize, "gIn");
  if (a.failed) return nullptr;
  for (size_t o = 0; o < rows * outSize; o++) {
    if (arg[o] >= 0 && (size_t)arg[o] < inSize) continue;
    char msg[160];
    snprintf(msg, sizeof msg, "arg[%zu] = %d is outside an example's %zu inputs", o, arg[o], inSize);
    a.fail("ERR_GS_NATIVE_INDEX", msg);
    return nullptr;
  }
  ops->max_pool_backward(rows, inSize, outSize, gOut, arg, gIn);
  return nullptr;
}

static double num(Args& a, size_t i, const char* name) {
  double v = 0;
  if (a.failed) return 0;
  if (napi_get_value_double(a.env, a.argv[i], &v) != napi_ok || !(v - v == 0)) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a finite number", name);
    a.fail("ERR_GS_NATIVE_NUMBER", msg);
  }
  return v;
}

// gatherRows: dst row r ← src row order[from + r], rows of `width`, for r < rows (a leaf's
// examples). One memcpy per row; an index past src's rows throws before anything is copied.
template <typename T>
static napi_value gatherRows(napi_env env, napi_callback_info info) {
  Args a(env, info, 6, nullptr);
  const size_t rows = a.dim(0, "rows"), from = a.dim(2, "from"), width = a.dim(3, "width");
  const uint32_t* order = (const uint32_t*)a.array(1, napi_uint32_array, from + rows, "order");
  size_t srcLen = 0;
  const T* src = (const T*)a.array(4, TA<T>::type, 0, "src", &srcLen);
  T* dst = (T*)a.array(5, TA<T>::type, rows * width, "dst");
  if (a.failed) return nullptr;
  const size_t have = width == 0 ? SIZE_MAX : srcLen / width;
  for (size_t r = 0; r < rows; r++) {
    if (order[from + r] < have) continue;
    char msg[160];
    snprintf(msg, sizeof msg, "order[%zu] = %u is past src's %zu rows", from + r, order[from + r], have);
    a.fail("ERR_GS_NATIVE_INDEX", msg);
    return nullptr;
  }
  // rows come from scattered places in memory: the lines of the row AHEAD rows on are asked for
  // while one is copied, so their fetches overlap instead of each row waiting for its first lines
  const size_t bytes = width * sizeof(T);
  const auto row = [&](size_t r) { return (const char*)(src + (size_t)order[from + r] * width); };
  constexpr size_t AHEAD = 3;
  for (size_t r = 0; r < rows && r < AHEAD; r++)
    for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(row(r) + b, 0, 3);
  for (size_t r = 0; r < rows; r++) {
    if (r + AHEAD < rows)
      for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(row(r + AHEAD) + b, 0, 3);
    memcpy(dst + r * width, row(r), bytes);
  }
  return nullptr;
}

// Two arrays of n: addInto (a ← a + b), addIntoCheck (the same, returning the sum's first
// non-finite index) or copyShared (dst ← src, streamed, returning src's).
enum PairOp { ADD, ADD_CHECK, COPY };
template <typename T, PairOp Op>
static napi_value pairPass(napi_env env, napi_callback_info info) {
  void* data;
  Args a(env, info, 3, &data);
  const GsOps<T>* ops = (const GsOps<T>*)data;
  const size_t n = a.dim(0, "n");
  T* x = (T*)a.array(1, TA<T>::type, n, Op == COPY ? "src" : "a");
  T* y = (T*)a.array(2, TA<T>::type, n, Op == COPY ? "dst" : "b");
  if (a.failed) return nullptr;
  if (Op == ADD) {
    ops->add_into(n, x, y);
    return nullptr;
  }
  napi_value r;
  napi_create_double(env, (double)(Op == COPY ? ops->copy_stream(n, x, y) : ops->add_into_check(n, x, y)), &r);
  return r;
}

template <typename T>
static napi_value firstNonFinite(napi_env env, napi_callback_info info) {
  void* data;
  Args a(env, info, 2, &data);
  const GsOps<T>* ops = (const GsOps<T>*)data;
  const size_t n = a.dim(0, "n");
  const T* x = (const T*)a.array(1, TA<T>::type, n, "a");
  if (a.failed) return nullptr;
  napi_value r;
  napi_create_double(env, (double)ops->first_nonfinite(n, x), &r);
  return r;
}

template <typename T, bool Stream>
static napi_value sgdUpdate(napi_env env, napi_callback_info info) {
  void* data;
  Args a(env, info, 5, &data);
  const GsOps<T>* ops = (const GsOps<T>*)data;
  const size_t n = a.dim(0, "n");
  const double lr = num(a, 1, "lr");
  const T* g = (const T*)a.array(2, TA<T>::type, n, "g");
  T* p = (T*)a.array(3, TA<T>::type, n, "p");
  T* u = (T*)a.array(4, TA<T>::type, n, "u");
  if (a.failed) return nullptr;
  (Stream ? ops->sgd_update_stream : ops->sgd_update)(n, lr, g, p, u);
  return nullptr;
}

// momentumUpdate (n, lr, mu, nesterov, first, g, v, p, u): kernels-impl.h momentumUpdate.
template <typename T>
static napi_value momentumUpdate(napi_env env, napi_callback_info info) {
  void* data;
  Args a(env, info, 9, &data);
  const GsOps<T>* ops = (const GsOps<T>*)data;
  const size_t n = a.dim(0, "n");
  const double lr = num(a, 1, "lr");
  const double mu = num(a, 2, "mu");
  bool nesterov = false, first = false;
  if (!a.failed && napi_get_value_bool(env, a.argv[3], &nesterov) != napi_ok) a.fail("ERR_GS_NATIVE_ARGS", "nesterov must be a boolean");
  if (!a.failed && napi_get_value_bool(env, a.argv[4], &first) != napi_ok) a.fail("ERR_GS_NATIVE_ARGS", "first must be a boolean");
  const T* g = (const T*)a.array(5, TA<T>::type, n, "g");
  T* v = (T*)a.array(6, TA<T>::type, n, "v");
  T* p = (T*)a.array(7, TA<T>::type, n, "p");
  T* u = (T*)a.array(8, TA<T>::type, n, "u");
  if (a.failed) return nullptr;
  ops->momentum_update(n, lr, mu, nesterov ? 1 : 0, first ? 1 : 0, g, v, p, u);
  return nullptr;
}

// The reduce passes' divisor: an integer in [1, 2^24] (kernels.ts reduceGrad).
static void checkDivisor(Args& a, double divisor) {
  if (!a.failed && !(divisor >= 1 && divisor <= 16777216.0 && divisor == (double)(int64_t)divisor)) a.fail("ERR_GS_NATIVE_NUMBER", "divisor must be an integer in [1, 2^24]");
}

// reduceGrad (n, g, p, divisor, lambda, out), or with Add addReduceGrad (n, a, b, p, divisor,
// lambda, out, g): the same arguments with b after a, and g last.
template <typename T, bool Add>
static napi_value reducePass(napi_env env, napi_callback_info info) {
  void* data;
  Args a(env, info, Add ? 8 : 6, &data);
  const GsOps<T>* ops = (const GsOps<T>*)data;
  const size_t o = Add ? 1 : 0;
  const size_t n = a.dim(0, "n");
  T* x = (T*)a.array(1, TA<T>::type, n, Add ? "a" : "g");
  const T* y = Add ? (const T*)a.array(2, TA<T>::type, n, "b") : nullptr;
  const T* p = (const T*)a.array(2 + o, TA<T>::type, n, "p");
  const double divisor = num(a, 3 + o, "divisor");
  const double lambda = num(a, 4 + o, "lambda");
  double* out = (double*)a.array(5 + o, napi_float64_array, 2, "out");
  T* g = Add ? (T*)a.array(7, TA<T>::type, n, "g") : x;
  checkDivisor(a, divisor);
  if (a.failed) return nullptr;
  if (Add) ops->add_reduce_grad(n, x, y, p, divisor, lambda, out, g);
  else ops->reduce_grad(n, x, p, divisor, lambda, out);
  return nullptr;
}

// reduceSgd (n, a, b, p, divisor, lambda, lr, out, shared): b may be null (g is a alone).
template <typename T>
static napi_value reduceSgd(napi_env env, napi_callback_info info) {
  void* data;
  Args a(env, info, 9, &data);
  const GsOps<T>* ops = (const GsOps<T>*)data;
  const size_t n = a.dim(0, "n");
  T* x = (T*)a.array(1, TA<T>::type, n, "a");
  napi_valuetype bt = napi_undefined;
  if (!a.failed) napi_typeof(env, a.argv[2], &bt);
  const T* y = bt == napi_null ? nullptr : (const T*)a.array(2, TA<T>::type, n, "b");
  T* p = (T*)a.array(3, TA<T>::type, n, "p");
  const double divisor = num(a, 4, "divisor");
  const double lambda = num(a, 5, "lambda");
  const double lr = num(a, 6, "lr");
  double* out = (double*)a.array(7, napi_float64_array, 2, "out");
  bool shared = false;
  if (!a.failed && napi_get_value_bool(env, a.argv[8], &shared) != napi_ok) a.fail("ERR_GS_NATIVE_ARGS", "shared must be a boolean");
  checkDivisor(a, divisor);
  if (a.failed) return nullptr;
  ops->reduce_sgd(n, x, y, p, divisor, lambda, lr, out, shared ? 1 : 0);
  return nullptr;
}

static int actCode(Args& a, size_t i) {
  if (a.failed) return -1;
  int32_t f = -1;
  if (napi_get_value_int32(a.env, a.argv[i], &f) != napi_ok || f < GS_TANH || f > GS_SOFTMAX) {
    a.fail("ERR_GS_NATIVE_ACTIVATION", "activation code must be 0..4");
    return -1;
  }
  return f;
}

template <typename T>
static napi_value activate(napi_env env, napi_callback_info info) {
  void* data;
  Args a(env, info, 5, &data);
  const GsOps<T>* ops = (const GsOps<T>*)data;
  const int f = actCode(a, 0);
  const size_t m = a.dim(1, "m"), n = a.dim(2, "n");
  const T* z = (const T*)a.array(3, TA<T>::type, m * n, "z");
  T* out = (T*)a.array(4, TA<T>::type, m * n, "a");
  if (a.failed) return nullptr;
  if (m * n > 0) ops->activate(f, m, n, z, out);
  return nullptr;
}

template <typename T>
static napi_value activateBackward(napi_env env, napi_callback_info info) {
  void* data;
  Args a(env, info, 6, &data);
  const GsOps<T>* ops = (const GsOps<T>*)data;
  const int f = actCode(a, 0);
  const size_t m = a.dim(1, "m"), n = a.dim(2, "n");
  // z is read only by relu, a only by tanh, sigmoid and softmax
  const T* z = (const T*)(f == GS_RELU ? a.array(3, TA<T>::type, m * n, "z") : nullptr);
  const T* av = (const T*)(f == GS_TANH || f == GS_SIGMOID || f == GS_SOFTMAX ? a.array(4, TA<T>::type, m * n, "a") : nullptr);
  T* g = (T*)a.array(5, TA<T>::type, m * n, "g");
  if (a.failed) return nullptr;
  if (m * n > 0) ops->activate_backward(f, m, n, z, av, g);
  return nullptr;
}

template <typename T>
static napi_value activationStats(napi_env env, napi_callback_info info) {
  void* data;
  Args a(env, info, 6, &data);
  const GsOps<T>* ops = (const GsOps<T>*)data;
  const int f = actCode(a, 0);
  const size_t m = a.dim(1, "m"), n = a.dim(2, "n");
  const T* z = (const T*)a.array(3, TA<T>::type, m * n, "z");
  const T* av = (const T*)a.array(4, TA<T>::type, m * n, "a");
  double* out = (double*)a.array(5, napi_float64_array, 1 + n, "out");
  if (a.failed) return nullptr;
  ops->activation_stats(f, m, n, z, av, out);
  return nullptr;
}

template <typename T>
static napi_value softmaxCE(napi_env env, napi_callback_info info) {
  void* data;
  Args a(env, info, 6, &data);
  const GsOps<T>* ops = (const GsOps<T>*)data;
  const size_t rows = a.dim(0, "rows"), n = a.dim(1, "n");
  if (!a.failed && rows > 0 && n == 0) a.fail("ERR_GS_NATIVE_DIM", "n must be at least 1");
  const T* z = (const T*)a.array(2, TA<T>::type, rows * n, "z");
  const T* av = (const T*)a.array(3, TA<T>::type, rows * n, "a");
  const T* y = (const T*)a.array(4, TA<T>::type, rows * n, "y");
  T* g = (T*)a.array(5, TA<T>::type, rows * n, "g");
  if (a.failed) return nullptr;
  napi_value r;
  napi_create_double(env, ops->softmax_ce(rows, n, z, av, y, g), &r);
  return r;
}

static bool setFn(napi_env env, napi_value obj, const char* name, napi_callback cb, const void* data) {
  napi_value fn;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, (void*)data, &fn) != napi_ok) return false;
  return napi_set_named_property(env, obj, name, fn) == napi_ok;
}

template <typename T>
static napi_value makeOps(napi_env env, const GsOps<T>* ops) {
  napi_value obj;
  napi_create_object(env, &obj);
  setFn(env, obj, "gemmNT", gemm<T, NT>, ops);
  setFn(env, obj, "gemmTN", gemm<T, TN>, ops);
  setFn(env, obj, "gemmNN", gemm<T, NN>, ops);
  setFn(env, obj, "gemmTNCheck", gemm<T, TN_CHECK>, ops);
  setFn(env, obj, "addBias", addBias<T>, ops);
  setFn(env, obj, "colSum", colSum<T>, ops);
  setFn(env, obj, "activate", activate<T>, ops);
  setFn(env, obj, "activateBackward", activateBackward<T>, ops);
  setFn(env, obj, "addInto", pairPass<T, ADD>, ops);
  setFn(env, obj, "addIntoCheck", pairPass<T, ADD_CHECK>, ops);
  setFn(env, obj, "firstNonFinite", firstNonFinite<T>, ops);
  setFn(env, obj, "sgdUpdate", sgdUpdate<T, false>, ops);
  setFn(env, obj, "sgdUpdateShared", sgdUpdate<T, true>, ops);
  setFn(env, obj, "copyShared", pairPass<T, COPY>, ops);
  setFn(env, obj, "reduceGrad", reducePass<T, false>, ops);
  setFn(env, obj, "addReduceGrad", reducePass<T, true>, ops);
  setFn(env, obj, "reduceSgd", reduceSgd<T>, ops);
  setFn(env, obj, "activationStats", activationStats<T>, ops);
  setFn(env, obj, "softmaxCE", softmaxCE<T>, ops);
  setFn(env, obj, "gatherRows", gatherRows<T>, ops);
  setFn(env, obj, "gemmNTAcc", gemm<T, NT_ACC>, ops);
  setFn(env, obj, "im2col", convLayout<T, false>, ops);
  setFn(env, obj, "col2im", convLayout<T, true>, ops);
  setFn(env, obj, "maxPool", maxPool<T>, ops);
  setFn(env, obj, "maxPoolBackward", maxPoolBackward<T>, ops);
  setFn(env, obj, "momentumUpdate", momentumUpdate<T>, ops);
  return obj;
}

// The builds of `names` this CPU can run, in that order.
template <size_t N>
static napi_value runnable(napi_env env, const char* const (&names)[N]) {
  napi_value arr, s;
  napi_create_array(env, &arr);
  uint32_t i = 0;
  for (const char* name : names) {
    if (tableFor(name) == nullptr) continue;
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, arr, i++, s);
  }
  return arr;
}

// best first: the GEMM's vector width that issues faster on this CPU (isa-avx512*.cc)
static napi_value isas(napi_env env, napi_callback_info) {
  static const char* const names[] = {"avx512", "avx512-ymm", "avx2", "scalar"};
  static const char* const namesZen4[] = {"avx512-ymm", "avx512", "avx2", "scalar"};
  return zen4() ? runnable(env, namesZen4) : runnable(env, names);
}

// the fma profile's builds, in the same order; no scalar one (the baseline has no FMA)
static napi_value fmaIsas(napi_env env, napi_callback_info) {
  static const char* const names[] = {"avx512-fma", "avx512-ymm-fma", "avx2-fma"};
  static const char* const namesZen4[] = {"avx512-ymm-fma", "avx512-fma", "avx2-fma"};
  return zen4() ? runnable(env, namesZen4) : runnable(env, names);
}

// hardwareFma(a, b, c, out): the processor's fma element by element (fma-probe.cc)
static napi_value hardwareFma(napi_env env, napi_callback_info info) {
  Args a(env, info, 4, nullptr);
  if (a.failed) return nullptr;
  if (!hasFma()) {
    napi_throw_error(env, "ERR_GS_NATIVE_ISA", "this CPU has no FMA");
    return nullptr;
  }
  napi_typedarray_type t = napi_float64_array;
  bool is = false;
  napi_is_typedarray(env, a.argv[3], &is);
  if (is) napi_get_typedarray_info(env, a.argv[3], &t, nullptr, nullptr, nullptr, nullptr);
  const bool f32 = is && t == napi_float32_array;
  size_t n = 0;
  void* out = a.array(3, f32 ? napi_float32_array : napi_float64_array, 0, "out", &n);
  const void* x = a.array(0, f32 ? napi_float32_array : napi_float64_array, n, "a");
  const void* y = a.array(1, f32 ? napi_float32_array : napi_float64_array, n, "b");
  const void* z = a.array(2, f32 ? napi_float32_array : napi_float64_array, n, "c");
  if (a.failed) return nullptr;
#if defined(__x86_64__)
  if (f32) gs_fma_f32(n, (const float*)x, (const float*)y, (const float*)z, (float*)out);
  else gs_fma_f64(n, (const double*)x, (const double*)y, (const double*)z, (double*)out);
#endif
  return nullptr;
}

static napi_value kernels(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  char isa[24] = {0}, dtype[16] = {0};
  size_t len;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], isa, sizeof isa, &len) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], dtype, sizeof dtype, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_GS_NATIVE_ARGS", "kernels(isa, dtype) takes two strings");
    return nullptr;
  }
  const GsKernelTable* t = tableFor(isa);
  if (t == nullptr) {
    napi_throw_error(env, "ERR_GS_NATIVE_ISA", "this CPU cannot run the requested instruction set");
    return nullptr;
  }
  if (strcmp(dtype, "float32") == 0) return makeOps<float>(env, &t->f32);
  if (strcmp(dtype, "float64") == 0) return makeOps<double>(env, &t->f64);
  napi_throw_type_error(env, "ERR_GS_NATIVE_ARGS", "dtype must be float32 or float64");
  return nullptr;
}

// lineOffset(view): where a typed array's first element lies within its 64-byte cache line, in
// bytes (0–63), so that a layout can put a streamed array on a line (N-API on Node 20 hands out
// a SharedArrayBuffer's memory only through a view of it).
static napi_value lineOffset(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool isTa = false;
  napi_typedarray_type type;
  size_t len = 0, offset = 0;
  void* data = nullptr;
  napi_value ab;
  if (argc < 1 || napi_is_typedarray(env, argv[0], &isTa) != napi_ok || !isTa ||
      napi_get_typedarray_info(env, argv[0], &type, &len, &data, &ab, &offset) != napi_ok) {
    napi_throw_type_error(env, "ERR_GS_NATIVE_ARGS", "lineOffset(view) takes a typed array");
    return nullptr;
  }
  napi_value r;
  napi_create_uint32(env, (uint32_t)((uintptr_t)data & 63), &r);
  return r;
}

}  // namespace

NAPI_MODULE_INIT() {
  setFn(env, exports, "isas", isas, nullptr);
  setFn(env, exports, "fmaIsas", fmaIsas, nullptr);
  setFn(env, exports, "hardwareFma", hardwareFma, nullptr);
  setFn(env, exports, "lineOffset", lineOffset, nullptr);
  setFn(env, exports, "kernels", kernels, nullptr);
  return exports;
}
