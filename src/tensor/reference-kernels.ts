/**
 * reference-kernels.ts — the TypeScript reference kernels: the oracle every faster kernel must
 * match bit for bit. The GEMMs and the activations per dtype, in both profiles of the spec
 * (kernels.ts), and the reference KernelSet of each dtype and profile.
 * Not here: the spec and its interfaces (kernels.ts); the operations written once for both
 * dtypes (reference-common.ts), softmax cross-entropy (softmax-ce.ts); anything that allocates
 * in a hot loop.
 */

import type { DType, Float } from './dtype';
import { fma32, fma64 } from './fma';
import type { CoreKernels, KernelProfile, KernelSet } from './kernels';
import { withSharedDefaults } from './kernel-defaults';
import { addBias, addInto, activationStats, colSum, firstNonFinite, gatherRows, reduceGrad, sgdUpdate } from './reference-common';
import { softmaxCE32, softmaxCE64 } from './softmax-ce';
import { exp32, exp64, log32, log64, sigmoid32, sigmoid64, tanh32, tanh64 } from './spec-math';

// ---- float64 ---------------------------------------------------------------------------

/** C (m, n) = A·Bᵀ, each element from +0, or with `from` from its value in C (gemmNTAcc). */
function nt64(m: number, n: number, k: number, A: Float, B: Float, C: Float, from: boolean): void {
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    for (let j = 0; j < n; j++) {
      const bj = j * k;
      let acc = from ? C[i * n + j]! : 0;
      for (let p = 0; p < k; p++) acc += A[ai + p]! * B[bj + p]!;
      C[i * n + j] = acc;
    }
  }
}

