/**
 * tiny.ts — a KernelSet that runs tiny shapes on the TypeScript reference and the rest on a
 * faster set (native): a call into the addon costs more than a small model's whole operation.
 *
 * Every implementation of a profile computes the reference's bits (THE KERNEL SPEC), so which
 * one runs a call changes its speed, never its result. Only calls whose reference is faster
 * at that size are sent to it: GEMMs below TINY_GEMM multiply-adds, and the cheap element-wise
 * passes and gathers below TINY_ELEMENTS elements (reduceSgd too, unless its stores are shared);
 * activate (the reference's tanh and sigmoid formulas) and the shared-memory stores always stay
 * on the fast set.
 * Not here: the implementations (reference-kernels.ts, native.ts), choosing them (select.ts).
 */

import type { KernelSet } from '../kernels';

/** GEMMs with m·n·k below this go to the reference (a native call's fixed cost dominates there). */
export const TINY_GEMM = 128;
/** Element-wise passes over fewer elements than this go to the reference. */
export const TINY_ELEMENTS = 32;

/**
 * `fast` with its tiny calls sent to `ref`, which must be the reference of the same dtype and
 * profile. The set keeps `fast`'s id: the bits, which the id stands for, are the same.
 */
export function withTinyOnReference(fast: KernelSet, ref: KernelSet): KernelSet {
  if (fast.dtype !== ref.dtype || fast.profile !== ref.profile)
    throw new RangeError(
      `tiny shapes: the reference is ${ref.dtype} ${ref.profile}, the fast set ${fast.id} is ${fast.dtype} ${fast.profile}`,
    );
  const G = TINY_GEMM;
  const E = TINY_ELEMENTS;
  return {
    ...fast,
    gemmNT: (m, n, k, A, B, C) => (m * n * k < G ? ref : fast).gemmNT(m, n, k, A, B, C),
    gemmTN: (m, n, k, A, B, C) => (m * n * k < G ? ref : fast).gemmTN(m, n, k, A, B, C),
    gemmNN: (m, n, k, A, B, C) => (m * n * k < G ? ref : fast).gemmNN(m, n, k, A, B, C),
    gemmTNCheck: (m, n, k, A, B, C, shared) => (!shared && m * n * k < G ? ref : fast).gemmTNCheck(m, n, k, A, B, C, shared),
    gatherRows: (rows, order, from, width, src, dst) => (rows * width < E ? ref : fast).gatherRows(rows, order, from, width, src, dst),
    addBias: (m, n, C, b) => (m * n < E ? ref : fast).addBias(m, n, C, b),
    colSum: (m, n, A, out) => (m * n < E ? ref : fast).colSum(m, n, A, out),
    activateBackward: (f, m, n, z, a, g) => (m * n < E ? ref : fast).activateBackward(f, m, n, z, a, g),
    activationStats: (f, m, n, z, a, out) => (m * n < E ? ref : fast).activationStats(f, m, n, z, a, out),
    addInto: (n, a, b) => (n < E ? ref : fast).addInto(n, a, b),
    firstNonFinite: (n, a) => (n < E ? ref : fast).firstNonFinite(n, a),
    sgdUpdate: (n, lr, g, p, u) => (n < E ? ref : fast).sgdUpdate(n, lr, g, p, u),
    reduceGrad: (n, g, p, divisor, lambda, out) => (n < E ? ref : fast).reduceGrad(n, g, p, divisor, lambda, out),
    addIntoCheck: (n, a, b) => (n < E ? ref : fast).addIntoCheck(n, a, b),
    reduceSgd: (n, a, b, p, divisor, lambda, lr, out, shared) =>
      (!shared && n < E ? ref : fast).reduceSgd(n, a, b, p, divisor, lambda, lr, out, shared),
    momentumUpdate: (n, lr, mu, nesterov, first, g, v, p, u) => (n < E ? ref : fast).momentumUpdate(n, lr, mu, nesterov, first, g, v, p, u),
  };
}
