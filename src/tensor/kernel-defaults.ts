/**
 * kernel-defaults.ts — withSharedDefaults: a full KernelSet from core operations and any of the
 * extension's, each missing extension operation being its core composition or its TypeScript
 * loop (im2col.ts, pool.ts, momentum.ts), as the spec defines it (kernels.ts): the same bits.
 * Not here: the core operations themselves (reference-kernels.ts, fast/).
 */

import type { Float } from './dtype';
import { col2im, im2col } from './im2col';
import { maxPool, maxPoolBackward } from './pool';
import { momentumUpdate } from './momentum';
import type { CoreKernels, KernelSet, LayoutKernels, OptimizerKernels, SharedMemoryKernels } from './kernels';

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
export function withSharedDefaults(k: CoreKernels & Partial<SharedMemoryKernels & LayoutKernels & OptimizerKernels>): KernelSet {
  const addReduceGrad = k.addReduceGrad ?? addReduceGradOf(k.addInto, k.reduceGrad);
  return {
    ...k,
    im2col: k.im2col ?? im2col,
    col2im: k.col2im ?? col2im,
    maxPool: k.maxPool ?? maxPool,
    maxPoolBackward: k.maxPoolBackward ?? maxPoolBackward,
    momentumUpdate: k.momentumUpdate ?? momentumUpdate,
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
    addIntoCheck:
      k.addIntoCheck ??
      ((n, a, b) => {
        k.addInto(n, a, b);
        return k.firstNonFinite(n, a);
      }),
    addReduceGrad,
    reduceSgd: k.reduceSgd ?? reduceSgdOf(k.reduceGrad, addReduceGrad, sgdKeep),
  };
}
