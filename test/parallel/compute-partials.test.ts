/**
 * PartialComputer: the yielding form (the main thread, with remote nodes in the step) gives the
 * same bits as the synchronous walk, for every node of trees of ragged sizes; and a computer
 * working in fixed slots (a pool thread's shared memory) refuses to allocate past them.
 */
import assert from 'node:assert/strict';
import { loadDigits } from '../../src/data/datasets';
import { statsLayoutOf } from '../../src/model/mlp';
import { layoutOf } from '../../src/model/params';
import type { ModelSpec } from '../../src/model/spec';
import { PartialComputer, leavesOf } from '../../src/parallel/compute-partials';
import { newPartial } from '../../src/parallel/partial';
import { ReductionTree } from '../../src/parallel/tree';
import { alloc } from '../../src/tensor/dtype';
import { referenceKernels } from '../../src/tensor/kernels';
import { Rng } from '../../src/tensor/rng';
import { assertBitEqual } from '../helpers/close';

const spec: ModelSpec = { inputs: 64, layers: [{ units: 12, activation: 'tanh' }, { units: 10, activation: 'softmax' }], loss: 'cross-entropy', dtype: 'float32' };

describe('PartialComputer', () => {
  const data = loadDigits({ dtype: 'float32' });
  const params = alloc('float32', layoutOf(spec).size);
  const rng = new Rng(5);
  for (let i = 0; i < params.length; i++) params[i] = rng.uniform(-0.3, 0.3);
  const order = Uint32Array.from({ length: data.n }, (_, i) => (i * 37) % data.n);

  it('computeNodeYielding equals computeNode bit for bit on every node (ragged trees), pausing once per leaf', async () => {
    for (const [start, end, mb] of [[0, 64, 8], [5, 58, 7], [100, 103, 1], [0, 96, 32], [7, 7 + 45, 4]] as const) {
      const batch = { order, start, end, microBatch: mb };
      const tree = new ReductionTree(leavesOf(batch));
      const a = new PartialComputer(spec, referenceKernels('float32'), data, mb);
      const b = new PartialComputer(spec, referenceKernels('float32'), data, mb);
      for (let h = 0; h <= tree.height; h++) {
        for (let i = 0; tree.exists({ h, i }); i++) {
          const want = a.computeNode(params, batch, { h, i });
          let pauses = 0;
          const got = await b.computeNodeYielding(params, batch, { h, i }, async () => { pauses++; });
          const [lo, hi] = tree.range({ h, i });
          assert.equal(pauses, hi - lo);
          assertBitEqual(got.grads, want.grads, `node ${h}:${i} of [${start}, ${end}) mb ${mb}`);
          assertBitEqual(got.stats, want.stats, 'stats');
          assert.equal(got.lossSum, want.lossSum);
          assert.equal(got.count, want.count);
          assert.equal(got.bad, want.bad);
          a.release(want);
          b.release(got);
        }
      }
    }
  });

  it('a computer on fixed slots uses them and refuses a node that needs more', () => {
    const size = layoutOf(spec).size;
    const stats = statsLayoutOf(spec).size;
    const slots = [newPartial('float32', size, stats), newPartial('float32', size, stats)];
    const c = new PartialComputer(spec, referenceKernels('float32'), data, 4, slots);
    const batch = { order, start: 0, end: 16, microBatch: 4 };
    // a height-1 node holds its left leaf while computing the right one: two slots
    const p = c.computeNode(params, batch, { h: 1, i: 0 });
    assert.ok(slots.includes(p));
    c.release(p);
    // a height-2 node holds an accumulator, a left leaf and a right leaf at once: three
    assert.throws(() => c.computeNode(params, batch, { h: 2, i: 0 }), { name: 'RangeError', message: /every partial slot is in use/ });
  });
});
