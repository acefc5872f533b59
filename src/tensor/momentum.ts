/**
 * momentum.ts — SGD with momentum over n elements (PyTorch's rule), the oracle and the default
 * of every kernel set's momentumUpdate.
 *
 * Per element: v = g on the first step, else mu·v + g; u = lr·(g + mu·v) with Nesterov, else
 * lr·v, v as stored; p = p − u. Every product and sum is one binary64 operation and each stored
 * value is rounded to the array's dtype once, so an implementation that does the same operations
 * in that order (the native build: kernels-impl.h momentumUpdate) gives the same bits.
 * Not here: the optimizer's state and step count (optim/optimizer.ts).
 */

import type { Float } from './dtype';

export function momentumUpdate(
  n: number,
  lr: number,
  mu: number,
  nesterov: boolean,
  first: boolean,
  g: Float,
  v: Float,
  p: Float,
  u: Float,
): void {
  for (let i = 0; i < n; i++) {
    v[i] = first ? g[i]! : mu * v[i]! + g[i]!;
    u[i] = nesterov ? lr * (g[i]! + mu * v[i]!) : lr * v[i]!;
    p[i] = p[i]! - u[i]!;
  }
}
