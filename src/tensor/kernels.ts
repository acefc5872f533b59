/**
 * kernels.ts — the reference kernels: the oracle every faster kernel must match bit for bit.
 *
 * THE KERNEL SPEC (version KERNEL_SPEC_VERSION), in one of two profiles (KernelProfile):
 *  1. Every GEMM output element starts at +0 (gemmNTAcc: at its value in C) and accumulates
 *     its k terms in increasing k, no reassociation, no split accumulators. Profile `portable`: one multiply then one add per
 *     term, each rounded to the dtype (no FMA). Profile `fma`: one fused multiply-add per
 *     term, acc ← RN(a·b + acc) rounded once (fma.ts). Loops may run in any order over
 *     *different* output elements (the n-outer loops below do), never change one element's order.
 *  2. Bias is added after the whole dot product: z = (Σ_k x_k·w_k) + b.
 *  3. Column sums (dJdWb) accumulate rows in increasing row order from +0.
 *  4. Element-wise functions are spec-math.ts's, applied per element.
 *  5. float32: every operation is rounded to float32 (Math.fround here).
 *  6. A NaN result is any NaN: its sign and payload are unspecified (engines and
 *     instruction sets differ in which operand's NaN propagates); every other bit is exact.
 *  7. Vector passes (addInto, sgdUpdate, reduceGrad) are element-wise: each element's
 *     operations in the order written, rounded as written (float64 intermediates where the
 *     TypeScript below computes in float64 before a Float32Array store).
 *  8. Sums of squares (reduceGrad's norms) are float64, over blocks of NORM_BLOCK elements
 *     of the tensor (the last block shorter): within a block, 8 strided lanes (element i goes
 *     to lane i mod 8, in increasing i), combined ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)); the
 *     block sums added in increasing block order from +0. A vector unit computes the same
 *     bits as this loop, and threads may each take whole blocks (a block's sum is the
 *     kernel's result for that block alone).
 *  9. Activation statistics (activationStats) are counts: exact in any order.
 * All matrices are dense row-major; shapes are given as (rows, cols).
 *
 * A KernelSet is three parts: CoreKernels, the operations the model and the optimizers need;
 * SharedMemoryKernels, fused and streamed-store forms of core operations for the step's tail
 * and for pool threads writing memory another thread reads next; and LayoutKernels, the
 * copies of convolution and pooling. Each extension operation is defined as its core
 * composition or its TypeScript loop (same bits); withSharedDefaults() completes a core-only
 * set with those, so an implementation provides only what it speeds up.
 * The profiles differ in rule 1 alone; a run uses one, and every executor of it must compute it.
 * Not here: layers, losses (model/), anything that allocates in a hot loop.
 */

import type { DType, Float } from './dtype';
import { col2im, im2col, type ConvGeometry } from './im2col';
import { maxPool, maxPoolBackward } from './pool';
import { fma32, fma64 } from './fma';
import { exp32, exp64, log32, log64, sigmoid32, sigmoid64, tanh32, tanh64 } from './spec-math';

/** Bumped whenever any formula or order above changes; compared at the worker handshake. */
export const KERNEL_SPEC_VERSION = 4;

/**
 * How a GEMM term is rounded (rule 1): 'portable' — a rounded multiply, then a rounded add, which
 * every executor computes (WebAssembly and browsers included); 'fma' — one fused multiply-add,
 * which only executors with a deterministic FMA compute (native builds with FMA, and this file).
 */
export type KernelProfile = 'portable' | 'fma';
export const KERNEL_PROFILES: readonly KernelProfile[] = ['portable', 'fma'];

/** Elements per block of the sums of squares (rule 8); a multiple of 8. */
export const NORM_BLOCK = 16384;

/** An output counts as saturated when its derivative is below this fraction of its maximum. */
export const SATURATION_RATIO = 0.01;

export type Activation = 'tanh' | 'sigmoid' | 'relu' | 'linear' | 'softmax';
export const ACTIVATIONS: readonly Activation[] = ['tanh', 'sigmoid', 'relu', 'linear', 'softmax'];

/**
 * The operations the model and the optimizers need, for one dtype. A faster implementation
 * (WebAssembly, native) provides the same interface and must produce the same bits.
 */
