/**
 * schedule.ts — the learning rate of each step, a pure function of (schedule, base lr, step,
 * steps per epoch): a resumed run and every executor mix see the same lr at the same step.
 * The formulas are PyTorch's (torch.optim.lr_scheduler), counted in epochs (scheduler.step()
 * once per epoch, PyTorch's usual loop) or in steps, `unit`:
 *   step         lr = base·γ^⌊i/stepSize⌋                       (StepLR)
 *   multistep    lr = base·γ^(milestones ≤ i)                    (MultiStepLR)
 *   exponential  lr = base·γ^i                                   (ExponentialLR)
 *   cosine       lr = ηmin + (base − ηmin)·(1 + cos(π·i/tMax))/2  (CosineAnnealingLR)
 * γ^k is k multiplications in order, as PyTorch's chainable form computes it. A linear
 * warm-up (LinearLR from startFactor to 1 over `warmup` units, then the schedule counting
 * from 0: SequentialLR) may come before any of them, or alone (kind 'constant').
 */

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
 * The lr of each optimizer step (1-based) of a run with `perEpoch` steps per epoch. γ^k is
 * carried from the last call (k only grows as a run advances), so a step costs O(1); a call
 * for an earlier step starts again from base, with the same result.
 */
export class LearningRate {
  private k = 0;
  private pow: number;

  constructor(
    private readonly s: Schedule,
    private readonly base: number,
    private readonly perEpoch: number,
  ) {
    this.pow = base;
  }

  at(step: number): number {
    const s = this.s;
    const i = s.unit === 'epoch' ? Math.floor((step - 1) / this.perEpoch) : step - 1;
    if (i < s.warmup) return this.base * (s.warmupStartFactor + ((1 - s.warmupStartFactor) * i) / s.warmup);
    const t = i - s.warmup;
    switch (s.kind) {
      case 'constant':
        return this.base;
      case 'step':
        return this.decayed(s.gamma, Math.floor(t / s.stepSize));
      case 'multistep': {
        let k = 0;
        for (const m of s.milestones) if (m <= t) k++;
        return this.decayed(s.gamma, k);
      }
      case 'exponential':
        return this.decayed(s.gamma, t);
      case 'cosine':
        return s.etaMin + ((this.base - s.etaMin) * (1 + Math.cos((Math.PI * t) / s.tMax))) / 2;
    }
  }

  /** base·γ^k, as k multiplications in order (PyTorch's chainable form). */
  private decayed(gamma: number, k: number): number {
    if (k < this.k) {
      this.k = 0;
      this.pow = this.base;
    }
    for (; this.k < k; this.k++) this.pow *= gamma;
    return this.pow;
  }
}
