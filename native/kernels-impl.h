// kernels-impl.h — THE KERNEL SPEC (src/tensor/kernels.ts) in C++ with GCC vector extensions.
//
// Included once per instruction set by isa-*.cc, which define before the include:
//   GS_VBYTES          vector width in bytes (64 AVX-512, 32 AVX2, 16 baseline)
//   GS_GEMM_VBYTES     GEMM vector width in bytes (default GS_VBYTES)
//   GS_MR32, GS_MR32B, GS_NV32   float32 GEMM register tiles: GS_MR32 or GS_MR32B rows × GS_NV32 vectors
//   GS_MR64, GS_MR64B, GS_NV64   float64 GEMM register tiles
//   GS_TABLE_FN        the exported function returning this build's GsKernelTable
//   GS_TABLE_NAME      "avx512" | "avx512-ymm" | "avx2" | "scalar" (| the same with "-fma")
//   GS_FMA             1 for the `fma` profile: each GEMM term one fused multiply-add (madd below);
//                      nothing else changes (the element-wise code never contracts: -ffp-contract=off)
// Everything here lives in an anonymous namespace: the same templates compiled with
// different target flags in different files must never be merged by the linker.
//
// Bit-exactness rules followed throughout (compile with -ffp-contract=off, no -ffast-math):
//  - float32 math is done in float, so every +, −, ×, ÷ rounds to float32, as the reference's
//    Math.fround after each double operation does (double rounding is harmless for them);
//  - vector lanes only ever hold independent output elements; each element's operations and
//    their order are exactly the reference's; branches of spec-math are computed for all lanes
//    and selected per lane;
//  - spec-math's constants are built as JS builds them (decimal → double → float).
// Not here: argument checking and the N-API glue (addon.cc).

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utility>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "kernel-table.h"

