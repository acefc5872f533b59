/**
 * records.ts — synthetic step records for the observe tests (a helper, not a test).
 */
import type { DiagnosisContext } from '../../src/observe/diagnose-options';
import type { LayerRecord, StepRecord } from '../../src/observe/schema';

export type StepInput = Omit<StepRecord, 'diagnosis'>;

export function layer(i: number, activation: string, o: Partial<LayerRecord> = {}): LayerRecord {
  return { layer: i, activation, dJdW: 1e-2, dJdWb: 1e-3, W: 1, updateRatio: 1e-3, saturated: 0.02, dead: 0, ...o };
}

export function stepRecord(step: number, o: { loss: number; gradNorm: number; layers: LayerRecord[] } & Partial<StepInput>): StepInput {
  return {
    msg: 'step',
    schema: 1,
    run: 'test-run',
    step,
    epoch: 0,
    examples: 32,
    lr: 0.1,
    clipped: false,
    throughput: 1000,
    stepMs: 32,
    executors: [{ id: 'main', kind: 'main', leaves: [0, 2], examples: 32, computeMs: 1 }],
    ...o,
  };
}

/** A tanh hidden layer and a softmax output, targets one-hot. */
export const MLP_CTX: DiagnosisContext = {
  outputActivation: 'softmax',
  loss: 'cross-entropy',
  targetMin: 0,
  targetMax: 1,
  layerActivations: ['tanh', 'softmax'],
};

/** A healthy run: loss falling steadily, gradients of ordinary size in every layer. */
export function healthy(step: number, acts = ['tanh', 'softmax']): StepInput {
  const loss = 0.1 + 2.2 * Math.exp(-step / 400);
  const g = 0.5 + 0.3 * Math.sin(step / 7);
  return stepRecord(step, {
    loss,
    gradNorm: g,
    layers: acts.map((a, i) =>
      layer(i, a, { dJdW: g * (0.3 + 0.1 * i), dJdWb: g * 0.05, updateRatio: 2e-3, saturated: a === 'tanh' || a === 'sigmoid' ? 0.05 : 0 }),
    ),
  });
}
