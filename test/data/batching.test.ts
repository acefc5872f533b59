/** batching.test.ts — epochOrder (seeded, stateless per epoch), stepsPerEpoch and batchRange. */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { batchRange, epochOrder, epochSeed, stepsPerEpoch } from '../../src/data/batching';
import { Rng } from '../../src/tensor/rng';

const isPermutation = (a: Uint32Array, n: number): boolean => {
  if (a.length !== n) return false;
  const seen = new Uint8Array(n);
  for (const v of a) {
    if (v >= n || seen[v]) return false;
    seen[v] = 1;
  }
  return true;
};

describe('data/batching', () => {
  describe('epochOrder', () => {
    it('is the identity with shuffle = false', () => {
      assert.deepEqual(Array.from(epochOrder(7, 123, 5, false)), [0, 1, 2, 3, 4, 5, 6]);
    });
    it('is always a permutation of 0..n-1 (property)', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 300 }),
          fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
          fc.integer({ min: 0, max: 1e6 }),
          fc.boolean(),
          (n, seed, epoch, shuffle) => isPermutation(epochOrder(n, seed, epoch, shuffle), n),
        ),
      );
    });
    it('is deterministic: the same (n, seed, epoch) gives the same order, with no state carried between calls', () => {
      const a = epochOrder(1000, 42, 3, true);
      epochOrder(1000, 42, 4, true);
      assert.deepEqual(epochOrder(1000, 42, 3, true), a);
    });
    it('differs between epochs and between seeds', () => {
      const base = Array.from(epochOrder(1000, 42, 0, true));
      assert.notDeepEqual(Array.from(epochOrder(1000, 42, 1, true)), base);
      assert.notDeepEqual(Array.from(epochOrder(1000, 43, 0, true)), base);
      assert.notDeepEqual(
        base,
        Array.from({ length: 1000 }, (_, i) => i),
      );
    });
    it('is a Fisher–Yates shuffle by new Rng(epochSeed(seed, epoch))', () => {
      const expected = Uint32Array.from({ length: 50 }, (_, i) => i);
      new Rng(epochSeed(9, 2)).shuffle(expected);
      assert.deepEqual(epochOrder(50, 9, 2, true), expected);
    });
    it('pins the order of a small case (a resumed run must see the same order as before)', () => {
      assert.deepEqual(Array.from(epochOrder(10, 1, 0, true)), PINNED_ORDER);
      assert.deepEqual([epochSeed(0, 0), epochSeed(1, 0), epochSeed(1, 1)], PINNED_SEEDS);
    });
    it('epochSeed follows the documented formula fmix32((fmix32(seed) + epoch) mod 2^32)', () => {
      const fmix32 = (h: number): number => {
        h ^= h >>> 16;
        h = Math.imul(h, 0x85ebca6b);
        h ^= h >>> 13;
        h = Math.imul(h, 0xc2b2ae35);
        h ^= h >>> 16;
        return h >>> 0;
      };
      for (const [s, e] of [
        [0, 0],
        [1, 7],
        [2 ** 32 - 1, 2 ** 32 - 1],
        [-5, 3],
      ] as const) {
        assert.equal(epochSeed(s, e), fmix32((fmix32(s >>> 0) + (e >>> 0)) >>> 0));
      }
    });
    it('gives different generator seeds to the epochs of one seed', () => {
      const seeds = new Set(Array.from({ length: 10000 }, (_, e) => epochSeed(42, e)));
      assert.equal(seeds.size, 10000);
    });
    it('rejects bad arguments with a RangeError naming them', () => {
      assert.throws(() => epochOrder(-1, 1, 0, true), { name: 'RangeError', message: /n must be/ });
      assert.throws(() => epochOrder(3, 1.5, 0, true), { name: 'RangeError', message: /seed/ });
      assert.throws(() => epochOrder(3, 1, -1, true), { name: 'RangeError', message: /epoch/ });
    });
  });

  describe('stepsPerEpoch', () => {
    it('is ceil(n / batch): the last batch may be smaller', () => {
      assert.equal(stepsPerEpoch(10, 3), 4);
      assert.equal(stepsPerEpoch(9, 3), 3);
      assert.equal(stepsPerEpoch(1, 64), 1);
      assert.equal(stepsPerEpoch(0, 8), 0);
    });
    it('rejects a batch < 1 with a RangeError naming it', () => {
      assert.throws(() => stepsPerEpoch(10, 0), { name: 'RangeError', message: /batch/ });
    });
  });

  describe('batchRange', () => {
    it('cuts the epoch into contiguous batches that cover 0..n once, the last one shorter', () => {
      const ranges = Array.from({ length: stepsPerEpoch(10, 4) }, (_, s) => batchRange(10, 4, s));
      assert.deepEqual(ranges, [
        { start: 0, end: 4 },
        { start: 4, end: 8 },
        { start: 8, end: 10 },
      ]);
    });
    it('covers 0..n exactly for any n and batch (property)', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 600 }), (n, batch) => {
          let next = 0;
          for (let s = 0; s < stepsPerEpoch(n, batch); s++) {
            const { start, end } = batchRange(n, batch, s);
            if (start !== next || end <= start || end - start > batch) return false;
            next = end;
          }
          return next === n;
        }),
      );
    });
    it('rejects a step outside the epoch with a RangeError naming it', () => {
      assert.throws(() => batchRange(10, 4, 3), { name: 'RangeError', message: /stepInEpoch.*\[0, 3\).*got 3/ });
    });
  });
});

const PINNED_ORDER = [2, 6, 4, 0, 7, 1, 5, 8, 9, 3];
const PINNED_SEEDS = [0, 804215951, 2726825882];