namespace {

// ---- vector types ------------------------------------------------------------------------

constexpr int W32 = GS_VBYTES / 4;  // float lanes
constexpr int W64 = GS_VBYTES / 8;  // double lanes
typedef float VF __attribute__((vector_size(GS_VBYTES)));
typedef int32_t VFI __attribute__((vector_size(GS_VBYTES)));    // float compare masks
typedef uint32_t VFU __attribute__((vector_size(GS_VBYTES)));
typedef double VD __attribute__((vector_size(GS_VBYTES)));
typedef int64_t VDI __attribute__((vector_size(GS_VBYTES)));    // double compare masks
typedef uint64_t VDU __attribute__((vector_size(GS_VBYTES)));
typedef int32_t VDH __attribute__((vector_size(GS_VBYTES / 2)));  // int32 lanes for doubles

template <typename V> struct Lanes;
template <> struct Lanes<VF> { typedef float T; static constexpr int W = W32; };
template <> struct Lanes<VD> { typedef double T; static constexpr int W = W64; };

template <typename V>
static inline V splat(typename Lanes<V>::T x) {
  V v;
  for (int l = 0; l < Lanes<V>::W; l++) v[l] = x;
  return v;
}
template <typename V>
static inline V loadu(const typename Lanes<V>::T* p) {
  V v;
  memcpy(&v, p, sizeof v);
  return v;
}
template <typename V>
static inline void storeu(typename Lanes<V>::T* p, V v) {
  memcpy(p, &v, sizeof v);
}

// ---- spec-math constants, built as spec-math.ts builds them ----------------------------------

struct Consts {
  double invFact[20];   // 1/i!, i = 0..19
  float invFact32[20];  // fround of the above
  Consts() {
    double f = 1;
    for (int i = 0; i <= 19; i++) {
      if (i > 0) f *= i;
      invFact[i] = 1 / f;
      invFact32[i] = (float)invFact[i];
    }
  }
};
static const Consts K;

// float64
static const double LN2_HI = 6.93147180369123816490e-1;
static const double LN2_LO = 1.90821492927058770002e-10;
static const double INV_LN2 = 1.44269504088896338700;
static const double EXP_OVER = 709.782712893384;
static const double EXP_UNDER = -745.1332191019412;
// float32: Math.fround(<double literal>), i.e. decimal → double → float, as in JS
static const float C1_32 = (float)0.693359375;
static const float C2_32 = (float)-2.12194440e-4;
static const float INV_LN2_32 = (float)1.4426950408889634;
static const float EXP32_OVER = (float)88.72283;
static const float EXP32_UNDER = (float)-103.97208;
// tanh32's `ax > 9.1` compares a float with the double 9.1: true exactly when ax ≥ fround(9.1)
static const float TANH32_ONE = (float)9.1;

// ---- Math.round (ties toward +∞) of a value known to be in (−2^31, 2^31) ---------------------
// floor(t + 0.5) is not the same for all t (t + 0.5 may round up), so: floor, then compare the
// exactly computed fraction with ½. Out-of-range lanes are clamped first and masked by callers.

template <typename V, typename M, typename VI>
static inline V jsRound(V t, V limit) {
  typedef typename Lanes<V>::T T;
  V zero = splat<V>(0);
  M inRange = (t > -limit) & (t < limit);
  V tc = inRange ? t : zero;
  V tr = __builtin_convertvector(__builtin_convertvector(tc, VI), V);  // trunc toward 0
  V fl = tr > tc ? tr - splat<V>(1) : tr;                              // floor
  V d = tc - fl;                                                      // exact
  return d >= splat<V>((T)0.5) ? fl + splat<V>(1) : fl;
}

// ---- float32 element-wise (spec-math exp32, tanh32, sigmoid32) --------------------------------

static inline VF exp32v(VF x) {
  VFI isNan = x != x;
  VFI over = x > EXP32_OVER;
  VFI under = x < EXP32_UNDER;
  VF k = jsRound<VF, VFI, VFI>(x * INV_LN2_32, splat<VF>(1e9f));
  VF r = (x - k * C1_32) - k * C2_32;
  VF p = splat<VF>(K.invFact32[7]);
  for (int i = 6; i >= 0; i--) p = p * r + K.invFact32[i];
  // scale2_32: p·2^k rounded once. k ∈ [−150, 128] on the lanes that are kept.
  VFI lo = k < -126.0f;  // p·2^(k+30) exactly, then ·2^−30 rounds once
  VFI hi = k > 127.0f;   // 2^128 is no float: p·2^127 exactly, then ·2
  VF ka = lo ? k + 30.0f : (hi ? k - 1.0f : k);
  ka = (ka >= -126.0f) & (ka <= 127.0f) ? ka : splat<VF>(0);  // keep the exponent field valid on masked lanes
  VFU bits = (VFU)(__builtin_convertvector(ka, VFI) + 127) << 23;
  VF m1 = (VF)bits;
  VF m2 = lo ? splat<VF>(9.313225746154785e-10f) : (hi ? splat<VF>(2.0f) : splat<VF>(1.0f));
  VF res = (p * m1) * m2;
  res = under ? splat<VF>(0) : res;
  res = over ? splat<VF>(__builtin_inff()) : res;
  return isNan ? splat<VF>(__builtin_nanf("")) : res;
}

static inline VF expm1Small32v(VF u) {
  VF p = splat<VF>(K.invFact32[11]);
  for (int i = 10; i >= 1; i--) p = p * u + K.invFact32[i];
  return p * u;
}

// exp32v for u ∈ [1, 18.2] only (tanh32's 2|x| for |x| ∈ [0.5, 9.1)): no NaN, overflow or
// underflow, k ∈ [1, 27], so exp32v's guards and its 2^k scaling steps fall away; Math.round of
// a positive t is trunc(t), plus 1 when the exact fraction t − trunc(t) is at least ½.
static inline VF expTanh32v(VF u) {
  VF t = u * INV_LN2_32;
  VF tr = __builtin_convertvector(__builtin_convertvector(t, VFI), VF);
  VF k = (t - tr) >= 0.5f ? tr + 1.0f : tr;
  VF r = (u - k * C1_32) - k * C2_32;
  VF p = splat<VF>(K.invFact32[7]);
  for (int i = 6; i >= 0; i--) p = p * r + K.invFact32[i];
  VFU bits = (VFU)(__builtin_convertvector(k, VFI) + 127) << 23;
  return p * (VF)bits;
}

// Both branches on every lane, then one division: num/den chosen per lane first (em1/(em1 + 2)
// or 2/(e + 1): the same quotient bits), against two divisions before. Checked equal to the
// two-division form on all 2^32 inputs (a throwaway driver, AVX-512, AVX2 and 128-bit widths).
static inline VF tanh32v(VF x) {
  VFI isNan = x != x;
  VFI neg = x < 0.0f;
  VF ax = neg ? -x : x;  // as spec-math: −0 stays −0 (not fabs)
  VF u = 2.0f * ax;
  VFI small = ax < 0.5f;
  VF em1 = expm1Small32v(u);
  // lanes outside [0.5, 9.1) take u = 1 there: their large-branch value is never kept
  VF e = expTanh32v((ax >= 0.5f) & (ax < TANH32_ONE) ? u : splat<VF>(1.0f));
  VF q = (small ? em1 : splat<VF>(2.0f)) / (small ? em1 + 2.0f : e + 1.0f);
  VF t = ax >= TANH32_ONE ? splat<VF>(1.0f) : (small ? q : 1.0f - q);
  t = neg ? -t : t;
  return isNan ? splat<VF>(__builtin_nanf("")) : t;
}

static inline VF sigmoid32v(VF x) {
  VFI isNan = x != x;
  VFI pos = x >= 0.0f;
  VF e = exp32v(pos ? -x : x);
  VF s = pos ? 1.0f / (1.0f + e) : e / (1.0f + e);
  return isNan ? splat<VF>(__builtin_nanf("")) : s;
}

// ---- float64 element-wise (spec-math exp64, tanh64, sigmoid64) --------------------------------

static inline VD exp64v(VD x) {
  VDI isNan = x != x;
  VDI over = x > EXP_OVER;
  VDI under = x < EXP_UNDER;
  VD k = jsRound<VD, VDI, VDH>(x * INV_LN2, splat<VD>(1e9));
  VD r = (x - k * LN2_HI) - k * LN2_LO;
  VD p = splat<VD>(K.invFact[13]);
  for (int i = 12; i >= 0; i--) p = p * r + K.invFact[i];
  // scale2 (spec v2): p·2^k for k ∈ [−1075, 1024] on kept lanes: k < −1022 as p·2^(k+54)·2^−54,
  // k = 1024 as p·2^1023·2, so each result rounds once.
  VDI lo = k < -1022.0;
  VDI top = k > 1023.0;
  VD ka = lo ? k + 54.0 : k;
  ka = top ? splat<VD>(1023.0) : ka;
  ka = (ka >= -1022.0) & (ka <= 1023.0) ? ka : splat<VD>(0);
  VDI ki = __builtin_convertvector(__builtin_convertvector(ka, VDH), VDI);
  VDU bits = (VDU)(ki + 1023) << 52;
  VD m1 = (VD)bits;
  VD m2 = lo ? splat<VD>(5.551115123125783e-17) : top ? splat<VD>(2.0) : splat<VD>(1.0);
  VD res = (p * m1) * m2;
  res = under ? splat<VD>(0) : res;
  res = over ? splat<VD>(__builtin_inf()) : res;
  return isNan ? splat<VD>(__builtin_nan("")) : res;
}

static inline VD expm1Small64v(VD u) {
  VD p = splat<VD>(K.invFact[19]);
  for (int i = 18; i >= 1; i--) p = p * u + K.invFact[i];
  return p * u;
}

static inline VD tanh64v(VD x) {
  VDI isNan = x != x;
  VDI neg = x < 0.0;
  VD ax = neg ? -x : x;
  VD u = 2.0 * ax;
  VD em1 = expm1Small64v(u);
  VD tSmall = em1 / (em1 + 2.0);
  VD tLarge = 1.0 - 2.0 / (exp64v(u) + 1.0);
  VD t = ax > 19.1 ? splat<VD>(1.0) : (ax < 0.5 ? tSmall : tLarge);
  t = neg ? -t : t;
  return isNan ? splat<VD>(__builtin_nan("")) : t;
}

static inline VD sigmoid64v(VD x) {
  VDI isNan = x != x;
  VDI pos = x >= 0.0;
  VD e = exp64v(pos ? -x : x);
  VD s = pos ? 1.0 / (1.0 + e) : e / (1.0 + e);
  return isNan ? splat<VD>(__builtin_nan("")) : s;
}

// Applies a lane-wise function over len elements (in may equal out); the tail goes through a
// zero-padded vector, and only its valid lanes are stored.
template <typename V, typename F>
static inline void mapv(size_t len, const typename Lanes<V>::T* in, typename Lanes<V>::T* out, F fn) {
  typedef typename Lanes<V>::T T;
  constexpr int W = Lanes<V>::W;
  size_t i = 0;
  for (; i + W <= len; i += W) storeu<V>(out + i, fn(loadu<V>(in + i)));
  if (i < len) {
    T buf[W] = {};
    memcpy(buf, in + i, (len - i) * sizeof(T));
    storeu<V>(buf, fn(loadu<V>(buf)));
    memcpy(out + i, buf, (len - i) * sizeof(T));
  }
}

struct Tanh32 { VF operator()(VF v) const { return tanh32v(v); } };
struct Sigmoid32 { VF operator()(VF v) const { return sigmoid32v(v); } };
struct Exp32 { VF operator()(VF v) const { return exp32v(v); } };
struct Tanh64 { VD operator()(VD v) const { return tanh64v(v); } };
struct Sigmoid64 { VD operator()(VD v) const { return sigmoid64v(v); } };
struct Exp64 { VD operator()(VD v) const { return exp64v(v); } };

template <typename T> struct Fns;
template <> struct Fns<float> { typedef VF V; typedef Tanh32 Tanh; typedef Sigmoid32 Sigmoid; typedef Exp32 Exp; };
template <> struct Fns<double> { typedef VD V; typedef Tanh64 Tanh; typedef Sigmoid64 Sigmoid; typedef Exp64 Exp; };

// Copy for 'linear'. float32: the reference reads each value into a double and stores it back,
// which quiets a signalling NaN; do the same with integer operations.
static inline void copyLinear(size_t len, const float* z, float* a) {
  for (size_t i = 0; i < len; i++) {
    uint32_t b;
    memcpy(&b, z + i, 4);
    if ((b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu) != 0) b |= 0x00400000u;
    memcpy(a + i, &b, 4);
  }
}
static inline void copyLinear(size_t len, const double* z, double* a) {
  if (z != a) memmove(a, z, len * sizeof(double));
}

template <typename T>
static void activate(int f, size_t m, size_t n, const T* z, T* a) {
  typedef typename Fns<T>::V V;
  const size_t len = m * n;
  switch (f) {
    case GS_TANH: mapv<V>(len, z, a, typename Fns<T>::Tanh()); break;
    case GS_SIGMOID: mapv<V>(len, z, a, typename Fns<T>::Sigmoid()); break;
    case GS_RELU:
      for (size_t i = 0; i < len; i++) { T v = z[i]; a[i] = v > 0 ? v : (T)0; }
      break;
    case GS_LINEAR: copyLinear(len, z, a); break;
    case GS_SOFTMAX:
      // a = z − rowmax (in the dtype), then exp over the whole block, then per row the sum in
      // increasing order and the division: the reference's operations, regrouped by pass.
      for (size_t r = 0; r < m; r++) {
        const T* zr = z + r * n;
        T* ar = a + r * n;
        T mx = zr[0];
        for (size_t j = 1; j < n; j++) if (zr[j] > mx) mx = zr[j];
        for (size_t j = 0; j < n; j++) ar[j] = zr[j] - mx;
      }
      mapv<V>(len, a, a, typename Fns<T>::Exp());
      for (size_t r = 0; r < m; r++) {
        T* ar = a + r * n;
        T s = 0;
        for (size_t j = 0; j < n; j++) s = s + ar[j];
        for (size_t j = 0; j < n; j++) ar[j] = ar[j] / s;
      }
      break;
  }
}

// ---- spec-math log32 / log64, scalar (one per row in softmaxCE) ------------------------------

// x = m·2^e with m in [√½, √2); exact (spec-math frexpNorm).
static inline double frexpNorm(double x, int* e) {
  int ee = 0;
  if (x < 2.2250738585072014e-308) { x *= 18014398509481984.0; ee = -54; }  // subnormal: ·2^54, exact
  uint64_t b;
  memcpy(&b, &x, 8);
  ee += (int)((b >> 52) & 0x7ff) - 1023;
  b = (b & 0x800fffffffffffffULL) | 0x3ff0000000000000ULL;
  double m;
  memcpy(&m, &b, 8);
  if (m > 1.4142135623730951) { m /= 2; ee += 1; }
  *e = ee;
  return m;
}

static inline double logT(double x) {
  if (x != x || x < 0) return __builtin_nan("");
  if (x == 0) return -__builtin_inf();
  if (x == __builtin_inf()) return x;
  int e;
  const double m = frexpNorm(x, &e);
  const double f = m - 1, s = f / (2 + f), z = s * s;
  double p = 1.0 / 23;
  for (int i = 10; i >= 0; i--) p = p * z + 1.0 / (2 * i + 1);
  const double lnm = 2 * s * p;
  return e * LN2_HI + (lnm + e * LN2_LO);
}

// float32: every +, −, ×, ÷ in float is the reference's fround of the double operation
static inline float logT(float x) {
  if (x != x || x < 0) return __builtin_nanf("");
  if (x == 0) return -__builtin_inff();
  if (x == __builtin_inff()) return x;
  int e;
  const float m = (float)frexpNorm((double)x, &e);  // exact: x's mantissa has 24 bits
  const float f = m - 1.0f, s = f / (2.0f + f), z = s * s;
  float p = (float)(1.0 / 11);
  for (int i = 4; i >= 0; i--) p = p * z + (float)(1.0 / (2 * i + 1));
  const float lnm = (2.0f * s) * p;
  const float ef = (float)e;
  return ef * (float)0.693145751953125 + (lnm + ef * (float)1.428606765330187045e-6);
}

// Softmax cross-entropy over `rows` rows of n (KernelSet.softmaxCE; the reference is
// softmaxCE32/64 in src/tensor/kernels.ts): per row the max of z,
// s = Σ exp(z − max) and Σy in increasing j, lse = max + log s, the row's loss Σ_{y≠0} y·(lse − z)
// in the dtype, and g = a·Σy − y; returns the rows' losses summed in double, in row order.
template <typename T>
static double softmaxCE(size_t rows, size_t n, const T* z, const T* a, const T* y, T* g) {
  typedef typename Fns<T>::V V;
  constexpr size_t CH = 256;
  alignas(64) T d[CH];
  double total = 0;
  for (size_t r = 0; r < rows; r++) {
    const T* zr = z + r * n;
    const T* yr = y + r * n;
    T mx = zr[0];
    for (size_t j = 1; j < n; j++) if (zr[j] > mx) mx = zr[j];
    T s = 0, ysum = 0;
    for (size_t j0 = 0; j0 < n; j0 += CH) {
      const size_t c = n - j0 < CH ? n - j0 : CH;
      for (size_t j = 0; j < c; j++) d[j] = zr[j0 + j] - mx;
      mapv<V>(c, d, d, typename Fns<T>::Exp());
      for (size_t j = 0; j < c; j++) { s = s + d[j]; ysum = ysum + yr[j0 + j]; }
    }
    const T lse = mx + logT(s);
    T li = 0;
    for (size_t j = 0; j < n; j++) {
      const T yj = yr[j];
      if (yj != 0) li = li + yj * (lse - zr[j]);
      g[r * n + j] = a[r * n + j] * ysum - yj;
    }
    total += (double)li;
  }
  return total;
}

template <typename T>
static void activateBackward(int f, size_t m, size_t n, const T* z, const T* a, T* g) {
  const size_t len = m * n;
  switch (f) {
    case GS_TANH:
      for (size_t i = 0; i < len; i++) { T v = a[i]; g[i] = g[i] * ((T)1 - v * v); }
      break;
    case GS_SIGMOID:
      for (size_t i = 0; i < len; i++) { T v = a[i]; g[i] = g[i] * (v * ((T)1 - v)); }
      break;
    case GS_RELU:
      for (size_t i = 0; i < len; i++) if (!(z[i] > 0)) g[i] = 0;
      break;
    case GS_LINEAR: break;
    case GS_SOFTMAX:
      for (size_t r = 0; r < m; r++) {
        const T* ar = a + r * n;
        T* gr = g + r * n;
        T dot = 0;
        for (size_t j = 0; j < n; j++) dot = dot + gr[j] * ar[j];
        for (size_t j = 0; j < n; j++) gr[j] = ar[j] * (gr[j] - dot);
      }
      break;
  }
}

template <typename T>
static void addBias(size_t m, size_t n, T* C, const T* b) {
  for (size_t i = 0; i < m; i++) {
    T* c = C + i * n;
    for (size_t j = 0; j < n; j++) c[j] = c[j] + b[j];
  }
}

template <typename T>
static void colSum(size_t m, size_t n, const T* A, T* out) {
  for (size_t j = 0; j < n; j++) out[j] = 0;
  for (size_t i = 0; i < m; i++) {
    const T* a = A + i * n;
    for (size_t j = 0; j < n; j++) out[j] = out[j] + a[j];
  }
}

// ---- vector passes over whole buffers (spec rules 7–9 in src/tensor/kernels.ts) --------------

template <typename T>
static void addInto(size_t n, T* a, const T* b) {
  for (size_t i = 0; i < n; i++) a[i] = a[i] + b[i];
}

// x − x is 0 for a finite x, NaN for NaN and ±Inf (no -ffast-math: the compiler keeps it).
template <typename T>
static long firstNonFinite(size_t n, const T* a) {
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    int bad = 0;
    for (size_t j = 0; j < 64; j++) { const T v = a[i + j]; bad |= !(v - v == 0); }
    if (bad) break;
  }
  for (; i < n; i++) { const T v = a[i]; if (!(v - v == 0)) return (long)i; }
  return -1;
}

