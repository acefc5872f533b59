/** dataset.test.ts — subset, toDtype, targetRange and the subset hash. */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { subset, targetRange, toDtype, type Dataset } from '../../src/data/dataset';
import { doubling, loadDigits } from '../../src/data/datasets';

/** A 4-example classification set with x row i = [10i, 10i+1]. */
function small(): Dataset {
  return {
    name: 'small',
    dtype: 'float64',
    n: 4,
    inputs: 2,
    outputs: 3,
    x: Float64Array.from([0, 1, 10, 11, 20, 21, 30, 31]),
    y: Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0]),
    labels: Int32Array.from([0, 1, 2, 0]),
    classes: 3,
    sha256: 'ab'.repeat(32),
  };
}

describe('data/dataset', () => {
  describe('subset', () => {
    it('copies the rows of x, y and labels at the given indices, in that order', () => {
      const s = subset(small(), [3, 1, 1]);
      assert.equal(s.n, 3);
      assert.deepEqual(Array.from(s.x), [30, 31, 10, 11, 10, 11]);
      assert.deepEqual(Array.from(s.y), [1, 0, 0, 0, 1, 0, 0, 1, 0]);
      assert.deepEqual(Array.from(s.labels!), [0, 1, 1]);
      assert.equal(s.classes, 3);
      assert.equal(s.name, 'small-subset');
      assert.equal(subset(small(), [0], 'one').name, 'one');
    });
    it('does not alias the parent', () => {
      const p = small();
      const s = subset(p, [0, 1]);
      s.x[0] = 99;
      assert.equal(p.x[0], 0);
    });
    it('hashes the parent hash in hex then the indices as little-endian uint32', () => {
      const idx = Buffer.alloc(8);
      idx.writeUInt32LE(2, 0);
      idx.writeUInt32LE(0, 4);
      const expected = crypto.createHash('sha256').update('ab'.repeat(32)).update(idx).digest('hex');
      assert.equal(subset(small(), [2, 0]).sha256, expected);
      assert.notEqual(subset(small(), [0, 2]).sha256, expected);
    });
    it('allocates over SharedArrayBuffer when shared', () => {
      const s = subset(small(), [0], undefined, true);
      assert.ok(
        s.x.buffer instanceof SharedArrayBuffer && s.y.buffer instanceof SharedArrayBuffer && s.labels!.buffer instanceof SharedArrayBuffer,
      );
    });
    it('rejects an index outside [0, n) with a RangeError naming it', () => {
      assert.throws(() => subset(small(), [0, 4]), { name: 'RangeError', message: /indices\[1\].*\[0, 4\).*got 4/ });
      assert.throws(() => subset(small(), [0.5]), { name: 'RangeError', message: /indices\[0\]/ });
    });
  });

  describe('toDtype', () => {
    it('rounds float64 to float32, keeps the hash and the labels, and can move to shared memory', () => {
      const d = loadDigits({ dtype: 'float64', scale: 1 / 3 });
      const f = toDtype(d, 'float32', true);
      assert.equal(f.dtype, 'float32');
      assert.ok(f.x instanceof Float32Array && f.x.buffer instanceof SharedArrayBuffer);
      assert.deepEqual(Array.from(f.x), Array.from(d.x, Math.fround));
      assert.deepEqual(f.labels, d.labels);
      assert.equal(f.sha256, d.sha256);
      const back = toDtype(f, 'float64');
      assert.ok(back.x instanceof Float64Array && !(back.x.buffer instanceof SharedArrayBuffer));
      assert.deepEqual(Array.from(back.x), Array.from(f.x));
    });
  });

  describe('targetRange', () => {
    it('is the min and max over y', () => {
      assert.deepEqual(targetRange(doubling('float64')), { min: 0.05, max: 1 });
      assert.deepEqual(targetRange(small()), { min: 0, max: 1 });
    });
    it('is { min: Infinity, max: -Infinity } for an empty set', () => {
      assert.deepEqual(targetRange(subset(small(), [])), { min: Infinity, max: -Infinity });
    });
  });
});
