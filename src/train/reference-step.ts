/**
 * reference-step.ts — the step with no strategy: the oracle Stepper (step.ts) is checked against.
 * Main thread only, reference kernels, in sequence: every leaf's partial, summed into the root in
 * the fixed tree's order (parallel/tree.ts), then reduction and weight decay with each tensor's
 * sum of squares (kernels.reduceGrad), clipping, and the optimizer's plain update. Invariant: the
 * weights it writes are bit-identical to any Stepper's for the same θ, optimizer state and batch.
 */

import { Errors } from '../errors';
import { alloc, type Float } from '../tensor/dtype';
import { referenceKernels } from '../tensor/reference-kernels';
import type { KernelProfile, KernelSet } from '../tensor/kernels';
import type { ModelSpec } from '../model/spec';
import { optimizerStep, type OptimizerState } from '../optim/optimizer';
import { clipByGlobalNorm } from '../optim/clip';
import type { StepTask } from '../parallel/executor';
import { leavesOf, PartialComputer, type ExampleSource } from '../parallel/compute-partials';
import { addPartial, type Partial } from '../parallel/partial';
import { combineToRoot, ReductionTree } from '../parallel/tree';
import type { StepSettings } from './step-types';

export interface ReferenceResult {
  loss: number;
  examples: number;
  gradNorm: number;
  clipped: boolean;
  /** Set when the update was skipped (a non-finite gradient or loss). */
  skipped?: string;
}

export class ReferenceStepper {
  private readonly kernels: KernelSet;
  private readonly computer: PartialComputer;
  private readonly update: Float;
  private readonly out = new Float64Array(2);

  constructor(
    private readonly settings: StepSettings,
    spec: ModelSpec,
    data: ExampleSource,
    microBatch: number,
    private readonly opt: OptimizerState,
    paramCount: number,
    profile: KernelProfile = 'portable',
  ) {
    this.kernels = referenceKernels(spec.dtype, profile);
    this.computer = new PartialComputer(spec, this.kernels, data, microBatch);
    this.update = alloc(spec.dtype, paramCount);
  }

  run(task: StepTask, lr = this.settings.optimizer.lr): ReferenceResult {
    const s = this.settings;
    const k = this.kernels;
    const tree = new ReductionTree(leavesOf(task.batch));
    // every leaf, in order; then the tree's sums, left + right
    const leaves: Partial[] = [];
    for (let j = 0; j < tree.leaves; j++) leaves.push(this.computer.computeNode(task.params, task.batch, { h: 0, i: j }));
    const root = combineToRoot(
      tree,
      (n) => (n.h === 0 ? leaves[n.i] : undefined),
      (into, from) => addPartial(into, from, k),
    );
    const g = root.grads;
    const examples = root.count;
    const divisor = s.reduction === 'mean' ? examples : 1;
    const loss = root.lossSum / divisor;
    // reduction and weight decay per tensor, W then b; Σg² is each layer's (W + b), added in layer order
    let sumsq = 0;
    for (const l of s.layers) {
      const w = this.tensor(g, task.params, l.w, l.w + l.wSize, divisor);
      const b = this.tensor(g, task.params, l.b, l.b + l.bSize, divisor);
      sumsq += w + b;
    }
    const gradNorm = Math.sqrt(sumsq);
    for (const p of leaves) this.computer.release(p);
    if (!Number.isFinite(gradNorm) || !Number.isFinite(loss)) {
      const skipped = `non-finite gradient or loss at step ${task.step}`;
      if (s.nonFinite === 'stop') throw Errors.nonFinite(skipped);
      return { loss, examples, gradNorm, clipped: false, skipped };
    }
    const clipped = s.clipNorm !== null && clipByGlobalNorm(g, gradNorm, s.clipNorm);
    // no kernels: the optimizer's own element-wise loop (optim/optimizer.ts updateElements)
    optimizerStep(s.optimizer, this.opt, task.params, g, this.update, undefined, false, lr);
    return { loss, examples, gradNorm, clipped };
  }

  /** g[from, to) ← g/divisor + λ·θ (kernels.reduceGrad); returns its Σg². */
  private tensor(g: Float, params: Float, from: number, to: number, divisor: number): number {
    this.kernels.reduceGrad(to - from, g.subarray(from, to), params.subarray(from, to), divisor, this.settings.weightDecay, this.out);
    return this.out[0]!;
  }
}