// addInto, returning firstNonFinite of the sum (−1: none): the scan in the add's own pass.
template <typename T>
static long addIntoCheck(size_t n, T* a, const T* b) {
  long at = -1;
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    int bad = 0;
    for (size_t j = 0; j < 64; j++) {
      const T v = a[i + j] + b[i + j];
      a[i + j] = v;
      bad |= !(v - v == 0);
    }
    if (bad && at < 0) at = (long)i + firstNonFinite(64, a + i);
  }
  for (; i < n; i++) {
    const T v = a[i] + b[i];
    a[i] = v;
    if (at < 0 && !(v - v == 0)) at = (long)i;
  }
  return at;
}

// u = lr·g computed in double and rounded to T once; p = p − u in T.
template <typename T>
static void sgdUpdate(size_t n, double lr, const T* g, T* p, T* u) {
  for (size_t i = 0; i < n; i++) {
    const T ui = (T)(lr * (double)g[i]);
    u[i] = ui;
    p[i] = p[i] - ui;
  }
}

// SGD with momentum (src/optim/optimizer.ts updateRange, PyTorch's rule; the same bits): per
// element v = g on the first step, else (T)(mu·v + g); u = (T)(lr·(g + mu·v)) with Nesterov, else
// (T)(lr·v), v as stored; p = p − u. Each product and sum in double, each stored value rounded to
// T once (-ffp-contract=off: no fused multiply-add). A template per flag pair, so that each loop
// is one straight pass the compiler vectorizes.
template <typename T, bool NESTEROV, bool FIRST>
static void momentumPass(size_t n, double lr, double mu, const T* __restrict g, T* __restrict v, T* __restrict p, T* __restrict u) {
  for (size_t i = 0; i < n; i++) {
    const double gi = (double)g[i];
    const T vi = FIRST ? g[i] : (T)(mu * (double)v[i] + gi);
    v[i] = vi;
    const T ui = NESTEROV ? (T)(lr * (gi + mu * (double)vi)) : (T)(lr * (double)vi);
    u[i] = ui;
    p[i] = (T)((double)p[i] - (double)ui);
  }
}

template <typename T>
static void momentumUpdate(size_t n, double lr, double mu, int nesterov, int first, const T* g, T* v, T* p, T* u) {
  if (nesterov) (first ? momentumPass<T, true, true> : momentumPass<T, true, false>)(n, lr, mu, g, v, p, u);
  else (first ? momentumPass<T, false, true> : momentumPass<T, false, false>)(n, lr, mu, g, v, p, u);
}

typedef double VFD __attribute__((vector_size(2 * GS_VBYTES)));  // a VF's lanes as doubles
// (T)(lr·g) per lane, the product in double: sgdUpdate's rounding
static inline VF lrTimes(double lr, VF g) { return __builtin_convertvector(lr * __builtin_convertvector(g, VFD), VF); }
static inline VD lrTimes(double lr, VD g) { return lr * g; }

// One 64-byte line to 64-byte-aligned dst with non-temporal stores, which bypass the caches
// (plain stores where the ISA has none).
static inline void streamLine(void* dst, const void* src) {
#if defined(__AVX512F__)
  _mm512_stream_si512((__m512i*)dst, _mm512_loadu_si512(src));
#elif defined(__AVX__)
  for (int j = 0; j < 2; j++) _mm256_stream_si256((__m256i*)dst + j, _mm256_loadu_si256((const __m256i*)src + j));
#elif defined(__SSE2__)
  for (int j = 0; j < 4; j++) _mm_stream_si128((__m128i*)dst + j, _mm_loadu_si128((const __m128i*)src + j));
#else
  memcpy(dst, src, 64);
#endif
}

// sgdUpdate, the same bits, with p's whole cache lines written by non-temporal stores: for
// weights that another core reads next (a pool thread's forward pass). A plain store must
// first take the line from the other core's cache, which costs far more than the arithmetic
// (scripts/bench-xcore.ts measures it). The fence orders the streamed lines before whatever
// signals the other core.
template <typename T>
static void sgdUpdateStream(size_t n, double lr, const T* g, T* p, T* u) {
  constexpr size_t L = 64 / sizeof(T);
  size_t i = ((64 - ((uintptr_t)p & 63)) & 63) / sizeof(T);  // p + i: p's first line boundary
  if (i > n || ((uintptr_t)p % sizeof(T)) != 0) i = n;
  sgdUpdate(i, lr, g, p, u);
  typedef typename Fns<T>::V V;
  constexpr size_t W = sizeof(V) / sizeof(T);
  alignas(64) T line[L];
  for (; i + L <= n; i += L) {
    for (size_t j = 0; j < L; j += W) {
      const V uj = lrTimes(lr, loadu<V>(g + i + j));
      storeu<V>(u + i + j, uj);
      storeu<V>(line + j, loadu<V>(p + i + j) - uj);
    }
    streamLine(p + i, line);
  }
  sgdUpdate(n - i, lr, g + i, p + i, u + i);
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// Whether a per-lane Σ (x − x) saw a value that is not finite (a lane that is not +0).
template <typename T, typename V>
static inline bool anyLaneNonZero(V acc) {
  constexpr size_t W = sizeof(V) / sizeof(T);
  T lanes[W];
  memcpy(lanes, &acc, sizeof lanes);
  bool bad = false;
  for (size_t j = 0; j < W; j++) bad = bad || !(lanes[j] == 0);
  return bad;
}

// dst ← src over n elements, dst's whole cache lines written by non-temporal stores: for a
// buffer another core reads next, filled from one only this core touches (a pool thread's
// partial into its shared slot). The same bits as any copy. SCAN: also returns whether any
// element is not finite — per lane Σ (x − x), +0 while every x is finite, NaN from the first
// that is not: branch-free, in the same pass.
template <typename T, bool SCAN>
static bool copyLines(size_t n, const T* src, T* dst) {
  constexpr size_t L = 64 / sizeof(T);
  size_t i = ((64 - ((uintptr_t)dst & 63)) & 63) / sizeof(T);
  if (i > n || ((uintptr_t)dst % sizeof(T)) != 0) i = n;
  memcpy(dst, src, i * sizeof(T));
  bool bad = SCAN && firstNonFinite(i, src) >= 0;
  typedef typename Fns<T>::V V;
  constexpr size_t W = sizeof(V) / sizeof(T);
  V acc{};
  for (; i + L <= n; i += L) {
    streamLine(dst + i, src + i);
    if (SCAN) for (size_t j = 0; j < L; j += W) { const V x = loadu<V>(src + i + j); acc = acc + (x - x); }
  }
  memcpy(dst + i, src + i, (n - i) * sizeof(T));
  if (!SCAN) return false;
  return bad || firstNonFinite(n - i, src + i) >= 0 || anyLaneNonZero<T>(acc);
}
template <typename T>
static void copyStreamUnfenced(size_t n, const T* src, T* dst) {
  copyLines<T, false>(n, src, dst);
}
static inline void streamFence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}
// KernelSet.copyShared: the copy, the fence, and firstNonFinite(src) found in the same pass
// (a pool thread publishing its partial); the index is looked for only when something is bad.
template <typename T>
static long copyStream(size_t n, const T* src, T* dst) {
  const bool bad = copyLines<T, true>(n, src, dst);
  streamFence();
  return bad ? firstNonFinite(n, src) : -1;
}

