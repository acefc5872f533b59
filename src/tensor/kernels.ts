/**
 * kernels.ts — the reference kernels: the oracle every faster kernel must match bit for bit.
 *
 * THE KERNEL SPEC (version KERNEL_SPEC_VERSION):
 *  1. Every GEMM output element starts at +0 and accumulates its k terms in increasing k,
 *     one multiply then one add per term, each rounded to the dtype: no FMA, no
 *     reassociation, no split accumulators. Loops may run in any order over *different*
 *     output elements (the n-outer loops below do), never change one element's order.
 *  2. Bias is added after the whole dot product: z = (Σ_k x_k·w_k) + b.
 *  3. Column sums (dJdWb) accumulate rows in increasing row order from +0.
 *  4. Element-wise functions are spec-math.ts's, applied per element.
 *  5. float32: every operation is rounded to float32 (Math.fround here).
 *  6. A NaN result is any NaN: its sign and payload are unspecified (engines and
 *     instruction sets differ in which operand's NaN propagates); every other bit is exact.
 * History: v1 first version; v2 exp64 is finite (not 0) for x in (709.43, 709.78].
 * All matrices are dense row-major; shapes are given as (rows, cols).
 * Not here: layers, losses (model/), anything that allocates in a hot loop.
 */

import type { DType, Float } from './dtype';
import { exp32, exp64, log32, log64, sigmoid32, sigmoid64, tanh32, tanh64 } from './spec-math';

/** Bumped whenever any formula or order above changes; compared at the worker handshake. */
export const KERNEL_SPEC_VERSION = 2;

export type Activation = 'tanh' | 'sigmoid' | 'relu' | 'linear' | 'softmax';
export const ACTIVATIONS: readonly Activation[] = ['tanh', 'sigmoid', 'relu', 'linear', 'softmax'];

/**
 * The operations the model needs, for one dtype. A faster implementation (WebAssembly,
 * native) provides the same interface and must produce the same bits.
 */
export interface KernelSet {
  readonly id: string;
  readonly dtype: DType;
  /** C (m, n) = A (m, k) · Bᵀ where B is (n, k). */
  gemmNT(m: number, n: number, k: number, A: Float, B: Float, C: Float): void;
  /** C (m, n) = Aᵀ · B where A is (k, m) and B is (k, n). */
  gemmTN(m: number, n: number, k: number, A: Float, B: Float, C: Float): void;
  /** C (m, n) = A (m, k) · B (k, n). */
  gemmNN(m: number, n: number, k: number, A: Float, B: Float, C: Float): void;
  /** C (m, n) += b (n) row by row. */
  addBias(m: number, n: number, C: Float, b: Float): void;
  /** out (n) = Σ_rows A (m, n), rows in increasing order from +0. */
  colSum(m: number, n: number, A: Float, out: Float): void;
  /** a = f(z) over m rows of n units (softmax per row). */
  activate(f: Activation, m: number, n: number, z: Float, a: Float): void;
  /** g ← g ⊙ f′ expressed through a (and z for relu): turns dJ/da into dJ/dz, in place. */
  activateBackward(f: Activation, m: number, n: number, z: Float, a: Float, g: Float): void;
  exp(x: number): number;
  log(x: number): number;
}

// ---- float64 ---------------------------------------------------------------------------

const ref64: KernelSet = {
  id: 'ref-ts',
  dtype: 'float64',
  gemmNT(m, n, k, A, B, C) {
    for (let i = 0; i < m; i++) {
      const ai = i * k;
      for (let j = 0; j < n; j++) {
        const bj = j * k;
        let acc = 0;
        for (let p = 0; p < k; p++) acc += A[ai + p]! * B[bj + p]!;
        C[i * n + j] = acc;
      }
    }
  },
  gemmTN(m, n, k, A, B, C) {
    C.fill(0, 0, m * n);
    for (let p = 0; p < k; p++) {
      const ap = p * m;
      const bp = p * n;
      for (let i = 0; i < m; i++) {
        const a = A[ap + i]!;
        const ci = i * n;
        for (let j = 0; j < n; j++) C[ci + j] += a * B[bp + j]!;
      }
    }
  },
  gemmNN(m, n, k, A, B, C) {
    C.fill(0, 0, m * n);
    for (let i = 0; i < m; i++) {
      const ci = i * n;
      for (let p = 0; p < k; p++) {
        const a = A[i * k + p]!;
        const bp = p * n;
        for (let j = 0; j < n; j++) C[ci + j] += a * B[bp + j]!;
      }
    }
  },
  addBias(m, n, C, b) {
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) C[i * n + j] += b[j]!;
  },
  colSum(m, n, A, out) {
    out.fill(0, 0, n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j] += A[i * n + j]!;
  },
  activate(f, m, n, z, a) {
    const len = m * n;
    switch (f) {
      case 'tanh': for (let i = 0; i < len; i++) a[i] = tanh64(z[i]!); break;
      case 'sigmoid': for (let i = 0; i < len; i++) a[i] = sigmoid64(z[i]!); break;
      case 'relu': for (let i = 0; i < len; i++) { const v = z[i]!; a[i] = v > 0 ? v : 0; } break;
      case 'linear': for (let i = 0; i < len; i++) a[i] = z[i]!; break;
      case 'softmax':
        for (let r = 0; r < m; r++) {
          const o = r * n;
          let mx = z[o]!;
          for (let j = 1; j < n; j++) if (z[o + j]! > mx) mx = z[o + j]!;
          let s = 0;
          for (let j = 0; j < n; j++) { const e = exp64(z[o + j]! - mx); a[o + j] = e; s += e; }
          for (let j = 0; j < n; j++) a[o + j] = a[o + j]! / s;
        }
        break;
    }
  },
  activateBackward(f, m, n, z, a, g) {
    const len = m * n;
    switch (f) {
      case 'tanh': for (let i = 0; i < len; i++) { const v = a[i]!; g[i] = g[i]! * (1 - v * v); } break;
      case 'sigmoid': for (let i = 0; i < len; i++) { const v = a[i]!; g[i] = g[i]! * (v * (1 - v)); } break;
      case 'relu': for (let i = 0; i < len; i++) if (!(z[i]! > 0)) g[i] = 0; break;
      case 'linear': break;
      case 'softmax':
        // dJ/dz_j = a_j·(g_j − Σ_k g_k·a_k)
        for (let r = 0; r < m; r++) {
          const o = r * n;
          let dot = 0;
          for (let j = 0; j < n; j++) dot += g[o + j]! * a[o + j]!;
          for (let j = 0; j < n; j++) g[o + j] = a[o + j]! * (g[o + j]! - dot);
        }
        break;
    }
  },
  exp: exp64,
  log: log64,
};

