/**
 * The layers against PyTorch in float64 (test/fixtures/cnn-reference.json, written by
 * scripts/make-cnn-reference.py with torch.nn.functional): the summed cross-entropy and every
 * dJdW / dJdWb, for conv (ragged input, stride 2, padding), max and avg pooling, dropout with
 * gradsync's mask, and a LeNet-like stack, to 1e-10.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { Model } from '../../../src/model/model';
import type { ModelSpec } from '../../../src/model/spec';
import { referenceKernels } from '../../../src/tensor/reference-kernels';
import { nativeIsas, nativeKernels } from '../../../src/tensor/fast/native';
import { assertClose } from '../../helpers/close';
import { fixture } from '../../helpers/paths';

interface TorchCase {
  spec: ModelSpec;
  rows: number;
  params: number[];
  x: number[];
  y: number[];
  loss: number;
  grads: { dJdW: number[]; dJdWb: number[] }[];
  dropout?: { step: number; order: number[] };
}

const ref = JSON.parse(fs.readFileSync(fixture('cnn-reference.json'), 'utf8')) as Record<string, TorchCase> & { torch: string };

describe(`layers against PyTorch ${ref.torch} in float64 (issue 23)`, () => {
  for (const name of ['conv', 'maxpool', 'avgpool', 'dropout', 'lenet']) {
    const c = ref[name]!;
    const kernels = [
      referenceKernels('float64'),
      ...nativeIsas()
        .slice(0, 1)
        .map((isa) => nativeKernels(isa, 'float64')),
    ];
    for (const k of kernels) {
      it(`${name} (${k.id}): the loss and every dJdW, dJdWb agree to 1e-10`, () => {
        const m = new Model(c.spec, k, c.rows);
        const params = Float64Array.from(c.params);
        assert.equal(params.length, m.layout.size, 'the fixture has the layout PyTorch uses');
        m.input().set(c.x);
        m.target().set(c.y);
        const ctx = c.dropout ? { train: { step: c.dropout.step, order: Uint32Array.from(c.dropout.order), from: 0 } } : {};
        m.forward(params, c.rows, ctx);
        const grads = new Float64Array(m.layout.size);
        const loss = m.backward(params, c.rows, grads);
        assertClose([loss], [c.loss], { rtol: 1e-10, atol: 1e-12, label: 'loss' });
        m.layout.layers.forEach((s, i) => {
          assertClose(grads.subarray(s.w, s.w + s.wSize), c.grads[i]!.dJdW, { rtol: 1e-10, atol: 1e-12, label: `dJdW[${s.layer}]` });
          assertClose(grads.subarray(s.b, s.b + s.bSize), c.grads[i]!.dJdWb, { rtol: 1e-10, atol: 1e-12, label: `dJdWb[${s.layer}]` });
        });
      });
    }
  }

  it('the dropout case drops something (its reference is not the identity)', () => {
    const c = ref.dropout!;
    const m = new Model(c.spec, referenceKernels('float64'), c.rows);
    m.input().set(c.x);
    const p = Float64Array.from(c.params);
    const train = Array.from(
      m.forward(p, c.rows, { train: { step: c.dropout!.step, order: Uint32Array.from(c.dropout!.order), from: 0 } }),
    );
    const evalOut = Array.from(m.forward(p, c.rows));
    assert.notDeepEqual(train, evalOut);
  });
});