// The 8-lane strided float64 sum of the spec: lane i mod 8, lanes combined pairwise.
static inline double lanes8(const double* s) {
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// One block of reduceGrad: g ← g/divisor + λ·p (double intermediates, one rounding to T);
// out = {Σg², Σp²} in 8 lanes.
// For float, g/divisor in float equals the double quotient rounded to float (double rounding
// is harmless for ÷ of float operands; divisor is an integer ≤ 2^24).
// The 8 lanes as one 8-double vector (GCC lowers it to what the ISA has: one zmm, two ymm,
// or scalars); a float block converts exactly to double.
typedef double V8D __attribute__((vector_size(64)));
typedef float V8F __attribute__((vector_size(32)));
static inline V8D load8(const double* p) { V8D v; memcpy(&v, p, sizeof v); return v; }
static inline V8D load8(const float* p) { V8F v; memcpy(&v, p, sizeof v); return __builtin_convertvector(v, V8D); }
static inline void store8(double* p, V8D v) { memcpy(p, &v, sizeof v); }
static inline void store8(float* p, V8D v) { const V8F f = __builtin_convertvector(v, V8F); memcpy(p, &f, sizeof f); }

// 8 elements of T as one vector, and widened to double (exactly).
template <typename T> struct V8Of;
template <> struct V8Of<float> { typedef V8F V; };
template <> struct V8Of<double> { typedef V8D V; };
static inline V8D widen8(V8F v) { return __builtin_convertvector(v, V8D); }
static inline V8D widen8(V8D v) { return v; }

// A block's scalar tail, elements [i, n) past its last whole 8, on top of the vector sums vg,
// vp, then the block's sums into out: each g as reduceGrad computes it (a, or (T)(a + b) when
// ADD; ÷ divisor and + λ·p in double, one rounding to T) into g — or, SGD (reduceSgd), the
// update instead: pOut ← p − (T)(lr·g), g (= a) ← the old p.
template <typename T, bool ADD, bool SGD>
static void reduceTail(size_t i, size_t n, T* g, const T* a, const T* b, const T* p, T* pOut, double divisor, double lambda, double lr, V8D vg, V8D vp, double* out) {
  double sg[8], sp[8];
  memcpy(sg, &vg, sizeof sg);
  memcpy(sp, &vp, sizeof sp);
  for (; i < n; i++) {
    double v = ADD ? (double)(T)(a[i] + b[i]) : (double)a[i];
    if (divisor != 1) v = v / divisor;
    const T t = p[i];
    if (lambda != 0) { const double decay = lambda * (double)t; v = v + decay; }
    const T s = (T)v;
    const double sd = (double)s;
    sg[i & 7] = sg[i & 7] + sd * sd;
    sp[i & 7] = sp[i & 7] + (double)t * (double)t;
    if (SGD) {
      const T u = (T)(lr * sd);
      g[i] = t;
      pOut[i] = t - u;
    } else {
      g[i] = s;
    }
  }
  out[0] = lanes8(sg);
  out[1] = lanes8(sp);
}

// ADD: the block's g is first (T)(a + b) — addInto's sum — and the result goes to g (which
// may be a); otherwise g is a itself (b unused). The same bits either way as addInto then
// reduceGrad. (The sum is taken as whole vectors: GCC 12.2 at -O3 with AVX-512 miscompiles a
// scalar loop into a local array here.)
template <typename T, bool ADD>
static void reduceGradBlock(size_t n, T* g, const T* a, const T* b, const T* p, double divisor, double lambda, double* out) {
  typedef typename V8Of<T>::V VT;
  V8D vg = {0, 0, 0, 0, 0, 0, 0, 0}, vp = vg;
  const T d = (T)divisor;
  size_t i = 0;
  // the block's 8 gradients from i: a + b rounded to T (ADD), or a's
  auto grads = [&](size_t i) -> VT {
    VT x;
    memcpy(&x, a + i, sizeof x);
    if (ADD) { VT y; memcpy(&y, b + i, sizeof y); x = x + y; }
    return x;
  };
  // one branch-free loop per case; lane j of vg/vp is lane j of the spec's strided sums
  if (lambda == 0 && divisor == 1) {
    for (; i + 8 <= n; i += 8) {
      const VT x = grads(i);
      if (ADD) memcpy(g + i, &x, sizeof x);
      const V8D s = widen8(x), t = load8(p + i);
      vg = vg + s * s;
      vp = vp + t * t;
    }
  } else if (lambda == 0) {
    // g/d in T: float ÷ float for float (the spec's rounding), double ÷ double for double
    for (; i + 8 <= n; i += 8) {
      const V8D s = widen8(grads(i) / d), t = load8(p + i);
      store8(g + i, s);
      vg = vg + s * s;
      vp = vp + t * t;
    }
  } else {
    for (; i + 8 <= n; i += 8) {
      V8D v = widen8(grads(i));
      if (divisor != 1) v = v / divisor;
      const V8D t = load8(p + i);
      v = v + lambda * t;
      store8(g + i, v);
      const V8D sd = load8(g + i);  // the stored value, rounded to T
      vg = vg + sd * sd;
      vp = vp + t * t;
    }
  }
  reduceTail<T, ADD, false>(i, n, g, a, b, p, nullptr, divisor, lambda, 0, vg, vp, out);
}

// Rule 8 (spec v4): the sums of squares per block of GS_NORM_BLOCK elements, the block sums
// added in order from +0 (src/tensor/kernels.ts NORM_BLOCK).
#define GS_NORM_BLOCK 16384
template <typename T, bool ADD>
static void reduceGradAll(size_t n, T* g, const T* a, const T* b, const T* p, double divisor, double lambda, double* out) {
  double sg = 0, sp = 0, s2[2];
  for (size_t i = 0; i < n; i += GS_NORM_BLOCK) {
    reduceGradBlock<T, ADD>(n - i < GS_NORM_BLOCK ? n - i : GS_NORM_BLOCK, g + i, a + i, ADD ? b + i : nullptr, p + i, divisor, lambda, s2);
    sg = sg + s2[0];
    sp = sp + s2[1];
  }
  out[0] = sg;
  out[1] = sp;
}
template <typename T>
static void reduceGrad(size_t n, T* g, const T* p, double divisor, double lambda, double* out) {
  reduceGradAll<T, false>(n, g, g, nullptr, p, divisor, lambda, out);
}
// addInto(a, b) then reduceGrad(a, …) in one pass, the result in g (g may be a; a and b are
// only read): the last add of a step's reduction and its reduce pass.
template <typename T>
static void addReduceGrad(size_t n, const T* a, const T* b, const T* p, double divisor, double lambda, double* out, T* g) {
  reduceGradAll<T, true>(n, g, a, b, p, divisor, lambda, out);
}

// The SGD step's tail in one pass (KernelSet.reduceSgd): per element, reduceGrad's g — from
// a, or (T)(a + b) when ADD — and its sums of squares (rule 8), then sgdUpdate's u = (T)(lr·g),
// p ← p − u. g is not stored: a[i] ← the old p[i] instead, from which the caller puts the
// weights back when the sums say the step must not be taken. The same bits as addInto,
// reduceGrad and sgdUpdate one after the other, with one read of a, b and p where those read
// g twice and p twice. STREAM: p written as sgdUpdateStream writes it (whole lines by
// non-temporal stores, through a chunk buffer), for weights another core reads next.
template <typename T> static inline V8D roundTo(V8D v);
template <> inline V8D roundTo<float>(V8D v) { return __builtin_convertvector(__builtin_convertvector(v, V8F), V8D); }
template <> inline V8D roundTo<double>(V8D v) { return v; }
static inline V8F narrow8(V8D v, float*) { return __builtin_convertvector(v, V8F); }
static inline V8D narrow8(V8D v, double*) { return v; }

// Elements [i0, i1) of a block (8 at a time; i1 − i0 a multiple of 8), new weights to
// dst[i − i0]; the sums in vg, vp. MODE: 0 g = x; 1 g = x·rd, rd = 1/divisor for a power of two
// (the same real number as x/divisor, so the same rounding: bit for bit the division); 2 g = x/d
// in T; 3 with weight decay, in double (reduceGradBlock's cases).
// B bytes (32 or 64) from src to dst, aligned to B, by non-temporal stores (plain where the ISA has none).
template <size_t B>
static inline void streamBytes(void* dst, const void* src) {
#if defined(__AVX512F__)
  if (B == 64) {
    _mm512_stream_si512((__m512i*)dst, _mm512_loadu_si512(src));
    return;
  }
#endif
#if defined(__AVX__)
  for (size_t j = 0; j < B; j += 32) _mm256_stream_si256((__m256i*)((char*)dst + j), _mm256_loadu_si256((const __m256i*)((const char*)src + j)));
#elif defined(__SSE2__)
  for (size_t j = 0; j < B; j += 16) _mm_stream_si128((__m128i*)((char*)dst + j), _mm_loadu_si128((const __m128i*)((const char*)src + j)));
#else
  memcpy(dst, src, B);
#endif
}

// NT: dst (= p) is aligned to a vector of 8 T, and the new weights go there by non-temporal stores.
template <typename T, bool ADD, int MODE, bool NT>
static inline void reduceSgdSpan(size_t i0, size_t i1, T* a, const T* b, T* p, T* dst, T d, T rd, double divisor, double lambda, double lr, V8D& accG, V8D& accP) {
  typedef typename V8Of<T>::V VT;
  V8D vg = accG, vp = accP;
  for (size_t i = i0; i < i1; i += 8) {
    VT x, tf;
    memcpy(&x, a + i, sizeof x);
    if (ADD) { VT y; memcpy(&y, b + i, sizeof y); x = x + y; }
    memcpy(&tf, p + i, sizeof tf);
    const V8D t = widen8(tf);
    V8D s;
    if (MODE == 0) s = widen8(x);
    else if (MODE == 1) s = widen8(x * rd);
    else if (MODE == 2) s = widen8(x / d);
    else {
      V8D v = widen8(x);
      if (divisor != 1) v = v / divisor;
      s = roundTo<T>(v + lambda * t);
    }
    vg = vg + s * s;
    vp = vp + t * t;
    const VT u = narrow8(lr * s, (T*)nullptr);  // (T)(lr·g), the product in double
    const VT pn = tf - u;                       // in T: the double difference rounded once
    memcpy(a + i, &tf, sizeof tf);              // the old weights
    if (NT) streamBytes<sizeof pn>(dst + (i - i0), &pn);
    else memcpy(dst + (i - i0), &pn, sizeof pn);
  }
  accG = vg;
  accP = vp;
}

template <typename T, bool ADD, bool STREAM, int MODE>
static void reduceSgdBlock(size_t n, T* a, const T* b, T* p, double divisor, double lambda, double lr, double* out) {
  constexpr size_t CH = 512;  // elements per chunk of new weights before they are streamed
  alignas(64) T chunk[STREAM ? CH : 8];
  V8D vg = {0, 0, 0, 0, 0, 0, 0, 0}, vp = vg;
  const T d = (T)divisor, rd = (T)(1.0 / divisor);
  const size_t n8 = n / 8 * 8;
  size_t i = 0;
  if (STREAM && ((uintptr_t)p % (8 * sizeof(T))) == 0) {
    reduceSgdSpan<T, ADD, MODE, true>(0, n8, a, b, p, p, d, rd, divisor, lambda, lr, vg, vp);
  } else if (STREAM) {
    // p not aligned to a vector: through the chunk, streamed by whole lines
    for (; i < n8; i += CH) {
      const size_t len = n8 - i < CH ? n8 - i : CH;
      reduceSgdSpan<T, ADD, MODE, false>(i, i + len, a, b, p, chunk, d, rd, divisor, lambda, lr, vg, vp);
      copyStreamUnfenced(len, chunk, p + i);
    }
  } else {
    reduceSgdSpan<T, ADD, MODE, false>(0, n8, a, b, p, p, d, rd, divisor, lambda, lr, vg, vp);
  }
  reduceTail<T, ADD, true>(n8, n, a, a, b, p, p, divisor, lambda, lr, vg, vp, out);
}

template <typename T, bool ADD, bool STREAM>
static void reduceSgdAll(size_t n, T* a, const T* b, T* p, double divisor, double lambda, double lr, double* out) {
  double sg = 0, sp = 0, s2[2];
  const bool pow2 = divisor >= 1 && (((uint64_t)divisor) & ((uint64_t)divisor - 1)) == 0;
  const int mode = lambda != 0 ? 3 : divisor == 1 ? 0 : pow2 ? 1 : 2;
  auto block = mode == 0 ? reduceSgdBlock<T, ADD, STREAM, 0> : mode == 1 ? reduceSgdBlock<T, ADD, STREAM, 1>
             : mode == 2 ? reduceSgdBlock<T, ADD, STREAM, 2> : reduceSgdBlock<T, ADD, STREAM, 3>;
  for (size_t i = 0; i < n; i += GS_NORM_BLOCK) {
    block(n - i < GS_NORM_BLOCK ? n - i : GS_NORM_BLOCK, a + i, ADD ? b + i : nullptr, p + i, divisor, lambda, lr, s2);
    sg = sg + s2[0];
    sp = sp + s2[1];
  }
  if (STREAM) streamFence();
  out[0] = sg;
  out[1] = sp;
}
// b null: g is a alone. stream: p is read by another core next.
template <typename T>
static void reduceSgd(size_t n, T* a, const T* b, T* p, double divisor, double lambda, double lr, double* out, int stream) {
  if (b != nullptr) (stream ? reduceSgdAll<T, true, true> : reduceSgdAll<T, true, false>)(n, a, b, p, divisor, lambda, lr, out);
  else (stream ? reduceSgdAll<T, false, true> : reduceSgdAll<T, false, false>)(n, a, nullptr, p, divisor, lambda, lr, out);
}

// Activation statistics of one layer (rule 9): out[0] += the rows×units outputs that are
// saturated (tanh: 1 − a² < 0.01; sigmoid: a·(1 − a) < 0.0025; in double, as the reference),
// out[1 + j] += the rows whose z[·, j] > 0. Counts: exact whatever the order.
template <typename T>
static void activationStats(int f, size_t m, size_t n, const T* z, const T* a, double* out) {
  const size_t len = m * n;
  if (f == GS_TANH || f == GS_SIGMOID) {
    long c = 0;
    if (f == GS_TANH) {
      for (size_t i = 0; i < len; i++) { const double v = (double)a[i]; c += (1.0 - v * v < 0.01) ? 1 : 0; }
    } else {
      for (size_t i = 0; i < len; i++) { const double v = (double)a[i]; c += (v * (1.0 - v) < 0.25 * 0.01) ? 1 : 0; }
    }
    out[0] = out[0] + (double)c;
  }
  int32_t cnt[256];
  for (size_t j0 = 0; j0 < n; j0 += 256) {
    const size_t w = n - j0 < 256 ? n - j0 : 256;
    for (size_t j = 0; j < w; j++) cnt[j] = 0;
    for (size_t r = 0; r < m; r++) {
      const T* zr = z + r * n + j0;
      for (size_t j = 0; j < w; j++) cnt[j] += zr[j] > 0 ? 1 : 0;
    }
    for (size_t j = 0; j < w; j++) out[1 + j0 + j] = out[1 + j0 + j] + (double)cnt[j];
  }
}

// ---- convolution and pooling layout (src/tensor/im2col.ts, src/model/layers/pool2d.ts) ------
// Copies, and col2im's adds: each dx element adds its terms in increasing k (im2col.ts), each
// add rounded to T; the max-pool's comparisons are pool2d.ts's, in its order.

// The output columns [lo, hi) whose input column q·s − p + j lies inside [0, w).
static inline void insideCols(const GsConvGeom& g, size_t j, size_t* lo, size_t* hi) {
  const long s = (long)g.stride, p = (long)g.pad, ow = (long)g.ow, w = (long)g.w, jj = (long)j;
  long l = p - jj <= 0 ? 0 : (p - jj + s - 1) / s;
  if (l > ow) l = ow;
  long h = w - 1 + p - jj < 0 ? 0 : (w - 1 + p - jj) / s + 1;
  if (h > ow) h = ow;
  if (h < l) h = l;
  *lo = (size_t)l;
  *hi = (size_t)h;
}

template <typename T>
static void im2col(size_t rows, const GsConvGeom& g, const T* __restrict x, T* __restrict cols) {
  const size_t P = g.oh * g.ow, NP = rows * P, plane = g.h * g.w, inSize = g.c * plane;
  for (size_t ch = 0; ch < g.c; ch++)
    for (size_t i = 0; i < g.kh; i++)
      for (size_t j = 0; j < g.kw; j++) {
        size_t lo, hi;
        insideCols(g, j, &lo, &hi);
        T* row = cols + ((ch * g.kh + i) * g.kw + j) * NP;
        // stride 1 and an output as wide as the input ('same' padding): the rows of one (k, n) are
        // one contiguous run of the input, shifted by j − p; one copy, then the edge columns zeroed
        if (g.stride == 1 && g.ow == g.w) {
          const long y0 = (long)g.pad - (long)i > 0 ? (long)g.pad - (long)i : 0;
          const long y1l = (long)g.h + (long)g.pad - (long)i;
          const long y1 = y1l < (long)g.oh ? (y1l > y0 ? y1l : y0) : (long)g.oh;
          for (size_t n = 0; n < rows; n++) {
            T* o0 = row + n * P;
            const T* xc = x + n * inSize + ch * plane;
            memset(o0, 0, (size_t)y0 * g.ow * sizeof(T));
            if (y1 > y0) {
              // from = the input index of output (y0, 0): may lie before the plane (j < p) or run past it
              const long from = (y0 - (long)g.pad + (long)i) * (long)g.w - (long)g.pad + (long)j;
              const long len = (y1 - y0) * (long)g.w;
              const long lo0 = from > 0 ? from : 0;
              const long hi0 = from + len < (long)plane ? from + len : (long)plane;
              T* dst = o0 + (size_t)y0 * g.ow;
              if (hi0 > lo0) memcpy(dst + (lo0 - from), xc + lo0, (size_t)(hi0 - lo0) * sizeof(T));
              for (long y = 0; y < y1 - y0; y++) {
                T* o = dst + (size_t)y * g.ow;
                for (size_t q = 0; q < lo; q++) o[q] = 0;
                for (size_t q = hi; q < g.ow; q++) o[q] = 0;
              }
              // the run's ends outside the plane were not copied: they are edge columns, zeroed above
            }
            memset(o0 + (size_t)y1 * g.ow, 0, (size_t)(g.oh - (size_t)y1) * g.ow * sizeof(T));
          }
          continue;
        }
        for (size_t n = 0; n < rows; n++) {
          const T* xc = x + n * inSize + ch * plane;
          for (size_t y = 0; y < g.oh; y++) {
            T* o = row + n * P + y * g.ow;
            const long hy = (long)(y * g.stride + i) - (long)g.pad;
            if (hy < 0 || hy >= (long)g.h) {
              for (size_t q = 0; q < g.ow; q++) o[q] = 0;
              continue;
            }
            const T* src = xc + (size_t)hy * g.w + j - g.pad;  // src[q·s] is inside for q in [lo, hi)
            for (size_t q = 0; q < lo; q++) o[q] = 0;
            if (g.stride == 1) memcpy(o + lo, src + lo, (hi - lo) * sizeof(T));
            else for (size_t q = lo; q < hi; q++) o[q] = src[q * g.stride];
            for (size_t q = hi; q < g.ow; q++) o[q] = 0;
          }
        }
      }
}

template <typename T>
static void col2im(size_t rows, const GsConvGeom& g, const T* __restrict dcols, T* __restrict dx) {
  const size_t P = g.oh * g.ow, NP = rows * P, plane = g.h * g.w, inSize = g.c * plane;
  for (size_t i = 0; i < rows * inSize; i++) dx[i] = 0;
  // examples outer: one example's dx stays in L1 while its rows of dcols pass; each element
  // still adds its terms in increasing k
  for (size_t n = 0; n < rows; n++)
    for (size_t ch = 0; ch < g.c; ch++)
      for (size_t i = 0; i < g.kh; i++)
        for (size_t j = 0; j < g.kw; j++) {
          size_t lo, hi;
          insideCols(g, j, &lo, &hi);
          const T* row = dcols + ((ch * g.kh + i) * g.kw + j) * NP + n * P;
          T* xc = dx + n * inSize + ch * plane;
          for (size_t y = 0; y < g.oh; y++) {
            const long hy = (long)(y * g.stride + i) - (long)g.pad;
            if (hy < 0 || hy >= (long)g.h) continue;
            const T* d = row + y * g.ow;
            T* dst = xc + (size_t)hy * g.w + j - g.pad;
            if (g.stride == 1) {
              for (size_t q = lo; q < hi; q++) dst[q] = dst[q] + d[q];
            } else {
              for (size_t q = lo; q < hi; q++) dst[q * g.stride] = dst[q * g.stride] + d[q];
            }
          }
        }
}

// Max over size × size windows at `stride` (no padding; the windows fit, pool2d.ts checks):
// out (rows, c, oh, ow) and arg, the winner's index within its example. The first maximum in
// row-major order wins; the first NaN wins over any number and stays (tensor/pool.ts).

// Whether y, later in the window, replaces x: greater, or the first NaN. Branch-free: the
// winner is data-dependent, and a mispredicted branch per element costs more than the compare.
template <typename T>
static inline bool takeLater(T x, T y) {
  return (y > x) | ((y != y) & (x == x));
}

// 2 × 2 windows at stride 2 as a tournament, (a vs b) and (c vs d), then the pairs' winners:
// the same winner as pool.ts's scan in row-major order (an earlier element is replaced only
// by a greater one or by the first NaN, and each pair's winner is its earlier element unless
// replaced). float32 runs W32 outputs at a time, the even and odd columns split by shuffles.
typedef int32_t VI32 __attribute__((vector_size(GS_VBYTES)));
template <size_t... I>
static inline VF evenLanes(VF a, VF b, std::index_sequence<I...>) { return __builtin_shufflevector(a, b, (int)(2 * I)...); }
template <size_t... I>
static inline VF oddLanes(VF a, VF b, std::index_sequence<I...>) { return __builtin_shufflevector(a, b, (int)(2 * I + 1)...); }
template <size_t... I>
static inline VI32 iotaTimes2(std::index_sequence<I...>) { return VI32{(int32_t)(2 * I)...}; }

static inline VI32 takeLaterV(VF x, VF y) { return (VI32)((y > x) | ((y != y) & (x == x))); }

template <typename T>
static inline void maxPool2Row(size_t ow, size_t w, const T* r0, int32_t first, T* out, int32_t* arg, size_t x0) {
  for (; x0 < ow; x0++) {
    const T* p = r0 + 2 * x0;
    const int32_t i = first + (int32_t)(2 * x0);
    const bool t01 = takeLater(p[0], p[1]), t23 = takeLater(p[w], p[w + 1]);
    const T m01 = t01 ? p[1] : p[0], m23 = t23 ? p[w + 1] : p[w];
    const int32_t i01 = t01 ? i + 1 : i, i23 = t23 ? i + (int32_t)w + 1 : i + (int32_t)w;
    const bool t = takeLater(m01, m23);
    out[x0] = t ? m23 : m01;
    arg[x0] = t ? i23 : i01;
  }
}

// L = W32 windows whose top rows start at top[0], top[2], …, bottom rows at bottom[0], …;
// i: each window's first index.
static inline void maxPool2V(const float* top, const float* bottom, VI32 i, int32_t w, VF* best, VI32* at) {
  constexpr size_t L = W32;
  const auto seq = std::make_index_sequence<L>{};
  const VF a0 = loadu<VF>(top), a1 = loadu<VF>(top + L), c0 = loadu<VF>(bottom), c1 = loadu<VF>(bottom + L);
  const VF a = evenLanes(a0, a1, seq), b = oddLanes(a0, a1, seq), c = evenLanes(c0, c1, seq), d = oddLanes(c0, c1, seq);
  const VI32 t01 = takeLaterV(a, b), t23 = takeLaterV(c, d);
  const VF m01 = t01 ? b : a, m23 = t23 ? d : c;
  const VI32 i01 = t01 ? i + 1 : i, i23 = t23 ? i + (w + 1) : i + w;
  const VI32 t = takeLaterV(m01, m23);
  *best = t ? m23 : m01;
  *at = t ? i23 : i01;
}

// One output row of ow windows, L at a time; the last, partial group through zero-padded copies
// of its inputs (a scalar tail compiles to slow mask-register code in the AVX-512 builds).
static inline void maxPool2RowV(size_t ow, size_t w, const float* r0, int32_t first, float* out, int32_t* arg) {
  constexpr size_t L = W32;
  const VI32 two = iotaTimes2(std::make_index_sequence<L>{});
  VF best;
  VI32 at;
  size_t x0 = 0;
  for (; x0 + L <= ow; x0 += L) {
    maxPool2V(r0 + 2 * x0, r0 + w + 2 * x0, two + (first + (int32_t)(2 * x0)), (int32_t)w, &best, &at);
    memcpy(out + x0, &best, sizeof best);
    memcpy(arg + x0, &at, sizeof at);
  }
  if (x0 == ow) return;
  const size_t rem = ow - x0;
  float top[2 * L] = {}, bottom[2 * L] = {};
  memcpy(top, r0 + 2 * x0, 2 * rem * sizeof(float));
  memcpy(bottom, r0 + w + 2 * x0, 2 * rem * sizeof(float));
  maxPool2V(top, bottom, two + (first + (int32_t)(2 * x0)), (int32_t)w, &best, &at);
  memcpy(out + x0, &best, rem * sizeof(float));
  memcpy(arg + x0, &at, rem * sizeof(int32_t));
}

template <typename T>
static void maxPool(size_t rows, size_t c, size_t h, size_t w, size_t size, size_t stride, const T* __restrict x,
                    T* __restrict out, int32_t* __restrict arg) {
  const size_t oh = (h - size) / stride + 1, ow = (w - size) / stride + 1, inSize = c * h * w;
  size_t o = 0;
  for (size_t n = 0; n < rows; n++) {
    const T* xn = x + n * inSize;
    for (size_t ch = 0; ch < c; ch++) {
      const size_t xc = ch * h * w;
      if (size == 2 && stride == 2) {
        for (size_t y = 0; y < oh; y++, o += ow) {
          const size_t first = xc + 2 * y * w;
          if constexpr (sizeof(T) == 4) maxPool2RowV(ow, w, xn + first, (int32_t)first, out + o, arg + o);
          else maxPool2Row(ow, w, xn + first, (int32_t)first, out + o, arg + o, 0);
        }
        continue;
      }
      for (size_t y = 0; y < oh; y++)
        for (size_t x0 = 0; x0 < ow; x0++, o++) {
          const size_t first = xc + y * stride * w + x0 * stride;
          T best = xn[first];
          size_t at = first;
          for (size_t i = 0; i < size; i++)
            for (size_t j = 0; j < size; j++) {
              const size_t q = first + i * w + j;
              const T v = xn[q];
              const bool take = takeLater(best, v);
              best = take ? v : best;
              at = take ? q : at;
            }
          out[o] = best;
          arg[o] = (int32_t)at;
        }
    }
  }
}

// maxPool's gradient (pool.ts maxPoolBackward): g_in ← +0, then each output's gradient added
// to its winner, outputs in order (an add, not a copy: +0 + −0 is +0, as in the reference).
// Every arg is in [0, in_size) (addon.cc checks).
template <typename T>
static void maxPoolBackward(size_t rows, size_t inSize, size_t outSize, const T* __restrict gOut, const int32_t* __restrict arg,
                            T* __restrict gIn) {
  for (size_t i = 0; i < rows * inSize; i++) gIn[i] = 0;
  size_t o = 0;
  for (size_t n = 0; n < rows; n++) {
    T* g = gIn + n * inSize;
    for (size_t e = 0; e < outSize; e++, o++) g[arg[o]] = g[arg[o]] + gOut[o];
  }
}

// ---- GEMM ------------------------------------------------------------------------------------
// Every product is computed as C(i, j) = Σ_p a(i, p)·b(p, j) by one register-tile loop over
// MR rows i (values broadcast from the "A side") × NR = NV·W lanes j (vectors from the "B side").
// Each output starts from +0 (or, for a later k block or an accumulating call (ntAcc), from the
// value in C) and adds its products in increasing p, one multiply then one add (madd: one fused
// multiply-add in the fma profile's builds). Which operand plays which
// side, whether C is written transposed, and the tile height are chosen per call (pick() below):
// that changes the work and the memory traffic, never an element's operations.
//
// The A side is read in place when its rows are contiguous in p (a(i, p) = A[i·lda + p]) and
// packed into MR-row panels otherwise; the B side is read in place when its rows are contiguous
// in j (b(p, j) = B[p·ldb + j]), and packed (transposed, or zero-padded at a ragged edge) otherwise.

// GEMM vectors may be narrower than the element-wise ones (isa-avx512-ymm.cc): on Zen 4 a mix of
// 512-bit multiplies and adds issues slower than the same work in 256-bit halves, and AVX-512VL
// still gives 32 ymm registers for a larger tile.
#ifndef GS_GEMM_VBYTES
#define GS_GEMM_VBYTES GS_VBYTES
#endif
typedef float GVF __attribute__((vector_size(GS_GEMM_VBYTES)));
typedef double GVD __attribute__((vector_size(GS_GEMM_VBYTES)));
template <typename T> struct GemmVec;
template <> struct GemmVec<float> { typedef GVF V; };
template <> struct GemmVec<double> { typedef GVD V; };

template <typename V, typename T>
static inline V vload(const T* p) {
  V v;
  memcpy(&v, p, sizeof v);
  return v;
}
template <typename V, typename T>
static inline void vstore(T* p, V v) {
  memcpy(p, &v, sizeof v);
}

// One GEMM term on every lane: acc + x·b, as THE KERNEL SPEC's profile says — portable: the
// product rounded, then the sum rounded; fma (GS_FMA): one fused multiply-add, rounded once.
template <typename V, typename T>
static inline V madd(V acc, T x, V b) {
#if defined(GS_FMA)
  if constexpr (sizeof(T) == 4) {
    if constexpr (sizeof(V) == 64) return (V)_mm512_fmadd_ps(_mm512_set1_ps(x), (__m512)b, (__m512)acc);
    else if constexpr (sizeof(V) == 32) return (V)_mm256_fmadd_ps(_mm256_set1_ps(x), (__m256)b, (__m256)acc);
    else return (V)_mm_fmadd_ps(_mm_set1_ps(x), (__m128)b, (__m128)acc);
  } else {
    if constexpr (sizeof(V) == 64) return (V)_mm512_fmadd_pd(_mm512_set1_pd(x), (__m512d)b, (__m512d)acc);
    else if constexpr (sizeof(V) == 32) return (V)_mm256_fmadd_pd(_mm256_set1_pd(x), (__m256d)b, (__m256d)acc);
    else return (V)_mm_fmadd_pd(_mm_set1_pd(x), (__m128d)b, (__m128d)acc);
  }
#else
  return acc + x * b;
#endif
}

// Per-thread packing space (worker_threads are OS threads; thread_local keeps them apart).
struct Scratch {
  void* p = nullptr;
  size_t bytes = 0;
  ~Scratch() { free(p); }
  void* get(size_t want) {
    if (want > bytes) {
      free(p);
      bytes = (want + 4095) & ~(size_t)4095;
      p = aligned_alloc(64, bytes);
      if (p == nullptr) bytes = 0;
    }
    return p;
  }
};
static thread_local Scratch scratchA, scratchB;

// One GEMM vector to aligned p with a non-temporal store (see streamLine).
template <typename V, typename T>
static inline void vstream(T* p, V v) {
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64) { _mm512_stream_si512((__m512i*)p, (__m512i)v); return; }
#endif
#if defined(__AVX__)
  if constexpr (sizeof(V) == 32) { _mm256_stream_si256((__m256i*)p, (__m256i)v); return; }
#endif
#if defined(__SSE2__)
  if constexpr (sizeof(V) == 16) { _mm_stream_si128((__m128i*)p, (__m128i)v); return; }
#endif
  vstore<V>(p, v);
}

