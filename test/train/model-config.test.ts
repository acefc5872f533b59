import assert from 'node:assert/strict';
import { validate } from '../../src/config/validate';
import type { RunConfig } from '../../src/config';
import { GradsyncError } from '../../src/errors';
import { modelSpecOf } from '../../src/train/setup';

function configError(f: () => unknown, field: string, message: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof GradsyncError, String(e));
    assert.equal(e.code, 'GS_ERR_CONFIG');
    assert.ok(e.message.startsWith(`config field "${field}": `), e.message);
    assert.match(e.message, message);
    return true;
  });
}

const cnn = (layers: unknown[], input: unknown = [1, 8, 8]): RunConfig =>
  validate({ model: { input, layers: [...layers, { type: 'dense', units: 10, activation: 'softmax' }] } } as never);

describe('model config: layer kinds and shapes (issue 23)', () => {
  it('a layer without type is dense, and is written back without one (MLP configs unchanged)', () => {
    const c = validate({
      model: {
        layers: [
          { units: 5, activation: 'relu' },
          { type: 'dense', units: 10, activation: 'softmax' },
        ],
      },
    } as never);
    assert.deepEqual(c.model.layers, [
      { units: 5, activation: 'relu' },
      { units: 10, activation: 'softmax' },
    ]);
    assert.equal(c.model.input, null);
  });

  it("reads every kind's fields, with PyTorch's defaults left out (stride 1, padding 0, pool stride = size)", () => {
    const c = cnn([
      { type: 'conv2d', filters: 4, kernel: 3, padding: 1, activation: 'relu' },
      { type: 'maxpool2d', size: 2 },
      { type: 'avgpool2d', size: 2, stride: 2 },
      { type: 'flatten' },
      { type: 'dropout', rate: 0.5 },
    ]);
    assert.deepEqual(c.model.layers.slice(0, 5), [
      { type: 'conv2d', filters: 4, kernel: 3, padding: 1, activation: 'relu' },
      { type: 'maxpool2d', size: 2 },
      { type: 'avgpool2d', size: 2, stride: 2 },
      { type: 'flatten' },
      { type: 'dropout', rate: 0.5 },
    ]);
    const spec = modelSpecOf(c, 64, 10);
    assert.deepEqual(spec.input, [1, 8, 8]);
    // dropout takes the run's seed: its mask is a function of (seed, step, example, layer)
    assert.deepEqual(spec.layers[4], { type: 'dropout', rate: 0.5, seed: 1 });
  });

  it('names the field of a bad layer: unknown type, unknown key, a softmax conv, a dropout rate of 1', () => {
    configError(
      () => cnn([{ type: 'conv3d' }]),
      'model.layers[0].type',
      /must be one of "dense", "conv2d", "maxpool2d", "avgpool2d", "flatten", "dropout", got "conv3d"/,
    );
    configError(
      () => cnn([{ type: 'maxpool2d', size: 2, kernel: 2 }]),
      'model.layers[0].kernel',
      /unknown key \(allowed: type, size, stride\)/,
    );
    configError(
      () => cnn([{ type: 'conv2d', filters: 2, kernel: 3, activation: 'softmax' }]),
      'model.layers[0].activation',
      /got "softmax"/,
    );
    configError(() => cnn([{ type: 'dropout', rate: 1 }]), 'model.layers[0].rate', /must be < 1, got 1/);
    configError(() => cnn([{ type: 'conv2d', filters: 0, kernel: 3, activation: 'relu' }]), 'model.layers[0].filters', /≥ 1/);
    configError(() => cnn([], [1, 8]), 'model.input', /must be \[C, H, W\] or a width/);
    configError(
      () => validate({ model: { layers: [{ units: 5, activation: 'relu' }, { type: 'flatten' }] } } as never),
      'model.layers[1]',
      /the last layer must be dense/,
    );
  });

  it('a shape that does not fit is a config error naming the layer, its input shape and what would fit', () => {
    configError(
      () => modelSpecOf(cnn([{ type: 'conv2d', filters: 2, kernel: 9, activation: 'relu' }, { type: 'flatten' }]), 64, 10),
      'model.layers[0]',
      /\(conv2d\) on input \[1, 8, 8\]: kernel 9 is larger than the padded input 8×8; use kernel ≤ 8 or more padding/,
    );
    configError(
      () => modelSpecOf(cnn([{ type: 'conv2d', filters: 2, kernel: 3, activation: 'relu' }]), 64, 10),
      'model.layers[1]',
      /\(dense\) on input \[2, 6, 6\]: a dense layer needs a flat input; put a \{ "type": "flatten" \} before it \(it would see \[72\]\)/,
    );
    configError(
      () =>
        modelSpecOf(
          cnn([{ type: 'conv2d', filters: 2, kernel: 4, activation: 'relu' }, { type: 'maxpool2d', size: 2 }, { type: 'flatten' }]),
          64,
          10,
        ),
      'model.layers[1]',
      /\(maxpool2d\) on input \[2, 5, 5\]: window 2 with stride 2 does not tile 5×5 .*sizes that tile with stride = size: 1, 5/,
    );
    configError(
      () =>
        modelSpecOf(cnn([{ type: 'flatten' }, { type: 'conv2d', filters: 2, kernel: 3, activation: 'relu' }, { type: 'flatten' }]), 64, 10),
      'model.layers[1]',
      /\(conv2d\) on input \[64\]: needs an image input \[C, H, W\]/,
    );
    configError(
      () => modelSpecOf(cnn([{ type: 'flatten' }], [3, 8, 8]), 64, 10),
      'model.input',
      /\[3, 8, 8\] holds 192 values but the data has 64 features/,
    );
  });

  it("without model.input an image model takes the data's own shape, or says it needs one", () => {
    const noInput = (source: string): RunConfig =>
      validate({
        data: { source, ...(source === 'csv' ? { path: 'x.csv' } : {}) },
        model: { layers: [{ type: 'flatten' }, { units: 10, activation: 'softmax' }] },
      } as never);
    assert.deepEqual(modelSpecOf(noInput('digits'), 64, 10, [1, 8, 8]).input, [1, 8, 8]);
    configError(
      () => modelSpecOf(noInput('csv'), 64, 10),
      'model.input',
      /the model has image layers but the data has no image shape; give model.input as \[C, H, W\] with C·H·W = 64/,
    );
  });

  it('model.init "values" takes one {W, b} per layer with parameters', () => {
    const layers = [
      { type: 'conv2d', filters: 1, kernel: 8, activation: 'linear' },
      { type: 'flatten' },
      { units: 10, activation: 'softmax' },
    ];
    const W = { W: new Array(64).fill(0), b: [0] };
    const D = { W: new Array(10).fill(0), b: new Array(10).fill(0) };
    assert.doesNotThrow(() => validate({ model: { input: [1, 8, 8], layers, init: { scheme: 'values', layers: [W, D] } } } as never));
    configError(
      () => validate({ model: { input: [1, 8, 8], layers, init: { scheme: 'values', layers: [W, D, D] } } } as never),
      'model.init.layers',
      /has 3 entries, model.layers has 2 layers with parameters \(dense, conv2d\)/,
    );
  });
});
