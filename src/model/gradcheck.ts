/**
 * gradcheck.ts — proves backward(): central differences in float64 on every parameter tensor.
 *
 * For each tensor (dJdW[l], dJdWb[l]) and each checked entry θ_i (all entries, or a seeded
 * sample of `samplesPerTensor` for larger tensors):
 *     numeric_i  = (J(θ + ε·e_i) − J(θ − ε·e_i)) / 2ε
 *     analytic_i = backward()'s gradient (after the same reduction and weight decay)
 *     error_i    = |analytic_i − numeric_i| / max(|analytic_i|, |numeric_i|, tiny)
 * A tensor passes when its largest error is ≤ threshold. J is the run's objective: the loss
 * over the given examples under `reduction` ('sum' or 'mean') plus λ/2·‖θ‖² when weight
 * decay λ is on (whose gradient is the original's dJdW += λ·W).
 * An entry whose ±ε perturbation flips a relu unit or changes a max-pool winner (a kink) is
 * excluded from the maximum and counted in `kinks`: there the function is not differentiable
 * and the check would lie. Every layer kind is covered; dropout runs in training mode with the
 * mask of `step` for examples 0 … rows−1, fixed across the perturbations.
 * Not here: printing (cli/gradcheck.ts), choosing the data (train/).
 */

import type { Float } from '../tensor/dtype';
import { referenceKernels } from '../tensor/reference-kernels';
import type { KernelSet } from '../tensor/kernels';
import { Rng } from '../tensor/rng';
import { Model } from './model';
import type { ModelSpec } from './spec';

export interface GradcheckOptions {
  /** Perturbation ε. Default 1e-6 (torch.autograd.gradcheck's). */
  eps?: number;
  /** Largest relative error that passes. Default 1e-5. */
  threshold?: number;
  /**
   * Floor of the relative error's denominator. Default: 1e-3 × the largest |analytic| entry
   * of the same tensor (at least 1e-12): an entry a thousand times smaller than its tensor's
   * largest is compared on the tensor's scale, because float64 rounding of J (≈ 1e-16·|J|/ε)
   * dominates its relative error, not the gradient.
   */
  tiny?: number;
  /** Tensors larger than this are checked on a seeded sample of this many entries. Default 25. */
  samplesPerTensor?: number;
  seed?: number;
  weightDecay?: number;
  reduction?: 'sum' | 'mean';
  /** Also report the largest error per tensor for each of these ε (the ε sweep). */
  sweep?: number[];
  /** The step whose dropout masks are used (examples numbered 0 … rows−1). Default 1. */
  step?: number;
  /** The kernels whose backward is checked (float64). Default: the reference kernels. */
  kernels?: KernelSet;
}

export interface TensorCheck {
  /** 'dJdW[0]', 'dJdWb[0]', … */
  tensor: string;
  size: number;
  checked: number;
  maxRelError: number;
  maxAbsError: number;
  /** Entry with the largest error, with both gradients there. */
  worst: { index: number; analytic: number; numeric: number };
  /** Entries skipped because ±ε crossed a kink (a relu unit's sign, a max-pool winner). */
  kinks: number;
  pass: boolean;
}

export interface GradcheckResult {
  pass: boolean;
  eps: number;
  threshold: number;
  examples: number;
  tensors: TensorCheck[];
  sweep: { eps: number; maxRelError: Record<string, number> }[];
}

/**
 * Checks the gradient of `spec` (computed in float64 whatever spec.dtype says) at `params`
 * on `rows` examples of x (rows, inputs) and y (rows, outputs).
 */
