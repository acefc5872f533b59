import assert from 'node:assert/strict';
import { Model } from '../../src/model/model';
import { initParams } from '../../src/model/params';
import type { ModelSpec } from '../../src/model/spec';
import { layerRecords } from '../../src/observe/grad-stats';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import { Rng } from '../../src/tensor/rng';
import { layerGeometryOf } from '../../src/train/setup';

describe('per-layer statistics of a CNN (issue 23)', () => {
  const spec: ModelSpec = {
    inputs: 2 * 5 * 5,
    input: [2, 5, 5],
    layers: [
      { type: 'conv2d', filters: 3, kernel: 3, padding: 1, activation: 'relu' },
      { type: 'maxpool2d', size: 5 },
      { type: 'flatten' },
      { units: 4, activation: 'tanh' },
      { units: 2, activation: 'softmax' },
    ],
    loss: 'cross-entropy',
    dtype: 'float64',
  };

  it('has a row per layer with parameters, named by its index in model.layers; dead counts channels, saturation (channel, position, example) triples', () => {
    const rows = 3;
    const m = new Model(spec, referenceKernels('float64'), rows);
    const p = new Float64Array(m.layout.size);
    initParams(m.layout, { scheme: 'glorot-uniform', gain: 4 }, new Rng(3), p);
    const conv = m.layout.layers[0]!;
    // channel 1 is dead: every weight and its bias negative on non-negative inputs
    for (let j = 0; j < 18; j++) p[conv.w + 18 + j] = -1;
    p[conv.b + 1] = -1;
    const rng = new Rng(4);
    m.input().set(Float64Array.from({ length: rows * spec.inputs }, () => rng.uniform(0, 1)));
    m.target().set([1, 0, 0, 1, 1, 0]);
    m.forward(p, rows);
    const grads = new Float64Array(m.layout.size);
    const stats = new Float64Array(m.statsLayout.size);
    m.backward(p, rows, grads, stats);
    const geo = layerGeometryOf(spec, m.layout);
    assert.deepEqual(
      geo.map((g) => [g.layer, g.units, g.positions]),
      [
        [0, 3, 25],
        [3, 4, 1],
        [4, 2, 1],
      ],
    );
    // the counts, by hand: channel j's positions with z > 0 over every example (z is (rows, F, P))
    const z = (m.layers[0] as unknown as { z: Float64Array }).z;
    for (let f = 0; f < 3; f++) {
      let pos = 0;
      for (let n = 0; n < rows; n++) for (let q = 0; q < 25; q++) if (z[(n * 3 + f) * 25 + q]! > 0) pos++;
      assert.equal(stats[1 + f], pos, `channel ${f}`);
    }
    assert.equal(stats[2], 0, 'channel 1 never fires');
    const norms = new Float64Array(4 * 3).fill(1);
    const recs = layerRecords(geo, norms, stats, rows);
    assert.deepEqual(
      recs.map((r) => r.layer),
      [0, 3, 4],
    );
    assert.equal(recs[0]!.dead, 1 / 3);
    // tanh layer: saturated units over 4 units × 1 position × 3 examples
    assert.equal(recs[1]!.saturated, stats[m.statsLayout.offsets[1]!]! / 12);
  });
});