export interface CoreKernels {
  readonly id: string;
  readonly dtype: DType;
  /** The spec's profile the GEMMs follow (rule 1). */
  readonly profile: KernelProfile;
  /** C (m, n) = A (m, k) · Bᵀ where B is (n, k). */
  gemmNT(m: number, n: number, k: number, A: Float, B: Float, C: Float): void;
  /**
   * C (m, n) += A (m, k) · Bᵀ: each element continues from its value in C and adds its k terms
   * in increasing order (rule 1 with the start taken from C), so gemmNT over the first k₁ terms
   * then gemmNTAcc over the next k₂ gives gemmNT's bits over all k₁ + k₂ (a sum over examples
   * computed one example at a time).
   */
  gemmNTAcc(m: number, n: number, k: number, A: Float, B: Float, C: Float): void;
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
  /** a ← a + b over the first n elements. */
  addInto(n: number, a: Float, b: Float): void;
  /** Index of the first non-finite element among the first n, or −1. */
  firstNonFinite(n: number, a: Float): number;
  /** SGD: u ← lr·g (rounded to the dtype), p ← p − u, over n elements. */
  sgdUpdate(n: number, lr: number, g: Float, p: Float, u: Float): void;
  /**
   * Reduction and weight decay in one pass over n elements: g ← g/divisor + λ·p (divisor an
   * integer in [1, 2^24]; float64 intermediates, one rounding to the dtype), and
   * out[0] = Σg², out[1] = Σp² as rule 8 sums them.
   */
  reduceGrad(n: number, g: Float, p: Float, divisor: number, lambda: number, out: Float64Array): void;
  /**
   * One layer's activation statistics over its first m rows (rule 9), added into out
   * (length 1 + n): out[0] += outputs in saturation (tanh: 1 − a² < SATURATION_RATIO;
   * sigmoid: a·(1 − a) < SATURATION_RATIO/4; computed in float64; other activations add 0),
   * out[1 + j] += rows with z[·, j] > 0.
   */
  activationStats(f: Activation, m: number, n: number, z: Float, a: Float, out: Float64Array): void;
  /**
   * Softmax cross-entropy of `rows` rows of n, from the logits z and the softmax a: writes
   * dJ/dz = a·Σy − y into g and returns the loss sum (each row's in the dtype, in order over
   * j; the rows' sum in float64, in row order). Per row: the max of z, s = Σ exp(z − max) and
   * Σy in increasing j, lse = max + log s, the loss Σ_{y ≠ 0} y·(lse − z).
   */
  softmaxCE(rows: number, n: number, z: Float, a: Float, y: Float, g: Float): number;
  /**
   * dst row r ← src row order[from + r] for r < rows, rows of `width` elements (a leaf's
   * examples, by the epoch order): a copy, no arithmetic. An index past src's rows throws a
   * RangeError naming its position before anything is copied.
   */
  gatherRows(rows: number, order: Uint32Array, from: number, width: number, src: Float, dst: Float): void;
  exp(x: number): number;
  log(x: number): number;
}

/**
 * Fused and streamed-store forms of core operations, for the step's tail and for pool threads
 * writing memory another thread reads next. Each is defined as the core composition its
 * comment names (same bits); withSharedDefaults() supplies that composition where an
 * implementation has no faster form.
 */
