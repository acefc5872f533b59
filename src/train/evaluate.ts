/**
 * evaluate.ts — loss and accuracy of parameters over a whole dataset (forward only).
 * Examples are taken in order, in chunks; the loss sum accumulates in float64 in example order.
 * Not here: training (loop.ts).
 */

import type { Float } from '../tensor/dtype';
import type { KernelSet } from '../tensor/kernels';
import { Model } from '../model/model';
import type { ModelSpec } from '../model/spec';
import type { Dataset } from '../data/dataset';

export interface Evaluation {
  /** Σ loss over the examples. */
  lossSum: number;
  examples: number;
  /** Fraction of argmax(ŷ) = label, when the dataset has labels. */
  accuracy: number | null;
}

export function evaluate(spec: ModelSpec, kernels: KernelSet, params: Float, ds: Dataset, chunk = 256): Evaluation {
  const m = new Model(spec, kernels, Math.max(1, Math.min(chunk, ds.n)));
  let lossSum = 0;
  let correct = 0;
  const nIn = ds.inputs;
  const nOut = ds.outputs;
  for (let from = 0; from < ds.n; from += m.maxRows) {
    const rows = Math.min(m.maxRows, ds.n - from);
    m.input().set(ds.x.subarray(from * nIn, (from + rows) * nIn));
    m.target().set(ds.y.subarray(from * nOut, (from + rows) * nOut));
    const out = m.forward(params, rows);
    lossSum += m.loss(rows);
    if (ds.labels) {
      for (let r = 0; r < rows; r++) {
        let best = 0;
        for (let j = 1; j < nOut; j++) if (out[r * nOut + j]! > out[r * nOut + best]!) best = j;
        if (best === ds.labels[from + r]) correct++;
      }
    }
  }
  return { lossSum, examples: ds.n, accuracy: ds.labels && ds.n > 0 ? correct / ds.n : null };
}