export function gradcheck(
  spec: ModelSpec,
  params: ArrayLike<number>,
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  rows: number,
  opts: GradcheckOptions = {},
): GradcheckResult {
  const eps = opts.eps ?? 1e-6;
  const threshold = opts.threshold ?? 1e-5;
  const k = opts.samplesPerTensor ?? 25;
  const lambda = opts.weightDecay ?? 0;
  const reduction = opts.reduction ?? 'sum';
  const spec64: ModelSpec = { ...spec, dtype: 'float64' };
  const model = new Model(spec64, opts.kernels ?? referenceKernels('float64'), rows);
  const theta = Float64Array.from(params);
  model.input().set(Array.prototype.slice.call(x, 0, rows * spec.inputs));
  model.target().set(Array.prototype.slice.call(y, 0, rows * model.outputs));

  const scale = reduction === 'mean' ? 1 / rows : 1;
  const ctx = { train: { step: opts.step ?? 1, order: Uint32Array.from({ length: rows }, (_, i) => i), from: 0 } };
  const objective = (p: Float): number => {
    model.forward(p, rows, ctx);
    let j = model.loss(rows) * scale;
    if (lambda !== 0) {
      let s = 0;
      for (let i = 0; i < p.length; i++) s += p[i]! * p[i]!;
      j += 0.5 * lambda * s;
    }
    return j;
  };

  const analytic = new Float64Array(theta.length);
  model.forward(theta, rows, ctx);
  model.backward(theta, rows, analytic);
  for (let i = 0; i < analytic.length; i++) analytic[i] = analytic[i]! * scale + lambda * theta[i]!;

  const rng = new Rng(opts.seed ?? 1);
  const tensors: { name: string; from: number; size: number; picks: number[] }[] = [];
  for (const s of model.layout.layers) {
    for (const [name, from, size] of [
      [`dJdW[${s.layer}]`, s.w, s.wSize],
      [`dJdWb[${s.layer}]`, s.b, s.bSize],
    ] as const) {
      let picks: number[];
      if (size <= k) picks = Array.from({ length: size }, (_, i) => i);
      else {
        const all = new Uint32Array(size).map((_, i) => i);
        rng.shuffle(all);
        picks = Array.from(all.subarray(0, k)).sort((a, b) => a - b);
      }
      tensors.push({ name, from, size, picks });
    }
  }

  const central = (i: number, e: number): { numeric: number; kink: boolean } => {
    const saved = theta[i]!;
    theta[i] = saved + e;
    const jp = objective(theta);
    const patP = model.kinkPattern(rows);
    theta[i] = saved - e;
    const jm = objective(theta);
    const patM = model.kinkPattern(rows);
    theta[i] = saved;
    return { numeric: (jp - jm) / (2 * e), kink: patP !== patM };
  };

  const tinyOf = (from: number, size: number): number => {
    if (opts.tiny !== undefined) return opts.tiny;
    let m = 0;
    for (let i = from; i < from + size; i++) m = Math.max(m, Math.abs(analytic[i]!));
    return Math.max(1e-3 * m, 1e-12);
  };
  const relErr = (a: number, n: number, tiny: number): number => Math.abs(a - n) / Math.max(Math.abs(a), Math.abs(n), tiny);

  const results: TensorCheck[] = tensors.map((t) => {
    const tiny = tinyOf(t.from, t.size);
    let maxRel = 0;
    let maxAbs = 0;
    let kinks = 0;
    let worst = { index: t.picks[0] ?? 0, analytic: 0, numeric: 0 };
    for (const j of t.picks) {
      const i = t.from + j;
      const { numeric, kink } = central(i, eps);
      if (kink) {
        kinks++;
        continue;
      }
      const a = analytic[i]!;
      const rel = relErr(a, numeric, tiny);
      if (!(rel <= maxRel)) {
        maxRel = rel;
        worst = { index: j, analytic: a, numeric };
      } // NaN counts as worst
      maxAbs = Math.max(maxAbs, Math.abs(a - numeric));
    }
    return {
      tensor: t.name,
      size: t.size,
      checked: t.picks.length,
      maxRelError: maxRel,
      maxAbsError: maxAbs,
      worst,
      kinks,
      pass: maxRel <= threshold,
    };
  });

  const sweep = (opts.sweep ?? []).map((e) => {
    const maxRelError: Record<string, number> = {};
    for (const t of tensors) {
      const tiny = tinyOf(t.from, t.size);
      let m = 0;
      for (const j of t.picks) {
        const { numeric, kink } = central(t.from + j, e);
        if (!kink) m = Math.max(m, relErr(analytic[t.from + j]!, numeric, tiny));
      }
      maxRelError[t.name] = m;
    }
    return { eps: e, maxRelError };
  });

  return { pass: results.every((r) => r.pass), eps, threshold, examples: rows, tensors: results, sweep };
}