export interface SharedMemoryKernels {
  /**
   * gemmTN, the same bits (default: gemmTN then firstNonFinite), and firstNonFinite(m·n, C) returned: the native kernels check C as
   * they store it (a partial's dJdW need no scan of their own). `shared`: C is memory another
   * thread reads next (a pool thread's partial, computed straight into its shared slot): the
   * native kernels write C's whole cache lines with non-temporal stores (see copyShared).
   */
  gemmTNCheck(m: number, n: number, k: number, A: Float, B: Float, C: Float, shared: boolean): number;
  /**
   * sgdUpdate, the same bits, for weights that another thread reads next (a pool's shared
   * weights): the native kernels write p's cache lines with non-temporal stores, which need
   * not first take each line back from the other core's cache. Default: sgdUpdate.
   */
  sgdUpdateShared(n: number, lr: number, g: Float, p: Float, u: Float): void;
  /**
   * dst ← src over n elements, for a buffer another thread reads next, filled from one only
   * this thread touches: the native kernels write dst's cache lines with non-temporal stores
   * (see sgdUpdateShared). Default: a plain copy. Returns firstNonFinite(n, src), found in
   * the same pass (a pool thread's partial is checked as it is published).
   */
  copyShared(n: number, src: Float, dst: Float): number;
  /**
   * addInto(a, b) then reduceGrad on the sum, with the result in g (which may be a; a and b
   * are only read): the same bits, in one pass where the kernels fuse them (native). Default:
   * those two passes (addReduceGradOf).
   */
  addReduceGrad(n: number, a: Float, b: Float, p: Float, divisor: number, lambda: number, out: Float64Array, g: Float): void;
  /**
   * The SGD step's tail (no clipping) in one pass where the kernels fuse it (native): g as
   * reduceGrad makes it — from a, or from addInto(a, b) when b is not null — with
   * out = [Σg², Σp²], then sgdUpdate with u = lr·g: p ← p − u. g itself is not kept: a ← the
   * old p, so that `p.set(a)` puts the weights back when the step must not be taken (its sum
   * overflowed). The same bits as (add)reduceGrad then sgdUpdate (default: those passes,
   * reduceSgdOf). `shared`: other threads read p next (sgdUpdateShared's stores). a, b and p
   * must not overlap.
   */
  reduceSgd(
    n: number,
    a: Float,
    b: Float | null,
    p: Float,
    divisor: number,
    lambda: number,
    lr: number,
    out: Float64Array,
    shared: boolean,
  ): void;
}

/**
 * The copies of convolution and pooling (and col2im's adds), defined by the TypeScript loops
 * of im2col.ts and pool.ts; an implementation with faster forms gives their bits, and
 * withSharedDefaults() supplies those loops where it has none.
 */
export interface LayoutKernels {
  /** cols (K, rows·P) ← x (rows, C, H, W), im2col.ts's im2col. */
  im2col(rows: number, g: ConvGeometry, x: Float, cols: Float): void;
  /** dx (rows, C, H, W) ← the adjoint of im2col over dcols (K, rows·P), im2col.ts's col2im. */
  col2im(rows: number, g: ConvGeometry, dcols: Float, dx: Float): void;
  /** out (rows, c, oh, ow) and each winner's index in its example, pool.ts's maxPool. */
  maxPool(rows: number, c: number, h: number, w: number, size: number, stride: number, x: Float, out: Float, arg: Int32Array): void;
  /** gIn (rows, inSize) from gOut (rows, outSize) and maxPool's winners, pool.ts's maxPoolBackward. */
  maxPoolBackward(rows: number, inSize: number, outSize: number, gOut: Float, arg: Int32Array, gIn: Float): void;
}

/** What the rest of the code uses: the core operations, the shared-memory extension and the layout copies. */
export type KernelSet = CoreKernels & SharedMemoryKernels & LayoutKernels;

// ---- shared by both dtypes: a Float32Array store rounds the float64 sum of two float32
// values once, which is the float32 sum --------------------------------------------------------

function addBias(m: number, n: number, C: Float, b: Float): void {
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) C[i * n + j] += b[j]!;
}

function colSum(m: number, n: number, A: Float, out: Float): void {
  out.fill(0, 0, n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j] += A[i * n + j]!;
}

function addInto(n: number, a: Float, b: Float): void {
  for (let i = 0; i < n; i++) a[i] = a[i]! + b[i]!;
}

function firstNonFinite(n: number, a: Float): number {
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    if (v - v !== 0) return i;
  }
  return -1;
}

/** addReduceGrad as its two passes (the reference, and kernels that do not fuse them). */
function addReduceGradOf(add: KernelSet['addInto'], reduce: KernelSet['reduceGrad']): KernelSet['addReduceGrad'] {
  return (n, a, b, p, divisor, lambda, out, g) => {
    if (g !== a) g.set(a.subarray(0, n));
    add(n, g, b);
    reduce(n, g, p, divisor, lambda, out);
  };
}

