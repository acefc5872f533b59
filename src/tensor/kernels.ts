/**
 * kernels.ts — the kernel spec: the rules every kernel implementation follows bit for bit, its
 * version and profiles, and the interfaces (KernelSet) every implementation provides.
 *
 * THE KERNEL SPEC (version KERNEL_SPEC_VERSION), in one of two profiles (KernelProfile):
 *  1. Every GEMM output element starts at +0 (gemmNTAcc: at its value in C) and accumulates
 *     its k terms in increasing k, no reassociation, no split accumulators. Profile `portable`: one multiply then one add per
 *     term, each rounded to the dtype (no FMA). Profile `fma`: one fused multiply-add per
 *     term, acc ← RN(a·b + acc) rounded once (fma.ts). Loops may run in any order over
 *     *different* output elements (the reference's n-outer loops do), never change one element's order.
 *  2. Bias is added after the whole dot product: z = (Σ_k x_k·w_k) + b.
 *  3. Column sums (dJdWb) accumulate rows in increasing row order from +0.
 *  4. Element-wise functions are spec-math.ts's, applied per element.
 *  5. float32: every operation is rounded to float32 (Math.fround in the reference).
 *  6. A NaN result is any NaN: its sign and payload are unspecified (engines and
 *     instruction sets differ in which operand's NaN propagates); every other bit is exact.
 *  7. Vector passes (addInto, sgdUpdate, reduceGrad) are element-wise: each element's
 *     operations in the order written, rounded as written (float64 intermediates where the
 *     reference's TypeScript computes in float64 before a Float32Array store).
 *  8. Sums of squares (reduceGrad's norms) are float64, over blocks of NORM_BLOCK elements
 *     of the tensor (the last block shorter): within a block, 8 strided lanes (element i goes
 *     to lane i mod 8, in increasing i), combined ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)); the
 *     block sums added in increasing block order from +0. A vector unit computes the same
 *     bits as the reference's loop, and threads may each take whole blocks (a block's sum is the
 *     kernel's result for that block alone).
 *  9. Activation statistics (activationStats) are counts: exact in any order.
 * All matrices are dense row-major; shapes are given as (rows, cols).
 *
 * A KernelSet is four parts: CoreKernels, the operations the model and the optimizers need;
 * SharedMemoryKernels, fused and streamed-store forms of core operations for the step's tail
 * and for pool threads writing memory another thread reads next; LayoutKernels, the copies of
 * convolution and pooling; and OptimizerKernels, the element-wise update of momentum. Each
 * extension operation is defined as its core composition or its TypeScript loop (same bits); withSharedDefaults() (kernel-defaults.ts)
 * completes a core-only set with those, so an implementation provides only what it speeds up.
 * The profiles differ in rule 1 alone; a run uses one, and every executor of it must compute it.
 * Not here: the implementations (the TypeScript reference, reference-kernels.ts, the oracle;
 * the faster ones, fast/); layers, losses (model/).
 */

import type { DType, Float } from './dtype';
import type { ConvGeometry } from './im2col';

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
   * addInto(a, b), returning firstNonFinite(n, a) of the sum: the same bits, the scan in the
   * add's own pass where the kernels fuse them (native). Default: those two passes.
   */
  addIntoCheck(n: number, a: Float, b: Float): number;
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

/**
 * An optimizer's element-wise update beyond SGD's (a core operation), defined by its
 * TypeScript loop (momentum.ts: each product and sum one binary64 operation, each stored value
 * rounded once); withSharedDefaults() supplies that loop where an implementation has none.
 */
export interface OptimizerKernels {
  /** SGD with momentum over n elements: v, u and p as momentum.ts's momentumUpdate writes them. */
  momentumUpdate(n: number, lr: number, mu: number, nesterov: boolean, first: boolean, g: Float, v: Float, p: Float, u: Float): void;
}

/** What the rest of the code uses: the core operations and the three extensions. */
export type KernelSet = CoreKernels & SharedMemoryKernels & LayoutKernels & OptimizerKernels;