// Where a GEMM's last k block leaves C (the values are the same bits either way). PLAIN: stores,
// as any GEMM. CHECK (gemmTNCheck): every stored value also goes into a per-lane Σ (x − x), +0
// while all are finite (copyLines' check), so a partial's gradients need no scan of their own.
// STREAM (gemmTNCheck shared: a pool thread's partial, computed straight into the shared slot
// the main thread reads next): CHECK, and each tile row that is whole 64-byte lines of C is
// written by non-temporal stores, as copyShared writes a slot (a plain store to a line the
// other core read last step must first take it back).
enum SinkMode { PLAIN = 0, CHECK = 1, STREAM = 2 };
template <typename V, int MODE>
struct Sink {
  V chk{};
};

// k is cut into blocks of KC so that a packed B panel (KC × NR) stays near L1 while the A side
// passes by; each output keeps accumulating in increasing k across blocks (through C).
#ifndef GS_KC
#define GS_KC 1024
#endif

template <typename T, int MR, int NV>
struct Gemm {
  typedef typename GemmVec<T>::V V;
  static constexpr int W = sizeof(V) / sizeof(T);
  static constexpr int NR = W * NV;
  static constexpr size_t KC = GS_KC;

  // One MR × NR tile of C, at c[i·rsc + j·csc] (rsc or csc is 1), over k products:
  // a(i, p) = AROWS ? a[i·lda + p] : a[p·lda + i], b(p, j) = b[p·ldb + j], all NR lanes readable.
  // Rows i ≥ mr of an AROWS tile re-read row mr − 1 (never stored), so no row past A is touched.
  template <bool AROWS, int MODE>
  static void tile(size_t k, const T* __restrict a, size_t lda, const T* __restrict b, size_t ldb, T* c, size_t rsc,
                   size_t csc, size_t mr, size_t nr, bool load, bool last, Sink<V, MODE>& sink) {
    V acc[MR][NV];
    const bool full = mr == (size_t)MR && nr == (size_t)NR;
    if (!load) {
      for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++) acc[i][v] = V{};
    } else if (full && csc == 1) {
      for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++) acc[i][v] = vload<V>(c + i * rsc + v * W);
    } else {
      T t[MR][NR] = {};
      for (size_t i = 0; i < mr; i++)
        for (size_t j = 0; j < nr; j++) t[i][j] = c[i * rsc + j * csc];
      for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++) acc[i][v] = vload<V>(&t[i][v * W]);
    }
    if (AROWS) {
      const T* ar[MR];
      for (int i = 0; i < MR; i++) ar[i] = a + ((size_t)i < mr ? (size_t)i : mr - 1) * lda;
      for (size_t p = 0; p < k; p++) {
        V bv[NV];
        for (int v = 0; v < NV; v++) bv[v] = vload<V>(b + p * ldb + v * W);
        for (int i = 0; i < MR; i++) {
          const T x = ar[i][p];
          for (int v = 0; v < NV; v++) acc[i][v] = madd(acc[i][v], x, bv[v]);
        }
      }
    } else {
      for (size_t p = 0; p < k; p++) {
        V bv[NV];
        for (int v = 0; v < NV; v++) bv[v] = vload<V>(b + p * ldb + v * W);
        for (int i = 0; i < MR; i++) {
          const T x = a[p * lda + i];
          for (int v = 0; v < NV; v++) acc[i][v] = madd(acc[i][v], x, bv[v]);
        }
      }
    }
    if (MODE != PLAIN && last) {
      // rows past mr and lanes past nr are copies or zero padding: at worst a false alarm
      // (0·∞), which the caller's exact scan clears
      for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++) sink.chk = sink.chk + (acc[i][v] - acc[i][v]);
    }
    if (full && csc == 1) {
      if (MODE == STREAM && last && (NV * sizeof(V)) % 64 == 0) {
        for (int i = 0; i < MR; i++) {
          T* row = c + i * rsc;
          if (((uintptr_t)row & 63) == 0) {
            for (int v = 0; v < NV; v++) vstream<V>(row + v * W, acc[i][v]);
          } else {
            for (int v = 0; v < NV; v++) vstore<V>(row + v * W, acc[i][v]);
          }
        }
        return;
      }
      for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++) vstore<V>(c + i * rsc + v * W, acc[i][v]);
    } else {
      T t[MR][NR];
      for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++) vstore<V>(&t[i][v * W], acc[i][v]);
      if (csc == 1) {
        for (size_t i = 0; i < mr; i++) memcpy(c + i * rsc, t[i], nr * sizeof(T));
      } else {
        for (size_t j = 0; j < nr; j++)
          for (size_t i = 0; i < mr; i++) c[j * csc + i] = t[i][j];
      }
    }
  }

  // C(i, j) = Σ_p a(i, p)·b(p, j) for i < M, j < N, stored at C[i·rsc + j·csc];
  // a(i, p) = aRows ? A[i·lda + p] : A[p·lda + i];  b(p, j) = bRows ? B[p·ldb + j] : B[j·ldb + p].
  // acc: every output starts from its value in C rather than from +0 (gemmNTAcc).
  template <int MODE>
  static void run(size_t M, size_t N, size_t K, const T* A, size_t lda, bool aRows, const T* B, size_t ldb, bool bRows,
                  T* C, size_t rsc, size_t csc, Sink<V, MODE>& sink, bool acc) {
    const size_t mPad = (M + MR - 1) / MR * MR;
    const size_t kcMax = K < KC ? K : KC;
    T* Ap = aRows ? nullptr : (T*)scratchA.get(mPad * kcMax * sizeof(T));
    T* Bp = (T*)scratchB.get(NR * kcMax * sizeof(T));
    if ((!aRows && Ap == nullptr) || Bp == nullptr) abort();
    // Read in place, a B panel's kc rows of one cache line each map to few L1 sets when the row
    // stride is a multiple of a large power of two (1 KiB: 4 of 64 sets); when the panel serves
    // more than one tile and would not fit those sets, copy it instead.
    const bool copyB = bRows && M > (size_t)MR && kcMax > 4 * l1Sets(ldb * sizeof(T));
    for (size_t p0 = 0; p0 < K; p0 += KC) {
      const size_t kc = K - p0 < KC ? K - p0 : KC;
      if (!aRows) {
        // MR-row panels: Ap[i0·kc + p·MR + i] = a(i0 + i, p0 + p), zero past M
        for (size_t i0 = 0; i0 < M; i0 += MR) {
          const size_t mr = M - i0 < (size_t)MR ? M - i0 : MR;
          T* dst = Ap + i0 * kc;
          for (size_t p = 0; p < kc; p++) {
            const T* src = A + (p0 + p) * lda + i0;
            size_t i = 0;
            for (; i < mr; i++) dst[p * MR + i] = src[i];
            for (; i < (size_t)MR; i++) dst[p * MR + i] = 0;
          }
        }
      }
      for (size_t j0 = 0; j0 < N; j0 += NR) {
        const size_t nr = N - j0 < (size_t)NR ? N - j0 : NR;
        const T* bp;
        size_t ldbp;
        if (bRows && nr == (size_t)NR && !copyB) {
          bp = B + p0 * ldb + j0;
          ldbp = ldb;
        } else {
          if (bRows) {
            for (size_t p = 0; p < kc; p++) {
              const T* src = B + (p0 + p) * ldb + j0;
              size_t j = 0;
              for (; j < nr; j++) Bp[p * NR + j] = src[j];
              for (; j < (size_t)NR; j++) Bp[p * NR + j] = 0;
            }
          } else {
            packT(kc, nr, B + j0 * ldb + p0, ldb, Bp);
          }
          bp = Bp;
          ldbp = NR;
        }
        for (size_t i0 = 0; i0 < M; i0 += MR) {
          const size_t mr = M - i0 < (size_t)MR ? M - i0 : MR;
          T* c = C + i0 * rsc + j0 * csc;
          const bool last = p0 + kc == K;
          const bool load = acc || p0 > 0;
          if (aRows) tile<true, MODE>(kc, A + i0 * lda + p0, lda, bp, ldbp, c, rsc, csc, mr, nr, load, last, sink);
          else tile<false, MODE>(kc, Ap + i0 * kc, MR, bp, ldbp, c, rsc, csc, mr, nr, load, last, sink);
        }
      }
    }
  }

  // How many of a 64-set, 64-byte-line L1's sets rows at this byte stride fall into.
  static size_t l1Sets(size_t strideBytes) {
    if (strideBytes % 64 != 0) return 64;
    size_t lines = (strideBytes / 64) % 64, sets = 64;
    while (lines != 0 && lines % 2 == 0 && sets > 1) { lines /= 2; sets /= 2; }
    return lines == 0 ? 1 : sets;
  }

  // dst[p·NR + j] = src[j·lds + p] for p < kc, j < nr; zero for nr ≤ j < NR.
  // Eight p at a time per row, so each row is read in runs and each dst line written whole.
  static void packT(size_t kc, size_t nr, const T* src, size_t lds, T* dst) {
    size_t p = 0;
    for (; p + 8 <= kc; p += 8) {
      for (size_t j = 0; j < nr; j++) {
        const T* s = src + j * lds + p;
        for (int q = 0; q < 8; q++) dst[(p + q) * NR + j] = s[q];
      }
      for (size_t j = nr; j < (size_t)NR; j++)
        for (int q = 0; q < 8; q++) dst[(p + q) * NR + j] = 0;
    }
    for (; p < kc; p++) {
      size_t j = 0;
      for (; j < nr; j++) dst[p * NR + j] = src[j * lds + p];
      for (; j < (size_t)NR; j++) dst[p * NR + j] = 0;
    }
  }

  // Estimated cycles of run() on one core, to choose between layouts and tile heights.
  static double cost(size_t M, size_t N, size_t K, bool aRows, bool bRows, bool transposedC) {
    const double mPad = (double)((M + MR - 1) / MR * MR), nPad = (double)((N + NR - 1) / NR * NR);
    double c = mPad * nPad * (double)K / (2.0 * W);    // two multiply-adds per cycle on W lanes
    c += (double)((M + MR - 1) / MR) * (double)((N + NR - 1) / NR) * (MR * NV) * (double)((K + KC - 1) / KC);  // tile loads/stores
    if (!aRows) c += mPad * (double)K * 0.25;         // panel copy
    if (!bRows) c += nPad * (double)K * 1.0;          // transposing pack
    if (transposedC) c += (double)M * (double)N * (double)((K + KC - 1) / KC) * 2.0;
    return c;
  }
};

