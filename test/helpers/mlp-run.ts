/**
 * One forward and backward of an MLP of the workload's shape (784-256-128-10, tanh, sigmoid,
 * softmax cross-entropy) on seeded random weights and inputs: what a kernel set computes for a
 * whole model, to compare with the reference bit for bit.
 */
import { Model } from '../../src/model/model';
import type { ModelSpec } from '../../src/model/spec';
import { alloc, type DType, type Float } from '../../src/tensor/dtype';
import type { KernelSet } from '../../src/tensor/kernels';
import { Rng } from '../../src/tensor/rng';

export function workloadPass(ks: KernelSet, dtype: DType, seed: number, rows = 37): { loss: number; grads: Float } {
  const spec: ModelSpec = {
    inputs: 784,
    layers: [
      { units: 256, activation: 'tanh' },
      { units: 128, activation: 'sigmoid' },
      { units: 10, activation: 'softmax' },
    ],
    loss: 'cross-entropy',
    dtype,
  };
  const mlp = new Model(spec, ks, rows);
  const rng = new Rng(seed);
  const params = alloc(dtype, mlp.layout.size);
  for (let i = 0; i < params.length; i++) params[i] = rng.uniform(-0.1, 0.1);
  const x = mlp.input();
  for (let i = 0; i < rows * 784; i++) x[i] = rng.nextFloat();
  const y = mlp.target();
  for (let r = 0; r < rows; r++) y[r * 10 + rng.nextInt(10)] = 1;
  mlp.forward(params, rows);
  const grads = alloc(dtype, mlp.layout.size);
  const loss = mlp.backward(params, rows, grads);
  return { loss, grads };
}