/**
 * reduceSgd as its passes (the reference, and kernels that do not fuse them): the reduction
 * into a, then `keep` — sgdUpdate with u written over g, the old p left in a (sgdKeep).
 */
function reduceSgdOf(
  reduce: KernelSet['reduceGrad'],
  addReduce: KernelSet['addReduceGrad'],
  keep: (n: number, lr: number, g: Float, p: Float) => void,
): KernelSet['reduceSgd'] {
  return (n, a, b, p, divisor, lambda, lr, out) => {
    if (b === null) reduce(n, a, p, divisor, lambda, out);
    else addReduce(n, a, b, p, divisor, lambda, out, a);
    keep(n, lr, a, p);
  };
}

/** sgdUpdate of (g, p) with g's slot as scratch: u ← lr·g rounded there, p ← p − u, then g ← the old p. */
function sgdKeep(n: number, lr: number, g: Float, p: Float): void {
  for (let i = 0; i < n; i++) {
    const t = p[i]!;
    g[i] = lr * g[i]!;
    p[i] = t - g[i]!;
    g[i] = t;
  }
}

/**
 * A full KernelSet from core operations and any of the extension's: each missing extension
 * operation is its core composition, so the set computes the reference's bits whatever it lacks.
 */
export function withSharedDefaults(k: CoreKernels & Partial<SharedMemoryKernels & LayoutKernels>): KernelSet {
  const addReduceGrad = k.addReduceGrad ?? addReduceGradOf(k.addInto, k.reduceGrad);
  return {
    ...k,
    im2col: k.im2col ?? im2col,
    col2im: k.col2im ?? col2im,
    maxPool: k.maxPool ?? maxPool,
    maxPoolBackward: k.maxPoolBackward ?? maxPoolBackward,
    gemmTNCheck:
      k.gemmTNCheck ??
      ((m, n, depth, A, B, C) => {
        k.gemmTN(m, n, depth, A, B, C);
        return k.firstNonFinite(m * n, C);
      }),
    sgdUpdateShared: k.sgdUpdateShared ?? k.sgdUpdate,
    copyShared:
      k.copyShared ??
      ((n, src, dst) => {
        dst.set(src.subarray(0, n));
        return k.firstNonFinite(n, src);
      }),
    addReduceGrad,
    reduceSgd: k.reduceSgd ?? reduceSgdOf(k.reduceGrad, addReduceGrad, sgdKeep),
  };
}

function gatherRows(rows: number, order: Uint32Array, from: number, width: number, src: Float, dst: Float): void {
  if (from + rows > order.length) throw new RangeError(`order has ${order.length} elements, needs ${from + rows}`);
  if (rows * width > dst.length) throw new RangeError(`dst has ${dst.length} elements, needs ${rows * width}`);
  const have = width === 0 ? Infinity : Math.floor(src.length / width);
  for (let r = 0; r < rows; r++) {
    if (!(order[from + r]! < have)) throw new RangeError(`order[${from + r}] = ${order[from + r]} is past src's ${have} rows`);
  }
  for (let r = 0; r < rows; r++) {
    const e = order[from + r]!;
    // one memcpy per row through a short-lived view, not element by element (the native
    // kernels copy without the views)
    dst.set(src.subarray(e * width, e * width + width), r * width);
  }
}

function sgdUpdate(n: number, lr: number, g: Float, p: Float, u: Float): void {
  for (let i = 0; i < n; i++) {
    u[i] = lr * g[i]!;
    p[i] = p[i]! - u[i]!;
  }
}

// Softmax cross-entropy (KernelSet.softmaxCE), one copy per dtype so that each loop sees one
// array type and no rounding callback (the generic form is much slower); the same operations
// in the same order.

let exps32 = new Float32Array(0);

function softmaxCE32(rows: number, n: number, z: Float, a: Float, y: Float, g: Float): number {
  const r = Math.fround;
  if (exps32.length < rows * n) exps32 = new Float32Array(rows * n);
  for (let i = 0; i < rows; i++) {
    const o = i * n;
    let mx = z[o]!;
    for (let j = 1; j < n; j++) if (z[o + j]! > mx) mx = z[o + j]!;
    for (let j = 0; j < n; j++) exps32[o + j] = exp32(r(z[o + j]! - mx));
  }
  return softmaxCE32Rows(rows, n, z, a, y, g, exps32, 0);
}

