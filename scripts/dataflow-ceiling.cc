// dataflow-ceiling.cc — the benchmark workload's training step with gradsync's own native
// kernels (native/kernels-impl.h, the AVX-512 or AVX2 build's tiles and flags: no FMA) and
// nothing else: no JavaScript, no logging, no planning, no checks, threads that spin at a
// barrier. What the step's dataflow itself gives on this machine, on 1 thread and on 2, for
// scripts/bench-dataflow.ts to set beside gradsync's own rows.
//
// The step, as gradsync runs it (train/step.ts, model/mlp.ts, parallel/tail.ts): MLP
// 784-256-128-10, tanh, softmax cross-entropy, batch 128 as 2 leaves of 64 rows. A leaf:
// the rows gathered from a 60,000-row float32 table in a shuffled order; forward (GEMM, bias,
// tanh; softmax last); softmax cross-entropy; backward per layer (dW by the checked TN GEMM,
// db by a column sum, dX by GEMM, tanh'); the activation statistics. 1 thread: both leaves,
// then the tail in one pass (kernels.reduceSgd: the root's add, mean, the norms, SGD) over the
// whole parameter vector. 2 threads: one leaf each (the second thread's dW by non-temporal
// stores, as a pool thread writes its shared slot), a barrier, then the tail's units (16,384
// elements of each tensor) taken from a shared counter by both, new weights streamed (what
// the shared tail does), and a barrier. The data are random (uniform inputs, one-hot targets):
// the kernels' time does not depend on the values (no subnormals arise).
//
// Usage: dataflow-ceiling THREADS STEPS   (THREADS 1 or 2; threads pinned to CPUs 0 and 1 when
// the machine lets them). Prints one JSON line: {"threads","steps","medianStepUs",
// "medianLeafUs","medianTailUs"} over the steps after the first 200.
// the addon's own translation unit for the instruction set (its tiles and vector width)
#if defined(GS_DATAFLOW_AVX512)
#include "../native/isa-avx512.cc"
#elif defined(GS_DATAFLOW_AVX2)
#include "../native/isa-avx2.cc"
#else
#error "define GS_DATAFLOW_AVX512 or GS_DATAFLOW_AVX2 (scripts/bench-dataflow.ts does)"
#endif
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <algorithm>
#include <atomic>
#include <vector>

