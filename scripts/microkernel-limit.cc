// microkernel-limit.cc — the machine's limit for a float32 GEMM's inner loop, with each term a
// multiply then an add (the portable profile) and with each term one fused multiply-add (the
// fma profile): a 6 × 2-vector register tile of C, its k loop over packed panels of A and B
// that stay in L1, nothing else. What a GEMM reaches on the workload's shapes is measured
// against these two figures (scripts/bench-kernels.ts builds and runs this).
// Build: g++ -std=c++17 -O3 (the tile loop unrolled, so C stays in registers) -ffp-contract=off -mavx2 -mfma [-mavx512f -DGS_ZMM] -o … microkernel-limit.cc
// Prints one JSON line: {"vector": bits, "mulAdd": GFLOP/s, "fma": GFLOP/s}.
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <vector>

#if defined(GS_ZMM)
using V = __m512;
static inline V load(const float* p) { return _mm512_loadu_ps(p); }
static inline V bcast(float x) { return _mm512_set1_ps(x); }
static inline V mul(V a, V b) { return _mm512_mul_ps(a, b); }
static inline V add(V a, V b) { return _mm512_add_ps(a, b); }
static inline V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
static inline V zero() { return _mm512_setzero_ps(); }
static inline void store(float* p, V v) { _mm512_storeu_ps(p, v); }
constexpr int L = 16;
#else
using V = __m256;
static inline V load(const float* p) { return _mm256_loadu_ps(p); }
static inline V bcast(float x) { return _mm256_set1_ps(x); }
static inline V mul(V a, V b) { return _mm256_mul_ps(a, b); }
static inline V add(V a, V b) { return _mm256_add_ps(a, b); }
static inline V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
static inline V zero() { return _mm256_setzero_ps(); }
static inline void store(float* p, V v) { _mm256_storeu_ps(p, v); }
constexpr int L = 8;
#endif

constexpr int MR = 6;  // rows of the C tile
constexpr int K = 256; // k of one call: A's panel 6 KB, B's 16–32 KB, in L1

template <bool Fused>
static void tile(const float* a, const float* b, float* c) {
  V c0[MR], c1[MR];
  for (int r = 0; r < MR; r++) c0[r] = c1[r] = zero();
  for (int k = 0; k < K; k++) {
    const V b0 = load(b + k * 2 * L), b1 = load(b + k * 2 * L + L);
    for (int r = 0; r < MR; r++) {
      const V x = bcast(a[k * MR + r]);
      if constexpr (Fused) {
        c0[r] = fmadd(x, b0, c0[r]);
        c1[r] = fmadd(x, b1, c1[r]);
      } else {
        c0[r] = add(c0[r], mul(x, b0));
        c1[r] = add(c1[r], mul(x, b1));
      }
    }
  }
  for (int r = 0; r < MR; r++) {
    store(c + r * 2 * L, c0[r]);
    store(c + r * 2 * L + L, c1[r]);
  }
}

template <bool Fused>
static double gflops(const float* a, const float* b, float* c) {
  using clock = std::chrono::steady_clock;
  const double flopsPerCall = 2.0 * MR * 2 * L * K;
  double best = 0;
  for (int rep = 0; rep < 7; rep++) {
    const int calls = 20000;
    const auto t0 = clock::now();
    for (int i = 0; i < calls; i++) {
      tile<Fused>(a, b, c);
      // a data dependence between calls, so the compiler keeps every one
      asm volatile("" : : "r"(c) : "memory");
    }
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    const double g = flopsPerCall * calls / s / 1e9;
    if (g > best) best = g;
  }
  return best;
}

int main() {
  std::vector<float> a(K * MR), b(K * 2 * L), c(MR * 2 * L);
  for (size_t i = 0; i < a.size(); i++) a[i] = 1.0f + 1e-7f * static_cast<float>(i % 97);
  for (size_t i = 0; i < b.size(); i++) b[i] = 1e-3f * static_cast<float>(i % 89);
  const double m = gflops<false>(a.data(), b.data(), c.data());
  const double f = gflops<true>(a.data(), b.data(), c.data());
  std::printf("{\"vector\": %d, \"mulAdd\": %.2f, \"fma\": %.2f}\n", L * 32, m, f);
  return 0;
}