const ref64: CoreKernels = {
  id: 'ref-ts',
  dtype: 'float64',
  profile: 'portable',
  gemmNT: (m, n, k, A, B, C) => nt64(m, n, k, A, B, C, false),
  gemmNTAcc: (m, n, k, A, B, C) => nt64(m, n, k, A, B, C, true),
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
  addBias,
  colSum,
  activate(f, m, n, z, a) {
    const len = m * n;
    switch (f) {
      case 'tanh':
        for (let i = 0; i < len; i++) a[i] = tanh64(z[i]!);
        break;
      case 'sigmoid':
        for (let i = 0; i < len; i++) a[i] = sigmoid64(z[i]!);
        break;
      case 'relu':
        for (let i = 0; i < len; i++) {
          const v = z[i]!;
          a[i] = v > 0 ? v : 0;
        }
        break;
      case 'linear':
        for (let i = 0; i < len; i++) a[i] = z[i]!;
        break;
      case 'softmax':
        for (let r = 0; r < m; r++) {
          const o = r * n;
          let mx = z[o]!;
          for (let j = 1; j < n; j++) if (z[o + j]! > mx) mx = z[o + j]!;
          let s = 0;
          for (let j = 0; j < n; j++) {
            const e = exp64(z[o + j]! - mx);
            a[o + j] = e;
            s += e;
          }
          for (let j = 0; j < n; j++) a[o + j] = a[o + j]! / s;
        }
        break;
    }
  },
  activateBackward(f, m, n, z, a, g) {
    const len = m * n;
    switch (f) {
      case 'tanh':
        for (let i = 0; i < len; i++) {
          const v = a[i]!;
          g[i] = g[i]! * (1 - v * v);
        }
        break;
      case 'sigmoid':
        for (let i = 0; i < len; i++) {
          const v = a[i]!;
          g[i] = g[i]! * (v * (1 - v));
        }
        break;
      case 'relu':
        for (let i = 0; i < len; i++) if (!(z[i]! > 0)) g[i] = 0;
        break;
      case 'linear':
        break;
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
  addInto,
  firstNonFinite,
  sgdUpdate,
  reduceGrad,
  activationStats,
  softmaxCE: softmaxCE64,
  gatherRows,
  exp: exp64,
  log: log64,
};

// ---- float32 (every operation rounded with Math.fround) -----------------------------------

const fr = Math.fround;

/** nt64 in float32: the product rounded, then the sum (no FMA). */
function nt32(m: number, n: number, k: number, A: Float, B: Float, C: Float, from: boolean): void {
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    for (let j = 0; j < n; j++) {
      const bj = j * k;
      let acc = from ? C[i * n + j]! : 0;
      for (let p = 0; p < k; p++) acc = fr(acc + fr(A[ai + p]! * B[bj + p]!));
      C[i * n + j] = acc;
    }
  }
}

const ref32: CoreKernels = {
  id: 'ref-ts',
  dtype: 'float32',
  profile: 'portable',
  gemmNT: (m, n, k, A, B, C) => nt32(m, n, k, A, B, C, false),
  gemmNTAcc: (m, n, k, A, B, C) => nt32(m, n, k, A, B, C, true),
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
  addBias,
  colSum,
  activate(f, m, n, z, a) {
    const len = m * n;
    switch (f) {
      case 'tanh':
        for (let i = 0; i < len; i++) a[i] = tanh32(z[i]!);
        break;
      case 'sigmoid':
        for (let i = 0; i < len; i++) a[i] = sigmoid32(z[i]!);
        break;
      case 'relu':
        for (let i = 0; i < len; i++) {
          const v = z[i]!;
          a[i] = v > 0 ? v : 0;
        }
        break;
      case 'linear':
        for (let i = 0; i < len; i++) a[i] = z[i]!;
        break;
      case 'softmax':
        for (let r = 0; r < m; r++) {
          const o = r * n;
          let mx = z[o]!;
          for (let j = 1; j < n; j++) if (z[o + j]! > mx) mx = z[o + j]!;
          let s = 0;
          for (let j = 0; j < n; j++) {
            const e = exp32(fr(z[o + j]! - mx));
            a[o + j] = e;
            s = fr(s + e);
          }
          for (let j = 0; j < n; j++) a[o + j] = fr(a[o + j]! / s);
        }
        break;
    }
  },
  activateBackward(f, m, n, z, a, g) {
    const len = m * n;
    switch (f) {
      case 'tanh':
        for (let i = 0; i < len; i++) {
          const v = a[i]!;
          g[i] = fr(g[i]! * fr(1 - fr(v * v)));
        }
        break;
      case 'sigmoid':
        for (let i = 0; i < len; i++) {
          const v = a[i]!;
          g[i] = fr(g[i]! * fr(v * fr(1 - v)));
        }
        break;
      case 'relu':
        for (let i = 0; i < len; i++) if (!(z[i]! > 0)) g[i] = 0;
        break;
      case 'linear':
        break;
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
  addInto,
  firstNonFinite,
  sgdUpdate,
  reduceGrad,
  activationStats,
  softmaxCE: softmaxCE32,
  gatherRows,
  exp: exp32,
  log: log32,
};

// ---- the fma profile: the same kernels, each GEMM term one correctly rounded fma (fma.ts) ------

/**
 * The GEMMs with each term fma(a, b, acc): the loops of the portable reference, k in
 * increasing order, the fused step in place of its multiply then add.
 */
function fmaGemms(fma: (a: number, b: number, c: number) => number): Pick<CoreKernels, 'gemmNT' | 'gemmNTAcc' | 'gemmTN' | 'gemmNN'> {
  const nt = (m: number, n: number, k: number, A: Float, B: Float, C: Float, from: boolean): void => {
    for (let i = 0; i < m; i++) {
      const ai = i * k;
      for (let j = 0; j < n; j++) {
        const bj = j * k;
        let acc = from ? C[i * n + j]! : 0;
        for (let p = 0; p < k; p++) acc = fma(A[ai + p]!, B[bj + p]!, acc);
        C[i * n + j] = acc;
      }
    }
  };
  return {
    gemmNT: (m, n, k, A, B, C) => nt(m, n, k, A, B, C, false),
    gemmNTAcc: (m, n, k, A, B, C) => nt(m, n, k, A, B, C, true),
    gemmTN(m, n, k, A, B, C) {
      C.fill(0, 0, m * n);
      for (let p = 0; p < k; p++) {
        const ap = p * m;
        const bp = p * n;
        for (let i = 0; i < m; i++) {
          const a = A[ap + i]!;
          const ci = i * n;
          for (let j = 0; j < n; j++) C[ci + j] = fma(a, B[bp + j]!, C[ci + j]!);
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
          for (let j = 0; j < n; j++) C[ci + j] = fma(a, B[bp + j]!, C[ci + j]!);
        }
      }
    },
  };
}

const fma64Core: CoreKernels = { ...ref64, id: 'ref-ts-fma', profile: 'fma', ...fmaGemms(fma64) };
// float32: fma32 returns the float32 result, so a Float32Array store keeps it as it is
const fma32Core: CoreKernels = { ...ref32, id: 'ref-ts-fma', profile: 'fma', ...fmaGemms(fma32) };

const full64 = withSharedDefaults(ref64);
const full32 = withSharedDefaults(ref32);
const fullFma64 = withSharedDefaults(fma64Core);
const fullFma32 = withSharedDefaults(fma32Core);

/** The reference kernel set for a dtype and profile: its core operations, the extension as their compositions. */
export function referenceKernels(dtype: DType, profile: KernelProfile = 'portable'): KernelSet {
  if (profile === 'fma') return dtype === 'float64' ? fullFma64 : fullFma32;
  return dtype === 'float64' ? full64 : full32;
}

/** The reference's core operations alone, for an implementation that replaces only some of them. */
export function referenceCore(dtype: DType, profile: KernelProfile = 'portable'): CoreKernels {
  if (profile === 'fma') return dtype === 'float64' ? fma64Core : fma32Core;
  return dtype === 'float64' ? ref64 : ref32;
}