namespace {

typedef GemmPick<float, GS_MR32, GS_MR32B, GS_NV32> G;

const size_t ROWS = 60000, MB = 64, BATCH = 128;
const size_t N0 = 784, N1 = 256, N2 = 128, N3 = 10;
// the parameter layout of model/params.ts: W then b, layer by layer
const size_t W1 = 0, B1 = W1 + N1 * N0, W2 = B1 + N1, B2 = W2 + N2 * N1, W3 = B2 + N2, B3 = W3 + N3 * N2, P = B3 + N3;
const double LR = 0.05;

double now() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

float* alloc(size_t n) {
  float* p = (float*)aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
  if (p == nullptr) { fprintf(stderr, "dataflow-ceiling: out of memory\n"); exit(1); }
  return p;
}

struct Leaf {
  float *x, *y, *z1, *a1, *z2, *a2, *z3, *a3, *d1, *d2, *d3, *grads;
  double stats[1 + N1 + 1 + N2];
};

float *data, *targets, *params;
std::vector<uint32_t> order;
Leaf leaves[2];
int THREADS = 1;

struct Barrier {
  std::atomic<int> count{0}, gen{0};
  void wait() {
    if (THREADS == 1) return;
    const int g = gen.load();
    if (count.fetch_add(1) == THREADS - 1) { count.store(0); gen.fetch_add(1); }
    else while (gen.load() == g) __builtin_ia32_pause();
  }
} barrier;

std::atomic<int> nextUnit{0};
std::vector<std::pair<size_t, size_t>> units;

void leafStep(Leaf& L, size_t from, bool stream) {
  for (size_t r = 0; r < MB; r++) {
    memcpy(L.x + r * N0, data + (size_t)order[from + r] * N0, N0 * sizeof(float));
    memcpy(L.y + r * N3, targets + (size_t)order[from + r] * N3, N3 * sizeof(float));
  }
  const float* p = params;
  G::nt(MB, N1, N0, L.x, p + W1, L.z1); addBias<float>(MB, N1, L.z1, p + B1); activate<float>(GS_TANH, MB, N1, L.z1, L.a1);
  G::nt(MB, N2, N1, L.a1, p + W2, L.z2); addBias<float>(MB, N2, L.z2, p + B2); activate<float>(GS_TANH, MB, N2, L.z2, L.a2);
  G::nt(MB, N3, N2, L.a2, p + W3, L.z3); addBias<float>(MB, N3, L.z3, p + B3); activate<float>(GS_SOFTMAX, MB, N3, L.z3, L.a3);
  softmaxCE<float>(MB, N3, L.z3, L.a3, L.y, L.d3);
  float* g = L.grads;
  G::tnCheck(N3, N2, MB, L.d3, L.a2, g + W3, stream); colSum<float>(MB, N3, L.d3, g + B3);
  G::nn(MB, N2, N3, L.d3, p + W3, L.d2); activateBackward<float>(GS_TANH, MB, N2, L.z2, L.a2, L.d2);
  G::tnCheck(N2, N1, MB, L.d2, L.a1, g + W2, stream); colSum<float>(MB, N2, L.d2, g + B2);
  G::nn(MB, N1, N2, L.d2, p + W2, L.d1); activateBackward<float>(GS_TANH, MB, N1, L.z1, L.a1, L.d1);
  G::tnCheck(N1, N0, MB, L.d1, L.x, g + W1, stream); colSum<float>(MB, N1, L.d1, g + B1);
  activationStats<float>(GS_TANH, MB, N1, L.z1, L.a1, L.stats);
  activationStats<float>(GS_TANH, MB, N2, L.z2, L.a2, L.stats + 1 + N1);
}

int STEPS = 2000;
std::vector<double> stepUs, leafUs, tailUs;

void* run(void* arg) {
  const int t = (int)(size_t)arg;
  cpu_set_t cs;
  CPU_ZERO(&cs);
  CPU_SET(t, &cs);
  sched_setaffinity(0, sizeof cs, &cs);  // best effort: a machine that refuses runs them floating
  double sums[2];
  const size_t stepsPerEpoch = ROWS / BATCH;
  for (int st = 0; st < STEPS; st++) {
    barrier.wait();
    const double t0 = now();
    const size_t from = (st % stepsPerEpoch) * BATCH;
    if (THREADS == 1) {
      leafStep(leaves[0], from, false);
      leafStep(leaves[1], from + MB, false);
    } else {
      leafStep(leaves[t], from + t * MB, t == 1);
    }
    const double t1 = now();
    if (THREADS == 1) {
      reduceSgd<float>(P, leaves[0].grads, leaves[1].grads, params, (double)BATCH, 0, LR, sums, 0);
    } else {
      if (t == 0) nextUnit.store(0);
      barrier.wait();
      for (;;) {
        const int u = nextUnit.fetch_add(1);
        if (u >= (int)units.size()) break;
        const size_t a = units[u].first, b = units[u].second;
        reduceSgd<float>(b - a, leaves[t].grads + a, leaves[1 - t].grads + a, params + a, (double)BATCH, 0, LR, sums, 1);
      }
      barrier.wait();
    }
    const double t2 = now();
    if (t == 0) {
      stepUs.push_back((t2 - t0) * 1e6);
      leafUs.push_back((t1 - t0) * 1e6);
      tailUs.push_back((t2 - t1) * 1e6);
    }
  }
  return nullptr;
}

double median(std::vector<double> v) {
  v.erase(v.begin(), v.begin() + std::min<size_t>(200, v.size() / 2));
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (atoi(argv[1]) != 1 && atoi(argv[1]) != 2) || atoi(argv[2]) < 400) {
    fprintf(stderr, "usage: dataflow-ceiling THREADS STEPS  (THREADS 1 or 2, STEPS at least 400)\n");
    return 2;
  }
  THREADS = atoi(argv[1]);
  STEPS = atoi(argv[2]);
  unsigned s = 12345;
  auto rnd = [&s]() { s = s * 1664525u + 1013904223u; return (float)(s >> 8) / 16777216.0f; };
  data = alloc(ROWS * N0);
  targets = alloc(ROWS * N3);
  for (size_t i = 0; i < ROWS * N0; i++) data[i] = rnd();
  for (size_t r = 0; r < ROWS; r++) for (size_t j = 0; j < N3; j++) targets[r * N3 + j] = j == r % N3 ? 1.0f : 0.0f;
  params = alloc(P);
  for (size_t i = 0; i < P; i++) params[i] = (rnd() - 0.5f) * 0.1f;
  order.resize(ROWS);
  for (size_t i = 0; i < ROWS; i++) order[i] = (uint32_t)i;
  for (size_t i = ROWS - 1; i > 0; i--) std::swap(order[i], order[(size_t)(rnd() * (float)(i + 1)) % (i + 1)]);
  for (Leaf& L : leaves) {
    L.x = alloc(MB * N0); L.y = alloc(MB * N3);
    L.z1 = alloc(MB * N1); L.a1 = alloc(MB * N1); L.d1 = alloc(MB * N1);
    L.z2 = alloc(MB * N2); L.a2 = alloc(MB * N2); L.d2 = alloc(MB * N2);
    L.z3 = alloc(MB * N3); L.a3 = alloc(MB * N3); L.d3 = alloc(MB * N3);
    L.grads = alloc(P);
    memset(L.grads, 0, P * sizeof(float));
    memset(L.stats, 0, sizeof L.stats);
  }
  // the tail's units: blocks of 16,384 elements of each tensor, in order (parallel/tail.ts)
  const size_t tensors[][2] = {{W1, B1}, {B1, W2}, {W2, B2}, {B2, W3}, {W3, B3}, {B3, P}};
  for (auto& r : tensors) for (size_t a = r[0]; a < r[1]; a += 16384) units.push_back({a, std::min(r[1], a + 16384)});
  pthread_t other;
  if (THREADS == 2 && pthread_create(&other, nullptr, run, (void*)1) != 0) { fprintf(stderr, "dataflow-ceiling: no second thread\n"); return 1; }
  run((void*)0);
  if (THREADS == 2) pthread_join(other, nullptr);
  printf("{\"threads\":%d,\"steps\":%d,\"medianStepUs\":%.1f,\"medianLeafUs\":%.1f,\"medianTailUs\":%.1f}\n",
         THREADS, STEPS, median(stepUs), median(leafUs), median(tailUs));
  return 0;
}
