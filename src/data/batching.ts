/**
 * batching.ts — the data order of an epoch and the batches cut from it.
 *
 * The order of epoch e is a pure function of (n, seed, e): a Fisher–Yates shuffle of
 * 0..n-1 by new Rng(epochSeed(seed, e)). No RNG state carries over between epochs, so a
 * resumed run needs only (epoch, step in epoch) to continue in the same order.
 *
 *   epochSeed(seed, e) = fmix32((fmix32(seed) + e) mod 2^32)
 *
 * with fmix32 MurmurHash3's 32-bit finaliser (h ^= h>>>16; h *= 0x85ebca6b; h ^= h>>>13;
 * h *= 0xc2b2ae35; h ^= h>>>16, all mod 2^32), seed and e taken as uint32. fmix32 is a
 * bijection, so for one seed every epoch gets a different generator seed, and for one epoch
 * every seed does.
 *
 * A batch is a contiguous range of positions in the epoch order; the last batch of an epoch
 * may be smaller (PyTorch's drop_last=False).
 * Not here: micro-batches and who computes them (parallel/tree.ts, parallel/planner.ts).
 */

import { Rng } from '../tensor/rng';

/** MurmurHash3 fmix32: a bijective avalanche of a uint32. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The generator seed of epoch `epoch` of a run seeded `seed` (see the header). */
export function epochSeed(seed: number, epoch: number): number {
  return fmix32((fmix32(seed >>> 0) + (epoch >>> 0)) >>> 0);
}

/** Positions 0..n-1 in the order epoch `epoch` visits them: identity when !shuffle. A fresh, unshared array. */
export function epochOrder(n: number, seed: number, epoch: number, shuffle: boolean): Uint32Array<ArrayBuffer> {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`epochOrder: n must be an integer in [0, 2^32), got ${n}`);
  if (!Number.isInteger(seed)) throw new RangeError(`epochOrder: seed must be an integer, got ${seed}`);
  if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`epochOrder: epoch must be an integer ≥ 0, got ${epoch}`);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (shuffle) new Rng(epochSeed(seed, epoch)).shuffle(order);
  return order;
}

/** ceil(n / batch): the last batch of an epoch may be smaller. */
export function stepsPerEpoch(n: number, batch: number): number {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`stepsPerEpoch: n must be an integer ≥ 0, got ${n}`);
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`stepsPerEpoch: batch must be an integer ≥ 1, got ${batch}`);
  return Math.ceil(n / batch);
}

/** The positions [start, end) in the epoch order of step `stepInEpoch` (0-based). */
export function batchRange(n: number, batch: number, stepInEpoch: number): { start: number; end: number } {
  const steps = stepsPerEpoch(n, batch);
  if (!Number.isInteger(stepInEpoch) || stepInEpoch < 0 || stepInEpoch >= steps) {
    throw new RangeError(`batchRange: stepInEpoch must be an integer in [0, ${steps}), got ${stepInEpoch}`);
  }
  const start = stepInEpoch * batch;
  return { start, end: Math.min(n, start + batch) };
}
