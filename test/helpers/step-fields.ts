/**
 * step-fields.ts — a whole step record's fields (observe/step-json.ts StepFields), keys in the
 * order train/loop.ts builds them, with the given fields put in their places (new optional
 * ones, skipped and nonFiniteExamples, after the rest, as the loop adds them).
 */

import type { StepFields } from '../../src/observe/step-json';

export function stepFields(over: Partial<StepFields> = {}): StepFields {
  const base: StepFields = {
    step: 7,
    epoch: 0,
    loss: 0.5802933692140444,
    examples: 20,
    lr: 0.07,
    gradNorm: 0.7606541355598634,
    clipped: false,
    layers: [
      {
        layer: 0,
        activation: 'tanh',
        dJdW: 0.29367280556017394,
        dJdWb: 0.7016772742641302,
        W: 0.5,
        updateRatio: 0.041114192778424354,
        saturated: 0,
        dead: 0,
      },
    ],
    throughput: 9441.39513607654,
    stepMs: 2.118,
    split: { computeMs: 1.166, handoffMs: 0, reduceMs: 0.425, updateMs: 0.224, recordMs: 0 },
    executors: [{ id: 'main', kind: 'main', leaves: [0, 1], examples: 20, computeMs: 0.855 }],
    diagnosis: { states: ['ok'] },
  };
  return { ...base, ...over };
}
