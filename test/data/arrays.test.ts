/** arrays.test.ts — fromArrays: the forms of x and y, class names, the content hash as documented, and every data error. */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { fromArrays, type ArrayData } from '../../src/data/arrays';
import { assertDataError } from './data-error';

const f64 = { dtype: 'float64' as const };

/** The documented hash, computed independently: float64 LE features, then int32 LE labels or float64 LE targets, separator, options JSON. */
function expectedHash(x: number[], tail: Buffer, options: Record<string, unknown>): string {
  const xb = Buffer.alloc(x.length * 8);
  x.forEach((v, i) => xb.writeDoubleLE(v, i * 8));
  return crypto.createHash('sha256').update(xb).update(tail).update('\0gradsync-data-v1\0').update(JSON.stringify(options)).digest('hex');
}
const f64le = (a: number[]): Buffer => {
  const b = Buffer.alloc(a.length * 8);
  a.forEach((v, i) => b.writeDoubleLE(v, i * 8));
  return b;
};
const i32le = (a: number[]): Buffer => {
  const b = Buffer.alloc(a.length * 4);
  a.forEach((v, i) => b.writeInt32LE(v, i * 4));
  return b;
};

describe('data/arrays fromArrays', () => {
  describe('forms of x and y', () => {
    it('reads rows (number[][]) and class indices into x and one-hot y, classes = max label + 1', () => {
      const ds = fromArrays(
        {
          x: [
            [1, 2],
            [3, 4],
            [5, 6],
          ],
          y: [0, 2, 1],
        },
        { ...f64, labels: true },
      );
      assert.equal(ds.n, 3);
      assert.equal(ds.inputs, 2);
      assert.equal(ds.classes, 3);
      assert.deepEqual(Array.from(ds.x), [1, 2, 3, 4, 5, 6]);
      assert.deepEqual(Array.from(ds.y), [1, 0, 0, 0, 0, 1, 0, 1, 0]);
      assert.deepEqual(Array.from(ds.labels!), [0, 2, 1]);
      assert.equal(ds.labelNames, undefined);
      assert.equal(ds.name, 'arrays');
    });
    it('reads a flat Float32Array with shape [n, features] as the same rows, and [n, c, h, w] as c·h·w features in that order', () => {
      const rows = fromArrays(
        {
          x: [
            [1, 2, 3, 4],
            [5, 6, 7, 8],
          ],
          y: [0, 1],
        },
        { ...f64, labels: true },
      );
      const flat = fromArrays(
        { x: new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]), shape: [2, 4], y: new Int32Array([0, 1]) },
        { ...f64, labels: true },
      );
      const chw = fromArrays({ x: new Float64Array([1, 2, 3, 4, 5, 6, 7, 8]), shape: [2, 1, 2, 2], y: [0, 1] }, { ...f64, labels: true });
      for (const ds of [flat, chw]) {
        assert.equal(ds.inputs, 4);
        assert.deepEqual(Array.from(ds.x), Array.from(rows.x));
        assert.equal(ds.sha256, rows.sha256, 'the same values hash alike, whatever their representation');
      }
    });
    it('takes y as targets without labels: one per row, number[][] of k, or a flat array of n·k', () => {
      const one = fromArrays({ x: [[1], [2]], y: [0.5, -1.5] }, f64);
      assert.equal(one.outputs, 1);
      assert.equal(one.labels, null);
      assert.deepEqual(Array.from(one.y), [0.5, -1.5]);
      const rows = fromArrays(
        {
          x: [[1], [2]],
          y: [
            [0.5, 1],
            [2, 3],
          ],
        },
        f64,
      );
      const flat = fromArrays({ x: [[1], [2]], y: new Float64Array([0.5, 1, 2, 3]) }, f64);
      assert.equal(rows.outputs, 2);
      assert.deepEqual(Array.from(flat.y), Array.from(rows.y));
      assert.equal(flat.sha256, rows.sha256);
    });
    it('takes numbers as class labels when classes is given, with labels false', () => {
      const ds = fromArrays({ x: [[1], [2]], y: [1, 0], classes: 3 }, f64);
      assert.equal(ds.classes, 3);
      assert.deepEqual(Array.from(ds.y), [0, 1, 0, 1, 0, 0]);
    });
    it('maps string labels to indices in first-seen order and keeps the names', () => {
      const ds = fromArrays({ x: [[1], [2], [3], [4]], y: ['setosa', 'virginica', 'setosa', 'versicolor'] }, f64);
      assert.deepEqual(Array.from(ds.labels!), [0, 1, 0, 2]);
      assert.deepEqual(ds.labelNames, ['setosa', 'virginica', 'versicolor']);
      assert.equal(ds.classes, 3);
    });
    it('treats every label as a name once one is a string: 1 and "1" are the same name', () => {
      const ds = fromArrays({ x: [[1], [2], [3]], y: [7, 'cat', '7'] }, f64);
      assert.deepEqual(ds.labelNames, ['7', 'cat']);
      assert.deepEqual(Array.from(ds.labels!), [0, 1, 0]);
    });
    it('rounds float64 values to nearest in a float32 set, over SharedArrayBuffer when shared', () => {
      const ds = fromArrays({ x: [[0.1, 0.2]], y: [0.3] }, { dtype: 'float32', shared: true });
      assert.ok(ds.x instanceof Float32Array);
      assert.ok(ds.x.buffer instanceof SharedArrayBuffer);
      assert.ok(ds.y.buffer instanceof SharedArrayBuffer);
      assert.deepEqual(Array.from(ds.x), [Math.fround(0.1), Math.fround(0.2)]);
    });
  });

  describe('content hash', () => {
    it('for labels: float64 LE features, int32 LE class indices, the separator and the options JSON, as documented', () => {
      const ds = fromArrays(
        {
          x: [
            [1.5, -2],
            [0.25, 3],
          ],
          y: ['b', 'a'],
        },
        f64,
      );
      const want = expectedHash([1.5, -2, 0.25, 3], i32le([0, 1]), {
        format: 'arrays',
        inputs: 2,
        targets: null,
        classes: 2,
        labelNames: ['b', 'a'],
      });
      assert.equal(ds.sha256, want);
    });
    it('for targets: float64 LE features then float64 LE targets', () => {
      const ds = fromArrays(
        {
          x: new Float32Array([0.5, 1]),
          shape: [2, 1],
          y: [
            [1, 2],
            [3, 4],
          ],
        },
        { dtype: 'float32' },
      );
      const want = expectedHash([0.5, 1], f64le([1, 2, 3, 4]), {
        format: 'arrays',
        inputs: 1,
        targets: 2,
        classes: null,
        labelNames: null,
      });
      assert.equal(ds.sha256, want);
    });
    it('does not depend on the dtype, and changes with a value, a label name or the class count', () => {
      const base: ArrayData = {
        x: [
          [1, 2],
          [3, 4],
        ],
        y: [0, 1],
      };
      const a = fromArrays(base, { ...f64, labels: true });
      assert.equal(fromArrays(base, { dtype: 'float32', labels: true }).sha256, a.sha256);
      const others = [
        fromArrays(
          {
            ...base,
            x: [
              [1, 2],
              [3, 5],
            ],
          },
          { ...f64, labels: true },
        ),
        fromArrays({ ...base, y: ['x', 'y'] }, f64),
        fromArrays({ ...base, classes: 3 }, f64),
        fromArrays(base, f64), // the same numbers as two regression targets
      ];
      for (const o of others) assert.notEqual(o.sha256, a.sha256);
    });
  });

  describe('errors name data.x or data.y, the row and the problem', () => {
    const lab = { ...f64, labels: true };
    it('a NaN feature, by row and column', () => {
      assertDataError(
        () =>
          fromArrays(
            {
              x: [
                [1, 2],
                [3, NaN],
              ],
              y: [0, 1],
            },
            lab,
          ),
        'data.x',
        'row 1, column 1',
        'NaN is not a finite number',
      );
    });
    it('an infinite feature in a flat array, by row and column', () => {
      assertDataError(
        () => fromArrays({ x: new Float64Array([1, 2, 3, Infinity]), shape: [2, 2], y: [0, 1] }, lab),
        'data.x (row 1, column 1)',
        'Infinity is not a finite number',
      );
    });
    it('a feature that overflows float32', () => {
      assertDataError(
        () => fromArrays({ x: [[1e39]], y: [0] }, { dtype: 'float32', labels: true }),
        'row 0, column 0',
        'does not fit in float32',
      );
    });
    it('a string or a hole among the features', () => {
      assertDataError(
        () => fromArrays({ x: [[1, '2' as unknown as number]], y: [0] }, lab),
        'row 0, column 1',
        'the string "2" is not a number',
      );
      assertDataError(
        () =>
          fromArrays(
            {
              x: [
                [1, 2],
                [3, undefined as unknown as number],
              ],
              y: [0, 1],
            },
            lab,
          ),
        'row 1, column 1',
        'undefined',
      );
    });
    it('a row of the wrong width', () => {
      assertDataError(() => fromArrays({ x: [[1, 2], [3, 4], [5]], y: [0, 1, 0] }, lab), 'data.x (row 2)', 'has 1 values, row 0 has 2');
    });
    it('x and y of different lengths', () => {
      assertDataError(() => fromArrays({ x: [[1], [2], [3]], y: [0, 1] }, lab), 'data.y', 'has 2 labels, data.x has 3 rows');
      assertDataError(() => fromArrays({ x: [[1], [2], [3]], y: [0.5, 1, 2, 3] }, f64), 'data.y', 'has 4 values for the 3 rows');
      assertDataError(() => fromArrays({ x: [[1], [2]], y: [[1], [2], [3]] }, f64), 'data.y', 'has 3 rows, data.x has 2');
    });
    it('a label out of range, negative or not an integer', () => {
      assertDataError(
        () => fromArrays({ x: [[1], [2]], y: [0, 3], classes: 3 }, f64),
        'data.y (row 1)',
        'label 3 is out of range: classes is 3',
      );
      assertDataError(() => fromArrays({ x: [[1], [2]], y: [0, -1] }, lab), 'data.y (row 1)', 'label "-1" is not a class index');
      assertDataError(() => fromArrays({ x: [[1], [2]], y: [0.5, 1] }, lab), 'data.y (row 0)', 'label "0.5" is not a class index');
      assertDataError(() => fromArrays({ x: [[1], [2]], y: [0, NaN] }, lab), 'data.y (row 1)', 'label "NaN"');
    });
    it('more class names than classes, an empty name, and a label that is neither number nor string', () => {
      assertDataError(
        () => fromArrays({ x: [[1], [2], [3]], y: ['a', 'b', 'c'], classes: 2 }, f64),
        'data.y (row 2)',
        'class name number 3',
      );
      assertDataError(() => fromArrays({ x: [[1], [2]], y: ['a', ''] }, f64), 'data.y (row 1)', 'the label is empty');
      assertDataError(
        () => fromArrays({ x: [[1], [2]], y: [0, null as unknown as number] }, lab),
        'data.y (row 1)',
        'null is not a class label',
      );
      assertDataError(
        () =>
          fromArrays(
            {
              x: [[1], [2]],
              y: [
                [1, 0],
                [0, 1],
              ],
            },
            lab,
          ),
        'data.y (row 0)',
        'of one-hot rows, the argmax',
      );
    });
    it('a NaN target, by row', () => {
      assertDataError(() => fromArrays({ x: [[1], [2]], y: [0.5, NaN] }, f64), 'data.y (row 1)', 'NaN is not a finite number');
      assertDataError(
        () =>
          fromArrays(
            {
              x: [[1], [2]],
              y: [
                [0.5, 1],
                [2, NaN],
              ],
            },
            f64,
          ),
        'data.y (row 1, column 1)',
        'NaN',
      );
    });
    it('a flat x without shape, a shape that does not match, and an empty x', () => {
      assertDataError(() => fromArrays({ x: new Float32Array(6), y: [0, 1] }, lab), 'data.x', 'flat array of 6 values: give data.shape');
      assertDataError(
        () => fromArrays({ x: new Float32Array(6), shape: [2, 4], y: [0, 1] }, lab),
        'data.x',
        'data.shape [2, 4] needs 2 × 4 = 8',
      );
      assertDataError(() => fromArrays({ x: new Float32Array(6), shape: [2, 0], y: [0, 1] }, lab), 'data.shape', 'integers ≥ 1');
      assertDataError(() => fromArrays({ x: [[1, 2]], shape: [1, 3], y: [0] }, lab), 'data.shape', 'is [1, 3], but data.x is 1 rows of 2');
      assertDataError(() => fromArrays({ x: [], y: [] }, lab), 'data.x', 'has no rows');
      assertDataError(() => fromArrays({ x: 'abc' as unknown as number[], y: [] }, lab), 'data.x', 'must be an array');
    });
  });
});
