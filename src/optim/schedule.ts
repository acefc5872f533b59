/**
 * schedule.ts — the learning rate of each step, a pure function of (schedule, base lr, step,
 * steps per epoch): a resumed run and every executor mix see the same lr at the same step.
 *
 * The values are PyTorch's, bit for bit: torch.optim.lr_scheduler computes each lr from the
 * one before by its chainable form (get_lr), and so does this file, in the same operations
 * and order. i counts scheduler.step() calls: epochs (`unit` 'epoch', PyTorch's usual loop)
 * or optimizer steps ('step'); lr₀ = base, and for i ≥ 1
 *   step         lrᵢ = lrᵢ₋₁·γ when i mod stepSize = 0, else lrᵢ₋₁              (StepLR)
 *   multistep    lrᵢ = lrᵢ₋₁·γ when i is a milestone, else lrᵢ₋₁               (MultiStepLR)
 *   exponential  lrᵢ = lrᵢ₋₁·γ                                                 (ExponentialLR)
 *   cosine       lrᵢ = (1 + cos(π·i/T)) / (1 + cos(π·(i−1)/T))·(lrᵢ₋₁ − ηmin) + ηmin, except
 *                lrᵢ = lrᵢ₋₁ + (base − ηmin)·(1 − cos(π/T))/2 when (i − 1 − T) mod 2T = 0
 *                                                                   (CosineAnnealingLR)
 * A linear warm-up of W units from factor f (LinearLR(start_factor=f, total_iters=W)):
 *   lr₀ = base·f,  lrᵢ = lrᵢ₋₁·(1 + (1 − f)/(W·f + (i − 1)·(1 − f))) for 1 ≤ i < W,
 * then the schedule counting from 0 at i = W, where its closed form gives its first value
 * (SequentialLR(milestones=[W]) calls step(0)): base, or ηmin + (base − ηmin) for cosine.
 * Kind 'constant' with a warm-up is LinearLR alone: its formula up to i = W, then unchanged.
 * cos is correctly rounded (cos.ts); torch's is the platform's libm, which agrees wherever
 * it is correctly rounded. Not here: validating a schedule (config.ts).
 */

import { cos } from './cos';

export type ScheduleSpec =
  | { kind: 'constant' }
  | { kind: 'step'; stepSize: number; gamma: number }
  | { kind: 'multistep'; milestones: number[]; gamma: number }
  | { kind: 'exponential'; gamma: number }
  | { kind: 'cosine'; tMax: number; etaMin: number };

export type Schedule = ScheduleSpec & {
  /** What i counts: epochs (the lr changes at an epoch's first step) or optimizer steps. */
  unit: 'epoch' | 'step';
  /** Units of linear warm-up before the schedule (0: none). */
  warmup: number;
  /** The warm-up's first factor of the base lr (LinearLR's start_factor). */
  warmupStartFactor: number;
};

export const CONSTANT: Schedule = { kind: 'constant', unit: 'epoch', warmup: 0, warmupStartFactor: 1 / 3 };

/**
 * The lr of each optimizer step (1-based) of a run with `perEpoch` steps per epoch. The
 * recursion is carried forward from the last call, so a run's next step costs O(1); a call
 * for an earlier step starts again from i = 0 and gives the same value.
 */
export class LearningRate {
  /** The unit index of `lr`; −1 before the first call. */
  private i = -1;
  private lr = 0;
  private readonly milestones: ReadonlySet<number>;

  constructor(
    private readonly s: Schedule,
    private readonly base: number,
    private readonly perEpoch: number,
  ) {
    if (!(Number.isInteger(perEpoch) && perEpoch >= 1)) throw new RangeError(`perEpoch must be an integer ≥ 1, got ${perEpoch}`);
    this.milestones = new Set(s.kind === 'multistep' ? s.milestones : []);
  }

  /** The learning rate of optimizer step `step` (1-based). */
  at(step: number): number {
    if (!(Number.isInteger(step) && step >= 1)) throw new RangeError(`step must be an integer ≥ 1, got ${step}`);
    const i = this.s.unit === 'epoch' ? Math.floor((step - 1) / this.perEpoch) : step - 1;
    if (this.i < 0 || i < this.i) {
      this.i = 0;
      this.lr = this.s.warmup > 0 ? this.base * this.s.warmupStartFactor : this.base;
    }
    while (this.i < i) this.lr = this.next(this.lr, ++this.i);
    return this.lr;
  }

  /** lrᵢ from lrᵢ₋₁ = `prev`, i ≥ 1, as torch's get_lr computes it. */
  private next(prev: number, i: number): number {
    const s = this.s;
    const w = s.warmup;
    if (i < w || (s.kind === 'constant' && i === w)) {
      const f = s.warmupStartFactor;
      return prev * (1 + (1 - f) / (w * f + (i - 1) * (1 - f)));
    }
    const j = i - w; // the schedule's own index
    if (w > 0 && j === 0) return s.kind === 'cosine' ? s.etaMin + ((this.base - s.etaMin) * (1 + cos(0))) / 2 : this.base;
    switch (s.kind) {
      case 'constant':
        return prev;
      case 'step':
        return j % s.stepSize === 0 ? prev * s.gamma : prev;
      case 'multistep':
        return this.milestones.has(j) ? prev * s.gamma : prev;
      case 'exponential':
        return prev * s.gamma;
      case 'cosine': {
        const t = s.tMax;
        if ((j - 1 - t) % (2 * t) === 0) return prev + ((this.base - s.etaMin) * (1 - cos(Math.PI / t))) / 2;
        return ((1 + cos((Math.PI * j) / t)) / (1 + cos((Math.PI * (j - 1)) / t))) * (prev - s.etaMin) + s.etaMin;
      }
    }
  }
}