// ---- float32 (every operation rounded with Math.fround) -----------------------------------

const fr = Math.fround;

const ref32: KernelSet = {
  id: 'ref-ts',
  dtype: 'float32',
  gemmNT(m, n, k, A, B, C) {
    for (let i = 0; i < m; i++) {
      const ai = i * k;
      for (let j = 0; j < n; j++) {
        const bj = j * k;
        let acc = 0;
        for (let p = 0; p < k; p++) acc = fr(acc + fr(A[ai + p]! * B[bj + p]!));
        C[i * n + j] = acc;
      }
    }
  },
  gemmTN(m, n, k, A, B, C) {
    C.fill(0, 0, m * n);
    for (let p = 0; p < k; p++) {
      const ap = p * m;
      const bp = p * n;
      for (let i = 0; i < m; i++) {
        const a = A[ap + i]!;
        const ci = i * n;
        // the store into the Float32Array rounds the sum; the product is rounded first (no FMA)
        for (let j = 0; j < n; j++) C[ci + j] += fr(a * B[bp + j]!);
      }
    }
  },
  gemmNN(m, n, k, A, B, C) {
    C.fill(0, 0, m * n);
    for (let i = 0; i < m; i++) {
      const ci = i * n;
      for (let p = 0; p < k; p++) {
        const a = A[i * k + p]!;
        const bp = p * n;
        for (let j = 0; j < n; j++) C[ci + j] += fr(a * B[bp + j]!);
      }
    }
  },
  addBias(m, n, C, b) {
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) C[i * n + j] += b[j]!;
  },
  colSum(m, n, A, out) {
    out.fill(0, 0, n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j] += A[i * n + j]!;
  },
  activate(f, m, n, z, a) {
    const len = m * n;
    switch (f) {
      case 'tanh': for (let i = 0; i < len; i++) a[i] = tanh32(z[i]!); break;
      case 'sigmoid': for (let i = 0; i < len; i++) a[i] = sigmoid32(z[i]!); break;
      case 'relu': for (let i = 0; i < len; i++) { const v = z[i]!; a[i] = v > 0 ? v : 0; } break;
      case 'linear': for (let i = 0; i < len; i++) a[i] = z[i]!; break;
      case 'softmax':
        for (let r = 0; r < m; r++) {
          const o = r * n;
          let mx = z[o]!;
          for (let j = 1; j < n; j++) if (z[o + j]! > mx) mx = z[o + j]!;
          let s = 0;
          for (let j = 0; j < n; j++) { const e = exp32(fr(z[o + j]! - mx)); a[o + j] = e; s = fr(s + e); }
          for (let j = 0; j < n; j++) a[o + j] = fr(a[o + j]! / s);
        }
        break;
    }
  },
  activateBackward(f, m, n, z, a, g) {
    const len = m * n;
    switch (f) {
      case 'tanh': for (let i = 0; i < len; i++) { const v = a[i]!; g[i] = fr(g[i]! * fr(1 - fr(v * v))); } break;
      case 'sigmoid': for (let i = 0; i < len; i++) { const v = a[i]!; g[i] = fr(g[i]! * fr(v * fr(1 - v))); } break;
      case 'relu': for (let i = 0; i < len; i++) if (!(z[i]! > 0)) g[i] = 0; break;
      case 'linear': break;
      case 'softmax':
        for (let r = 0; r < m; r++) {
          const o = r * n;
          let dot = 0;
          for (let j = 0; j < n; j++) dot = fr(dot + fr(g[o + j]! * a[o + j]!));
          for (let j = 0; j < n; j++) g[o + j] = fr(a[o + j]! * fr(g[o + j]! - dot));
        }
        break;
    }
  },
  exp: exp32,
  log: log32,
};

/** The reference kernel set for a dtype. */
export function referenceKernels(dtype: DType): KernelSet {
  return dtype === 'float64' ? ref64 : ref32;
}
