import assert from 'node:assert/strict';
import { Model } from '../../../src/model/model';
import { initParams, layoutOf } from '../../../src/model/params';
import type { LayerSpec, ModelSpec } from '../../../src/model/spec';
import { alloc, type DType } from '../../../src/tensor/dtype';
import { nativeIsas, nativeKernels } from '../../../src/tensor/fast/native';
import { wasmKernels } from '../../../src/tensor/fast/wasm';
import { wasmLoadError } from '../../../src/tensor/fast/wasm-module';
import { referenceKernels } from '../../../src/tensor/reference-kernels';
import type { KernelSet } from '../../../src/tensor/kernels';
import { Rng } from '../../../src/tensor/rng';
import { assertSameBits, specials } from '../../helpers/kernel-data';

/** Every KernelSet this machine can run besides the reference, per dtype (native builds, WebAssembly). */
function fastSets(dtype: DType): KernelSet[] {
  const sets = nativeIsas().map((isa) => nativeKernels(isa, dtype));
  if (wasmLoadError() === null) sets.push(wasmKernels(dtype));
  return sets;
}

const STACKS: [string, [number, number, number], LayerSpec[]][] = [
  [
    'ragged 9×7, conv stride 2 padding 2, maxpool 2 stride 1, conv 1×1, avgpool 2 stride 1, dropout',
    [3, 9, 7],
    [
      { type: 'conv2d', filters: 5, kernel: 3, stride: 2, padding: 2, activation: 'relu' },
      { type: 'maxpool2d', size: 2, stride: 1 },
      { type: 'conv2d', filters: 7, kernel: 1, activation: 'tanh' },
      { type: 'avgpool2d', size: 2, stride: 1 },
      { type: 'flatten' },
      { type: 'dropout', rate: 0.3, seed: 11 },
      { units: 17, activation: 'sigmoid' },
    ],
  ],
  [
    'LeNet-like: conv 5×5 padding 2, maxpool 2, conv 5×5 padding 2, maxpool 2',
    [1, 12, 12],
    [
      { type: 'conv2d', filters: 6, kernel: 5, padding: 2, activation: 'relu' },
      { type: 'maxpool2d', size: 2 },
      { type: 'conv2d', filters: 9, kernel: 5, padding: 2, activation: 'relu' },
      { type: 'maxpool2d', size: 2 },
      { type: 'flatten' },
      { units: 13, activation: 'relu' },
    ],
  ],
];

/** Forward + backward of one micro-batch; the output, the gradients and the statistics. */
function run(spec: ModelSpec, k: KernelSet, params: ArrayLike<number>, x: ArrayLike<number>, y: ArrayLike<number>, rows: number) {
  const m = new Model(spec, k, rows);
  const p = alloc(spec.dtype, m.layout.size);
  p.set(params);
  m.input().set(x);
  m.target().set(y);
  const out = m.forward(p, rows, { train: { step: 3, order: Uint32Array.from({ length: rows }, (_, i) => 100 + i), from: 0 } }).slice();
  const grads = alloc(spec.dtype, m.layout.size);
  const stats = new Float64Array(m.statsLayout.size);
  const loss = m.backward(p, rows, grads, stats, 'local');
  return { out, grads, stats, loss, bad: m.lastBad };
}

describe('convolutional models compute the same bits on every kernel set (reference, native builds, WebAssembly)', function () {
  this.timeout(120000);
  for (const dtype of ['float32', 'float64'] as const) {
    for (const [name, input, layers] of STACKS) {
      for (const withSpecials of [false, true]) {
        it(`${dtype}, ${name}${withSpecials ? ', inputs with ±0, ±Inf, NaN, subnormals and huge values' : ''}`, function () {
          const sets = fastSets(dtype);
          if (sets.length === 0) this.skip();
          const spec: ModelSpec = {
            inputs: input[0] * input[1] * input[2],
            input,
            layers: [...layers, { units: 4, activation: 'softmax' }],
            loss: 'cross-entropy',
            dtype,
          };
          const rng = new Rng(21);
          const lay = layoutOf(spec);
          const params = new Float64Array(lay.size);
          initParams(lay, { scheme: 'he-uniform' }, rng, params);
          const rows = 5;
          const sp = specials(dtype);
          const x = Float64Array.from({ length: rows * spec.inputs }, (_, i) =>
            withSpecials && i % 13 === 0 ? sp[(i / 13) % sp.length]! : rng.uniform(-2, 2),
          );
          const y = new Float64Array(rows * 4);
          for (let r = 0; r < rows; r++) y[r * 4 + (r % 4)] = 1;
          const want = run(spec, referenceKernels(dtype), params, x, y, rows);
          if (!withSpecials)
            assert.ok(
              want.grads.every((v) => Number.isFinite(v)),
              'the plain case is finite',
            );
          for (const k of sets) {
            const got = run(spec, k, params, x, y, rows);
            assertSameBits(got.out, want.out, `${k.id} output`);
            assertSameBits(got.grads, want.grads, `${k.id} gradients`);
            assert.deepEqual(Array.from(got.stats), Array.from(want.stats), `${k.id} statistics`);
            assert.ok(
              Object.is(got.loss, want.loss) || (Number.isNaN(got.loss) && Number.isNaN(want.loss)),
              `${k.id} loss ${got.loss} vs ${want.loss}`,
            );
            assert.equal(got.bad, want.bad, `${k.id} first non-finite gradient`);
          }
        });
      }
    }
  }
});
