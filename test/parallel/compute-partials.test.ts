/**
 * PartialComputer: the yielding form (the main thread, with remote nodes in the step) gives the
 * same bits as the synchronous walk, for every node of trees of ragged sizes; and a computer
 * working in fixed slots (a pool thread's shared memory) refuses to allocate past them; a leaf
 * computed straight into a shared slot (a pool thread's partial) is computeNode's, bit for bit.
 */
import assert from 'node:assert/strict';
import { loadDigits } from '../../src/data/datasets';
import { statsLayoutOf } from '../../src/model/model';
import { layoutOf } from '../../src/model/params';
import type { ModelSpec } from '../../src/model/spec';
import { PartialComputer, leavesOf } from '../../src/parallel/compute-partials';
import { newPartial } from '../../src/parallel/partial';
import { ReductionTree } from '../../src/parallel/tree';
import { alloc } from '../../src/tensor/dtype';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import type { KernelSet } from '../../src/tensor/kernels';
import { nativeIsas, nativeKernels } from '../../src/tensor/fast/native';
import { lineOffset } from '../../src/tensor/select';
import { wasmKernels } from '../../src/tensor/fast/wasm';
import { wasmLoadError } from '../../src/tensor/fast/wasm-module';
import { slotBytes, slotPartial } from '../../src/parallel/pool-protocol';
import { Rng } from '../../src/tensor/rng';
import { assertBitEqual } from '../helpers/close';

const spec: ModelSpec = {
  inputs: 64,
  layers: [
    { units: 12, activation: 'tanh' },
    { units: 10, activation: 'softmax' },
  ],
  loss: 'cross-entropy',
  dtype: 'float32',
};

