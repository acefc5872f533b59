import assert from 'node:assert/strict';
import { alloc, type DType, type Float } from '../../src/tensor/dtype';
import { ACTIVATIONS, referenceKernels } from '../../src/tensor/kernels';
import { Rng } from '../../src/tensor/rng';
import { tanh32 } from '../../src/tensor/spec-math';
import { assertBitEqual } from '../helpers/close';

const fr = Math.fround;

function rand(dtype: DType, n: number, rng: Rng, scale = 1): Float {
  const a = alloc(dtype, n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(-scale, scale);
  return a;
}

/** The spec written out the slowest, plainest way: element by element, k increasing. */
function specGemm(dtype: DType, m: number, n: number, k: number, a: (i: number, p: number) => number, b: (p: number, j: number) => number): Float {
  const r = dtype === 'float32' ? fr : (x: number) => x;
  const C = alloc(dtype, m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let acc = 0;
    for (let p = 0; p < k; p++) acc = r(acc + r(a(i, p) * b(p, j)));
    C[i * n + j] = acc;
  }
  return C;
}

describe('reference kernels (the oracle)', () => {
  for (const dtype of ['float64', 'float32'] as DType[]) {
    const K = referenceKernels(dtype);
    describe(dtype, () => {
      const rng = new Rng(dtype === 'float64' ? 1 : 2);
      const shapes = [[1, 1, 1], [3, 5, 7], [8, 1, 13], [17, 9, 1], [4, 6, 0]];
      for (const [m, n, k] of shapes) {
        it(`gemmNT, gemmTN and gemmNN follow the spec's per-element order for (${m}, ${n}, ${k})`, () => {
          const A = rand(dtype, m! * k!, rng);
          const Bt = rand(dtype, n! * k!, rng); // (n, k)
          const C = alloc(dtype, m! * n!);
          K.gemmNT(m!, n!, k!, A, Bt, C);
          assertBitEqual(C, specGemm(dtype, m!, n!, k!, (i, p) => A[i * k! + p]!, (p, j) => Bt[j * k! + p]!), 'gemmNT');
          const At = rand(dtype, k! * m!, rng); // (k, m)
          const B = rand(dtype, k! * n!, rng); // (k, n)
          K.gemmTN(m!, n!, k!, At, B, C);
          assertBitEqual(C, specGemm(dtype, m!, n!, k!, (i, p) => At[p * m! + i]!, (p, j) => B[p * n! + j]!), 'gemmTN');
          K.gemmNN(m!, n!, k!, A, B, C);
          assertBitEqual(C, specGemm(dtype, m!, n!, k!, (i, p) => A[i * k! + p]!, (p, j) => B[p * n! + j]!), 'gemmNN');
        });
      }
      it('starts every accumulation at +0 (an all −0 product sums to +0)', () => {
        const A = alloc(dtype, 2);
        A[0] = -0; A[1] = -0;
        const B = alloc(dtype, 2);
        B[0] = 1; B[1] = 1;
        const C = alloc(dtype, 1);
        K.gemmNT(1, 1, 2, A, B, C);
        assert.ok(Object.is(C[0], 0));
      });
      it('colSum adds rows in increasing order from +0', () => {
        const A = rand(dtype, 5 * 3, rng);
        const out = alloc(dtype, 3);
        K.colSum(5, 3, A, out);
        const r = dtype === 'float32' ? fr : (x: number) => x;
        for (let j = 0; j < 3; j++) {
          let s = 0;
          for (let i = 0; i < 5; i++) s = r(s + A[i * 3 + j]!);
          assert.equal(out[j], s);
        }
      });
      it('softmax rows sum to 1 and activate() matches the scalar spec functions', () => {
        const z = rand(dtype, 4 * 6, rng, 5);
        const a = alloc(dtype, 4 * 6);
        K.activate('softmax', 4, 6, z, a);
        for (let r = 0; r < 4; r++) {
          let s = 0;
          for (let j = 0; j < 6; j++) s += a[r * 6 + j]!;
          assert.ok(Math.abs(s - 1) < (dtype === 'float32' ? 1e-6 : 1e-15));
        }
        if (dtype === 'float32') {
          K.activate('tanh', 4, 6, z, a);
          for (let i = 0; i < 24; i++) assert.equal(a[i], tanh32(z[i]!));
        }
      });
      for (const f of ACTIVATIONS) {
        it(`activateBackward('${f}') is the derivative: matches a central difference of activate()`, () => {
          if (dtype === 'float32') return; // the float64 check is the meaningful one; float32 shares the code shape
          const m = 3;
          const n = 4;
          const z = rand(dtype, m * n, rng, 2);
          const a = alloc(dtype, m * n);
          K.activate(f, m, n, z, a);
          const up = rand(dtype, m * n, rng); // dJ/da
          const g = Float64Array.from(up);
          K.activateBackward(f, m, n, z, a, g);
          const h = 1e-6;
          for (let i = 0; i < m * n; i++) {
            const zp = Float64Array.from(z); zp[i]! += h;
            const zm = Float64Array.from(z); zm[i]! -= h;
            const ap = alloc(dtype, m * n); const am = alloc(dtype, m * n);
            K.activate(f, m, n, zp, ap); K.activate(f, m, n, zm, am);
            let num = 0;
            for (let j = 0; j < m * n; j++) num += up[j]! * (ap[j]! - am[j]!) / (2 * h);
            assert.ok(Math.abs(num - g[i]!) < 1e-6, `${f}: dJ/dz[${i}] analytic ${g[i]} numeric ${num}`);
          }
        });
      }
    });
  }
});
