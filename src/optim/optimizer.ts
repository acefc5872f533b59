/**
 * optimizer.ts — SGD (the original), momentum and Adam over one flat parameter buffer.
 *
 * Each step writes the update u into `update` and applies p ← p − u, so that the caller can
 * report ‖ΔW‖ without a second copy of the weights. The formulas are PyTorch's:
 *   sgd       u = lr·g                                   (the original: W −= lr·dJdW)
 *   momentum  v = μ·v + g;  u = lr·v  (nesterov: u = lr·(g + μ·v))
 *   adam      m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;  m̂ = m/(1−β1ᵗ);  v̂ = v/(1−β2ᵗ);
 *             u = lr·m̂/(√v̂ + ε)
 * β1ᵗ and β2ᵗ are kept as running products (no Math.pow, whose last bit is engine-dependent).
 * lr is the step's own (StepScalars.lr: a schedule's, optim/schedule.ts), spec.lr by default.
 * Arithmetic is float64; storing into a Float32Array rounds once.
 * Not here: weight decay and clipping (clip.ts), reduction (train/step.ts).
 */

import { alloc, type DType, type Float } from '../tensor/dtype';
import type { KernelSet } from '../tensor/kernels';
import { momentumUpdate } from '../tensor/momentum';

export type OptimizerSpec =
  | { kind: 'sgd'; lr: number }
  | { kind: 'momentum'; lr: number; momentum: number; nesterov: boolean }
  | { kind: 'adam'; lr: number; beta1: number; beta2: number; eps: number };

/** Serialisable state: scalars here, buffers in the same layout as the parameters. */
export interface OptimizerState {
  kind: OptimizerSpec['kind'];
  /** Steps taken. */
  t: number;
  /** adam: running β1ᵗ, β2ᵗ. */
  beta1Pow: number;
  beta2Pow: number;
  /** momentum: [v]; adam: [m, v]; sgd: []. */
  buffers: Float[];
}

export function newOptimizerState(spec: OptimizerSpec, dtype: DType, size: number, shared = false): OptimizerState {
  const n = spec.kind === 'sgd' ? 0 : spec.kind === 'momentum' ? 1 : 2;
  return { kind: spec.kind, t: 0, beta1Pow: 1, beta2Pow: 1, buffers: Array.from({ length: n }, () => alloc(dtype, size, shared)) };
}

/** What one step's update needs besides the buffers, computed once per step (stepScalars). */
export interface StepScalars {
  /** This step's learning rate. */
  lr: number;
  /** Momentum: this is the first step (v = g). */
  first: boolean;
  /** Adam: β1ᵗ, β2ᵗ of this step, and 1 − each. */
  b1p: number;
  b2p: number;
  c1: number;
  c2: number;
}

/** The scalars of the state's next step, at learning rate `lr`; the state itself changes only at commitStep(). */
export function stepScalars(spec: OptimizerSpec, state: OptimizerState, lr = spec.lr): StepScalars {
  const b1p = spec.kind === 'adam' ? state.beta1Pow * spec.beta1 : state.beta1Pow;
  const b2p = spec.kind === 'adam' ? state.beta2Pow * spec.beta2 : state.beta2Pow;
  return { lr, first: state.t === 0, b1p, b2p, c1: 1 - b1p, c2: 1 - b2p };
}

/** Counts the step in the state (t, and Adam's running β products). */
export function commitStep(state: OptimizerState, sc: StepScalars): void {
  state.t += 1;
  state.beta1Pow = sc.b1p;
  state.beta2Pow = sc.b2p;
}

/**
 * One step over the elements the arrays hold (each the same range of its tensor: the whole, or a
 * unit of the step's tail shared by threads, train/step.ts): params ← params − update, update
 * written, the state's buffers (`s0`: momentum's v, Adam's m; `s1`: Adam's v) advanced.
 * Element-wise, so any split into ranges gives the bits of one call. Momentum runs through
 * `kernels`' momentumUpdate when given (the same bits as its TypeScript oracle, tensor/momentum.ts).
 */
export function updateElements(
  spec: OptimizerSpec,
  sc: StepScalars,
  params: Float,
  grads: Float,
  update: Float,
  s0?: Float,
  s1?: Float,
  kernels?: KernelSet,
): void {
  const lr = sc.lr;
  const n = params.length;
  switch (spec.kind) {
    case 'sgd':
      for (let i = 0; i < n; i++) {
        update[i] = lr * grads[i]!;
        params[i] = params[i]! - update[i]!;
      }
      break;
    case 'momentum':
      // PyTorch: the first step sets v = g
      (kernels?.momentumUpdate ?? momentumUpdate)(n, lr, spec.momentum, spec.nesterov, sc.first, grads, s0!, params, update);
      break;
    case 'adam': {
      const m = s0!;
      const v = s1!;
      const { beta1: b1, beta2: b2, eps } = spec;
      const { c1, c2 } = sc;
      for (let i = 0; i < n; i++) {
        const g = grads[i]!;
        m[i] = b1 * m[i]! + (1 - b1) * g;
        v[i] = b2 * v[i]! + (1 - b2) * (g * g);
        const mHat = m[i]! / c1;
        const vHat = v[i]! / c2;
        update[i] = (lr * mHat) / (Math.sqrt(vHat) + eps);
        params[i] = params[i]! - update[i]!;
      }
      break;
    }
  }
}

/**
 * One optimizer step: params ← params − update, update written into `update`. SGD and
 * momentum run through the kernels' vector passes when `kernels` is given (the same bits, vectorised);
 * `shared`: other threads read the params next (KernelSet.sgdUpdateShared); `lr`: this step's rate.
 */
export function optimizerStep(
  spec: OptimizerSpec,
  state: OptimizerState,
  params: Float,
  grads: Float,
  update: Float,
  kernels?: KernelSet,
  shared = false,
  lr = spec.lr,
): void {
  if (state.kind !== spec.kind) throw new TypeError(`optimizer state is ${state.kind}, spec is ${spec.kind}`);
  const sc = stepScalars(spec, state, lr);
  if (spec.kind === 'sgd' && kernels) (shared ? kernels.sgdUpdateShared : kernels.sgdUpdate)(params.length, lr, grads, params, update);
  else updateElements(spec, sc, params, grads, update, state.buffers[0], state.buffers[1], kernels);
  commitStep(state, sc);
}