/**
 * softmaxCE32's rows from their exponentials, e[from + i·n + j] = exp32(fround(z − the row's
 * max)) — computed one by one by the reference, over the whole block by the WebAssembly
 * kernels: then per row Σ e and Σ y in increasing j, lse, the loss and g, in float32.
 */
export function softmaxCE32Rows(rows: number, n: number, z: Float, a: Float, y: Float, g: Float, e: Float32Array, from: number): number {
  const r = Math.fround;
  let total = 0;
  for (let i = 0; i < rows; i++) {
    const o = i * n;
    let mx = z[o]!;
    for (let j = 1; j < n; j++) if (z[o + j]! > mx) mx = z[o + j]!;
    let s = 0;
    let ysum = 0;
    for (let j = 0; j < n; j++) {
      s = r(s + e[from + o + j]!);
      ysum = r(ysum + y[o + j]!);
    }
    const lse = r(mx + log32(s));
    let li = 0;
    for (let j = 0; j < n; j++) {
      const yj = y[o + j]!;
      if (yj !== 0) li = r(li + r(yj * r(lse - z[o + j]!)));
      g[o + j] = r(r(a[o + j]! * ysum) - yj);
    }
    total += li;
  }
  return total;
}

function softmaxCE64(rows: number, n: number, z: Float, a: Float, y: Float, g: Float): number {
  let total = 0;
  for (let i = 0; i < rows; i++) {
    const o = i * n;
    let mx = z[o]!;
    for (let j = 1; j < n; j++) if (z[o + j]! > mx) mx = z[o + j]!;
    let s = 0;
    let ysum = 0;
    for (let j = 0; j < n; j++) {
      s = s + exp64(z[o + j]! - mx);
      ysum = ysum + y[o + j]!;
    }
    const lse = mx + log64(s);
    let li = 0;
    for (let j = 0; j < n; j++) {
      const yj = y[o + j]!;
      if (yj !== 0) li = li + yj * (lse - z[o + j]!);
      g[o + j] = a[o + j]! * ysum - yj;
    }
    total += li;
  }
  return total;
}

const LANES = new Float64Array(16);

function activationStats(f: Activation, m: number, n: number, z: Float, a: Float, out: Float64Array): void {
  const len = m * n;
  if (f === 'tanh') {
    let c = 0;
    for (let i = 0; i < len; i++) {
      const v = a[i]!;
      if (1 - v * v < SATURATION_RATIO) c++;
    }
    out[0] += c;
  } else if (f === 'sigmoid') {
    let c = 0;
    for (let i = 0; i < len; i++) {
      const v = a[i]!;
      if (v * (1 - v) < 0.25 * SATURATION_RATIO) c++;
    }
    out[0] += c;
  }
  for (let r = 0; r < m; r++) {
    const o = r * n;
    for (let j = 0; j < n; j++) if (z[o + j]! > 0) out[1 + j] += 1;
  }
}

function reduceGrad(n: number, g: Float, p: Float, divisor: number, lambda: number, out: Float64Array): void {
  const s = LANES;
  let sg = 0;
  let sp = 0;
  for (let b = 0; b < n; b += NORM_BLOCK) {
    const end = Math.min(n, b + NORM_BLOCK);
    s.fill(0);
    for (let i = b; i < end; i++) {
      let v = g[i]!;
      if (divisor !== 1) v = v / divisor;
      const t = p[i]!;
      if (lambda !== 0) v = v + lambda * t;
      g[i] = v;
      const q = g[i]!; // the stored (dtype-rounded) value is what the update uses
      const j = i & 7;
      s[j] = s[j]! + q * q;
      s[8 + j] = s[8 + j]! + t * t;
    }
    sg += s[0]! + s[1]! + (s[2]! + s[3]!) + (s[4]! + s[5]! + (s[6]! + s[7]!));
    sp += s[8]! + s[9]! + (s[10]! + s[11]!) + (s[12]! + s[13]! + (s[14]! + s[15]!));
  }
  out[0] = sg;
  out[1] = sp;
}

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