// The two tile heights of this build, and, on 512-bit vectors, a tile one vector wide (G3: for
// a side of 16 lanes, e.g. a 16-row micro-batch, which G1's two vectors would half waste);
// pick() runs the cheaper layout with the cheapest tile.
template <typename T, int MR1, int MR2, int NV>
struct GemmPick {
  typedef Gemm<T, MR1, NV> G1;
  typedef Gemm<T, MR2, NV> G2;
  typedef Gemm<T, MR1, 1> G3;
  // tiles pick() chooses among: G3 only where it differs from G1 and vectors are 512-bit
  static constexpr int TILES = NV > 1 && sizeof(typename G1::V) == 64 ? 3 : 2;

  // The same arguments as Gemm::run; `alt` is the other layout (the roles swapped, C transposed).
  struct Layout {
    size_t M, N;
    const T* A;
    size_t lda;
    bool aRows;
    const T* B;
    size_t ldb;
    bool bRows;
    size_t rsc, csc;
  };

  template <int MODE>
  static void pick(size_t K, T* C, const Layout& x, const Layout& y, Sink<typename G1::V, MODE>& sink, bool acc = false) {
    const Layout* ls[2] = {&x, &y};
    double best = 0;
    int bl = 0, bg = 0;
    for (int l = 0; l < 2; l++) {
      const Layout& L = *ls[l];
      for (int g = 0; g < TILES; g++) {
        const bool tr = L.csc != 1;
        const double c = g == 0 ? G1::cost(L.M, L.N, K, L.aRows, L.bRows, tr)
                       : g == 1 ? G2::cost(L.M, L.N, K, L.aRows, L.bRows, tr) : G3::cost(L.M, L.N, K, L.aRows, L.bRows, tr);
        if ((l == 0 && g == 0) || c < best) { best = c; bl = l; bg = g; }
      }
    }
    const Layout& L = *ls[bl];
    if (bg == 0) G1::run(L.M, L.N, K, L.A, L.lda, L.aRows, L.B, L.ldb, L.bRows, C, L.rsc, L.csc, sink, acc);
    else if (bg == 1) G2::run(L.M, L.N, K, L.A, L.lda, L.aRows, L.B, L.ldb, L.bRows, C, L.rsc, L.csc, sink, acc);
    else G3::run(L.M, L.N, K, L.A, L.lda, L.aRows, L.B, L.ldb, L.bRows, C, L.rsc, L.csc, sink, acc);
  }
  static void pick(size_t K, T* C, const Layout& x, const Layout& y, bool acc = false) {
    Sink<typename G1::V, PLAIN> plain;
    pick(K, C, x, y, plain, acc);
  }