describe('PartialComputer', () => {
  const data = loadDigits({ dtype: 'float32' });
  const params = alloc('float32', layoutOf(spec).size);
  const rng = new Rng(5);
  for (let i = 0; i < params.length; i++) params[i] = rng.uniform(-0.3, 0.3);
  const order = Uint32Array.from({ length: data.n }, (_, i) => (i * 37) % data.n);

  it('computeNodeYielding equals computeNode bit for bit on every node (ragged trees), pausing once per leaf', async () => {
    for (const [start, end, mb] of [
      [0, 64, 8],
      [5, 58, 7],
      [100, 103, 1],
      [0, 96, 32],
      [7, 7 + 45, 4],
    ] as const) {
      const batch = { step: 1, order, start, end, microBatch: mb };
      const tree = new ReductionTree(leavesOf(batch));
      const a = new PartialComputer(spec, referenceKernels('float32'), data, mb);
      const b = new PartialComputer(spec, referenceKernels('float32'), data, mb);
      for (let h = 0; h <= tree.height; h++) {
        for (let i = 0; tree.exists({ h, i }); i++) {
          const want = a.computeNode(params, batch, { h, i });
          let pauses = 0;
          const got = await b.computeNodeYielding(params, batch, { h, i }, async () => {
            pauses++;
          });
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

  it("a shared slot's gradients start on a cache line (where gemmTNCheck streams whole lines), in every slot", function () {
    if (nativeIsas().length === 0) this.skip();
    for (const dtype of ['float32', 'float64'] as const) {
      for (const [statsSize, paramCount] of [
        [0, 1],
        [397, 235146],
        [13, 7],
        [1, 1000],
      ] as const) {
        for (let i = 0; i < 4; i++) {
          const p = slotPartial(new SharedArrayBuffer(slotBytes(dtype, statsSize, paramCount)), dtype, statsSize, paramCount);
          assert.equal(lineOffset(p.grads), 0, `${dtype} stats ${statsSize} params ${paramCount}`);
          assert.equal(p.grads.length, paramCount);
          assert.equal(p.stats.length, statsSize);
          assert.ok(p.grads.byteOffset + p.grads.byteLength <= p.grads.buffer.byteLength);
        }
      }
    }
  });

  describe('computeLeafShared: a leaf straight into a shared slot', () => {
    // wide enough that the first layer's dJdW has whole tiles of whole lines
    const wide: ModelSpec = {
      inputs: 64,
      layers: [
        { units: 32, activation: 'tanh' },
        { units: 10, activation: 'softmax' },
      ],
      loss: 'cross-entropy',
      dtype: 'float32',
    };
    const wideParams = alloc('float32', layoutOf(wide).size);
    for (let i = 0; i < wideParams.length; i++) wideParams[i] = rng.uniform(-0.3, 0.3);
    // the same data with one input of example order[13] infinite: a non-finite leaf
    const badX = data.x.slice();
    badX[order[13]! * 64 + 9] = Infinity;
    const bad = { x: badX, y: data.y };
    const kernelSets = (): KernelSet[] => [
      referenceKernels('float32'),
      ...nativeIsas().map((isa) => nativeKernels(isa, 'float32')),
      ...(wasmLoadError() === null ? [wasmKernels('float32')] : []),
    ];
    for (const [name, source] of [
      ['finite', data],
      ['one infinite input', bad],
    ] as const) {
      it(`writes computeNode's bits, stats and scalars, and its first non-finite index (${name} data), with every kernel set; computeNode's leaf index is a scan's`, () => {
        const batch = { step: 1, order, start: 3, end: 3 + 40, microBatch: 8 };
        for (const ks of kernelSets()) {
          const a = new PartialComputer(wide, ks, source, 8);
          const b = new PartialComputer(wide, ks, source, 8);
          const size = layoutOf(wide).size;
          const stats = statsLayoutOf(wide).size;
          const slot = slotPartial(new SharedArrayBuffer(slotBytes('float32', stats, size)), 'float32', stats, size);
          let nonFinite = 0;
          for (let i = 0; i < leavesOf(batch); i++) {
            const want = a.computeNode(wideParams, batch, { h: 0, i });
            // computeNode's leaf is checked as it is stored too: against a scan
            assert.equal(
              want.bad,
              referenceKernels('float32').firstNonFinite(want.grads.length, want.grads),
              `${ks.id} leaf ${i} (${name}): computeNode's index`,
            );
            slot.grads.fill(NaN); // stale contents must not leak in
            slot.stats.fill(5);
            b.computeLeafShared(wideParams, batch, { h: 0, i }, slot);
            const label = `${ks.id} leaf ${i} (${name})`;
            assertBitEqual(slot.grads, want.grads, label);
            assertBitEqual(slot.stats, want.stats, `${label}: stats`);
            assert.equal(slot.lossSum, want.lossSum, `${label}: loss`);
            assert.equal(slot.count, want.count, `${label}: count`);
            assert.equal(slot.bad, want.bad, `${label}: first non-finite index`);
            if (want.bad >= 0) nonFinite++;
            a.release(want);
          }
          // example order[13] is in leaf 1 (positions 11–18): exactly that leaf is non-finite
          assert.equal(nonFinite, name === 'finite' ? 0 : 1, `${ks.id}: non-finite leaves`);
          assert.throws(() => b.computeLeafShared(wideParams, batch, { h: 1, i: 0 }, slot), {
            name: 'RangeError',
            message: /node 1:0 is not a leaf of a tree of 5 leaves/,
          });
          assert.throws(() => b.computeLeafShared(wideParams, batch, { h: 0, i: 5 }, slot), {
            name: 'RangeError',
            message: /node 0:5 is not a leaf of a tree of 5 leaves/,
          });
        }
      });
    }
  });

  it("every node's first non-finite index is a scan's of its sum (found by the add that makes it, kernels.addIntoCheck), nodes of one leaf included, with every kernel set", () => {
    const badX = data.x.slice();
    badX[order[13]! * 64 + 9] = Infinity;
    badX[order[30]! * 64 + 2] = NaN;
    const scan = referenceKernels('float32');
    // 5 leaves: the last is a node's only leaf at every height above it
    const batch = { step: 1, order, start: 3, end: 3 + 40, microBatch: 8 };
    const tree = new ReductionTree(leavesOf(batch));
    for (const ks of [referenceKernels('float32'), ...nativeIsas().map((isa) => nativeKernels(isa, 'float32'))]) {
      for (const source of [data, { x: badX, y: data.y }]) {
        const c = new PartialComputer(spec, ks, source, 8);
        let nonFinite = 0;
        for (let h = 1; h <= tree.height; h++) {
          for (let i = 0; tree.exists({ h, i }); i++) {
            const p = c.computeNode(params, batch, { h, i });
            assert.equal(p.bad, scan.firstNonFinite(p.grads.length, p.grads), `${ks.id} node ${h}:${i}`);
            if (p.bad >= 0) nonFinite++;
            c.release(p);
          }
        }
        assert.equal(nonFinite > 0, source !== data, `${ks.id}: non-finite nodes found`);
      }
    }
  });

  it('a computer on fixed slots uses them and refuses a node that needs more', () => {
    const size = layoutOf(spec).size;
    const stats = statsLayoutOf(spec).size;
    const slots = [newPartial('float32', size, stats), newPartial('float32', size, stats)];
    const c = new PartialComputer(spec, referenceKernels('float32'), data, 4, slots);
    const batch = { step: 1, order, start: 0, end: 16, microBatch: 4 };
    // a height-1 node holds its left leaf while computing the right one: two slots
    const p = c.computeNode(params, batch, { h: 1, i: 0 });
    assert.ok(slots.includes(p));
    c.release(p);
    // a height-2 node holds an accumulator, a left leaf and a right leaf at once: three
    assert.throws(() => c.computeNode(params, batch, { h: 2, i: 0 }), { name: 'RangeError', message: /every partial slot is in use/ });
  });
});
