/**
 * diagnose-options.ts — what a Diagnoser is built from: its thresholds and window sizes
 * (DiagnosisOptions) with their defaults and the integer ones' minimums, and what is known of the
 * run at construction (DiagnosisContext: activations, loss, target range).
 * and checkOptions, which refuses an unknown option or a value out of range.
 * Not here: the states (diagnose.ts).
 */

import { fin } from './diagnose-evidence';

export interface DiagnosisOptions {
  /** Steps kept in the sliding window; the plateau (converged) and the growth (exploding) are measured over it. Integer ≥ 4. Default 50. */
  window: number;
  /** Finite steps seen before vanishing and exploding may be reported (converged needs a full window). Integer ≥ 1. Default 10. */
  warmupSteps: number;
  /** Recent steps averaged for the "now" values (loss, gradient norms, update ratios, saturated and dead fractions). Integer ≥ 1. Default 5. */
  smoothSteps: number;
  /** converged: |mean loss of the window's second half − first half| / the larger of the two is below this. Default 1e-3. */
  plateauRelChange: number;
  /** converged: the recent global gradient norm is at most this fraction of its start (the first finite step's). Default 1e-2. */
  convergedGradRatio: number;
  /** vanishing: the first layer's ‖dJdW‖ / the largest later layer's ‖dJdW‖ is at most this (three orders of magnitude). Default 1e-3. */
  vanishingLayerRatio: number;
  /** vanishing: only while the recent loss is at least this fraction of the start loss (the first finite step's). Default 0.5. */
  vanishingLossRatio: number;
  /** saturated: a tanh/sigmoid layer's saturated fraction (LayerRecord.saturated) is at least this. Default 0.5. */
  saturatedFraction: number;
  /** dead-relus: a relu layer's dead fraction (LayerRecord.dead) is at least this. Default 0.5. */
  deadFraction: number;
  /** exploding: the recent global gradient norm / the smallest in the window is at least this, and the loss is not lower than at that smallest point. Default 1e2. */
  explodingGrowth: number;
  /** exploding: a layer's recent update/weight ratio ‖ΔW‖/‖W‖ is at least this (healthy training sits near 1e-3). Reported from the first step. Default 1. */
  explodingUpdateRatio: number;
  /** exploding: the recent loss is at least this multiple of the start loss (the steps overshoot). Default 3. */
  explodingLossRatio: number;
}

export const DIAGNOSIS_DEFAULTS: DiagnosisOptions = Object.freeze({
  window: 50,
  warmupSteps: 10,
  smoothSteps: 5,
  plateauRelChange: 1e-3,
  convergedGradRatio: 1e-2,
  vanishingLayerRatio: 1e-3,
  vanishingLossRatio: 0.5,
  saturatedFraction: 0.5,
  deadFraction: 0.5,
  explodingGrowth: 1e2,
  explodingUpdateRatio: 1,
  explodingLossRatio: 3,
});

/** The options that count steps: integers from this minimum to 100,000; the others are finite numbers ≥ 0. */
export const DIAGNOSIS_INTEGERS: Partial<Record<keyof DiagnosisOptions, number>> = Object.freeze({
  window: 4,
  warmupSteps: 1,
  smoothSteps: 1,
});

export interface DiagnosisContext {
  /** Activation of the output layer: 'tanh', 'sigmoid', 'softmax', 'relu', 'linear'. */
  outputActivation: string;
  loss: 'half-sse' | 'cross-entropy';
  /** Smallest and largest target value of the training set (NaN when unknown: no range check). */
  targetMin: number;
  targetMax: number;
  /** Activation of every layer, first hidden to output (used when a record's layer lacks one). */
  layerActivations: string[];
}

/** Throws a TypeError naming an unknown option, a RangeError naming one out of range. */
export function checkOptions(o: DiagnosisOptions): void {
  for (const [k, v] of Object.entries(o)) {
    if (!(k in DIAGNOSIS_DEFAULTS))
      throw new TypeError(`diagnosis option "${k}" is unknown (allowed: ${Object.keys(DIAGNOSIS_DEFAULTS).join(', ')})`);
    if (!fin(v) || v < 0) throw new RangeError(`diagnosis option "${k}" must be a finite number ≥ 0, got ${String(v)}`);
  }
  for (const [k, min] of Object.entries(DIAGNOSIS_INTEGERS) as [keyof DiagnosisOptions, number][]) {
    if (!Number.isInteger(o[k]) || o[k] < min || o[k] > 100_000)
      throw new RangeError(`diagnosis option "${k}" must be an integer in [${min}, 100000], got ${o[k]}`);
  }
}