  static bool trivial(size_t m, size_t n, size_t k, T* C) {
    if (m == 0 || n == 0) return true;
    if (k == 0) {
      for (size_t i = 0; i < m * n; i++) C[i] = 0;
      return true;
    }
    return false;
  }

  // C (m, n) = A (m, k) · Bᵀ, B (n, k).  Layout 2 computes Cᵀ = B · Aᵀ, lanes over i.
  static void nt(size_t m, size_t n, size_t k, const T* A, const T* B, T* C) {
    if (trivial(m, n, k, C)) return;
    pick(k, C, Layout{m, n, A, k, true, B, k, false, n, 1}, Layout{n, m, B, k, true, A, k, false, 1, n});
  }
  // C (m, n) += A (m, k) · Bᵀ: nt with every output starting from its value in C
  static void ntAcc(size_t m, size_t n, size_t k, const T* A, const T* B, T* C) {
    if (m == 0 || n == 0 || k == 0) return;
    pick(k, C, Layout{m, n, A, k, true, B, k, false, n, 1}, Layout{n, m, B, k, true, A, k, false, 1, n}, true);
  }
  // C (m, n) = Aᵀ · B, A (k, m), B (k, n)
  static void tn(size_t m, size_t n, size_t k, const T* A, const T* B, T* C) {
    if (trivial(m, n, k, C)) return;
    pick(k, C, Layout{m, n, A, m, false, B, n, true, n, 1}, Layout{n, m, B, n, false, A, m, true, 1, n});
  }
  // tn checked as it stores C, streamed when `shared` (Sink): the same bits; returns
  // firstNonFinite(m·n, C), looked for (a read of C back) only when the epilogue saw one
  template <int MODE>
  static long tnCheckAs(size_t m, size_t n, size_t k, const T* A, const T* B, T* C) {
    if (trivial(m, n, k, C)) return -1;
    Sink<typename G1::V, MODE> sink;
    pick(k, C, Layout{m, n, A, m, false, B, n, true, n, 1}, Layout{n, m, B, n, false, A, m, true, 1, n}, sink);
    if (MODE == STREAM) streamFence();
    return anyLaneNonZero<T>(sink.chk) ? firstNonFinite(m * n, C) : -1;
  }
  static long tnCheck(size_t m, size_t n, size_t k, const T* A, const T* B, T* C, int shared) {
    return shared ? tnCheckAs<STREAM>(m, n, k, A, B, C) : tnCheckAs<CHECK>(m, n, k, A, B, C);
  }
  // C (m, n) = A (m, k) · B (k, n)
  static void nn(size_t m, size_t n, size_t k, const T* A, const T* B, T* C) {
    if (trivial(m, n, k, C)) return;
    pick(k, C, Layout{m, n, A, k, true, B, n, true, n, 1}, Layout{n, m, B, n, false, A, k, false, 1, n});
  }
};

typedef GemmPick<float, GS_MR32, GS_MR32B, GS_NV32> Gemm32;
typedef GemmPick<double, GS_MR64, GS_MR64B, GS_NV64> Gemm64;

static const GsKernelTable TABLE = {
  GS_TABLE_NAME,
  { Gemm32::nt, Gemm32::tn, Gemm32::nn, addBias<float>, colSum<float>, activate<float>, activateBackward<float>,
    addInto<float>, firstNonFinite<float>, sgdUpdate<float>, sgdUpdateStream<float>, copyStream<float>, reduceGrad<float>, addReduceGrad<float>, reduceSgd<float>, activationStats<float>, softmaxCE<float>, Gemm32::tnCheck,
    Gemm32::ntAcc, im2col<float>, col2im<float>, maxPool<float>, maxPoolBackward<float>, momentumUpdate<float>, addIntoCheck<float> },
  { Gemm64::nt, Gemm64::tn, Gemm64::nn, addBias<double>, colSum<double>, activate<double>, activateBackward<double>,
    addInto<double>, firstNonFinite<double>, sgdUpdate<double>, sgdUpdateStream<double>, copyStream<double>, reduceGrad<double>, addReduceGrad<double>, reduceSgd<double>, activationStats<double>, softmaxCE<double>, Gemm64::tnCheck,
    Gemm64::ntAcc, im2col<double>, col2im<double>, maxPool<double>, maxPoolBackward<double>, momentumUpdate<double>, addIntoCheck<double> },
};

}  // namespace

extern "C" const GsKernelTable* GS_TABLE_FN(void) { return &TABLE; }
