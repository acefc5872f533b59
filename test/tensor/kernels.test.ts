import assert from 'node:assert/strict';
import { alloc, type DType, type Float } from '../../src/tensor/dtype';
import { ACTIVATIONS, type Activation } from '../../src/tensor/kernels';
import { referenceCore, referenceKernels } from '../../src/tensor/reference-kernels';
import { withSharedDefaults } from '../../src/tensor/kernel-defaults';
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
function specGemm(
  dtype: DType,
  m: number,
  n: number,
  k: number,
  a: (i: number, p: number) => number,
  b: (p: number, j: number) => number,
): Float {
  const r = dtype === 'float32' ? fr : (x: number) => x;
  const C = alloc(dtype, m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
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
      const shapes = [
        [1, 1, 1],
        [3, 5, 7],
        [8, 1, 13],
        [17, 9, 1],
        [4, 6, 0],
      ];
      for (const [m, n, k] of shapes) {
        it(`gemmNT, gemmTN and gemmNN follow the spec's per-element order for (${m}, ${n}, ${k})`, () => {
          const A = rand(dtype, m! * k!, rng);
          const Bt = rand(dtype, n! * k!, rng); // (n, k)
          const C = alloc(dtype, m! * n!);
          K.gemmNT(m!, n!, k!, A, Bt, C);
          assertBitEqual(
            C,
            specGemm(
              dtype,
              m!,
              n!,
              k!,
              (i, p) => A[i * k! + p]!,
              (p, j) => Bt[j * k! + p]!,
            ),
            'gemmNT',
          );
          const At = rand(dtype, k! * m!, rng); // (k, m)
          const B = rand(dtype, k! * n!, rng); // (k, n)
          K.gemmTN(m!, n!, k!, At, B, C);
          assertBitEqual(
            C,
            specGemm(
              dtype,
              m!,
              n!,
              k!,
              (i, p) => At[p * m! + i]!,
              (p, j) => B[p * n! + j]!,
            ),
            'gemmTN',
          );
          K.gemmNN(m!, n!, k!, A, B, C);
          assertBitEqual(
            C,
            specGemm(
              dtype,
              m!,
              n!,
              k!,
              (i, p) => A[i * k! + p]!,
              (p, j) => B[p * n! + j]!,
            ),
            'gemmNN',
          );
        });
      }
      it('starts every accumulation at +0 (an all −0 product sums to +0)', () => {
        const A = alloc(dtype, 2);
        A[0] = -0;
        A[1] = -0;
        const B = alloc(dtype, 2);
        B[0] = 1;
        B[1] = 1;
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
      /** activate(f) of random z (3 × 4) into a, then activateBackward of a random dJ/da (up) into g. */
      const backward = (f: Activation): { m: number; n: number; z: Float; a: Float; up: Float; g: Float } => {
        const m = 3;
        const n = 4;
        const z = rand(dtype, m * n, rng, 2);
        const a = alloc(dtype, m * n);
        K.activate(f, m, n, z, a);
        const up = rand(dtype, m * n, rng); // dJ/da
        const g = up.slice();
        K.activateBackward(f, m, n, z, a, g);
        return { m, n, z, a, up, g };
      };
      for (const f of ACTIVATIONS) {
        if (dtype === 'float64') {
          it(`activateBackward('${f}') is the derivative: matches a central difference of activate()`, () => {
            const { m, n, z, up, g } = backward(f);
            const h = 1e-6;
            for (let i = 0; i < m * n; i++) {
              const zp = Float64Array.from(z);
              zp[i]! += h;
              const zm = Float64Array.from(z);
              zm[i]! -= h;
              const ap = alloc(dtype, m * n);
              const am = alloc(dtype, m * n);
              K.activate(f, m, n, zp, ap);
              K.activate(f, m, n, zm, am);
              let num = 0;
              for (let j = 0; j < m * n; j++) num += (up[j]! * (ap[j]! - am[j]!)) / (2 * h);
              assert.ok(Math.abs(num - g[i]!) < 1e-6, `${f}: dJ/dz[${i}] analytic ${g[i]} numeric ${num}`);
            }
          });
        } else {
          // a float32 central difference is too coarse to tell a wrong formula from rounding;
          // the float64 kernel, proved by one above, is the yardstick on the same inputs
          it(`activateBackward('${f}') gives the float64 kernel's derivative to float32 accuracy`, () => {
            const K64 = referenceKernels('float64');
            const { m, n, z, a, up, g } = backward(f);
            const a64 = Float64Array.from(a);
            const g64 = Float64Array.from(up);
            K64.activateBackward(f, m, n, Float64Array.from(z), a64, g64);
            for (let i = 0; i < m * n; i++) {
              assert.ok(Math.abs(g[i]! - g64[i]!) <= 1e-6 * (1 + Math.abs(g64[i]!)), `${f}: dJ/dz[${i}] float32 ${g[i]} float64 ${g64[i]}`);
            }
            if (f !== 'linear')
              assert.ok(
                g.some((v, i) => v !== up[i]),
                `${f} changed g`,
              );
          });
        }
      }
    });
  }
});

describe("the shared-memory extension's defaults (withSharedDefaults)", () => {
  for (const dtype of ['float64', 'float32'] as DType[]) {
    const core = referenceCore(dtype);
    const K = withSharedDefaults(core);
    const n = 37;
    const rng = new Rng(dtype === 'float64' ? 11 : 12);
    it(`${dtype}: a core-only set gets each extension operation as its core composition, bit for bit`, () => {
      // gemmTNCheck = gemmTN, then firstNonFinite of C
      const A = rand(dtype, 4 * 3, rng);
      const B = rand(dtype, 4 * 5, rng);
      B[7] = Infinity; // column 2 of row 1 of B: C[·, 2] is non-finite from C[0, 2] on
      const C = alloc(dtype, 15);
      const want = alloc(dtype, 15);
      core.gemmTN(3, 5, 4, A, B, want);
      assert.equal(K.gemmTNCheck(3, 5, 4, A, B, C, true), core.firstNonFinite(15, want));
      assert.notEqual(core.firstNonFinite(15, want), -1);
      assertBitEqual(C, want, 'gemmTNCheck');
      // sgdUpdateShared = sgdUpdate
      const g = rand(dtype, n, rng);
      const p1 = rand(dtype, n, rng);
      const p2 = Float64Array.from(p1);
      const q2 = dtype === 'float32' ? Float32Array.from(p2) : p2;
      const u1 = alloc(dtype, n);
      const u2 = alloc(dtype, n);
      K.sgdUpdateShared(n, 0.07, g, p1, u1);
      core.sgdUpdate(n, 0.07, g, q2, u2);
      assertBitEqual(p1, q2, 'sgdUpdateShared p');
      assertBitEqual(u1, u2, 'sgdUpdateShared u');
      // copyShared = a copy, returning firstNonFinite of the source
      const src = rand(dtype, n, rng);
      src[30] = NaN;
      const dst = alloc(dtype, n);
      assert.equal(K.copyShared(n, src, dst), 30);
      assertBitEqual(dst, src, 'copyShared');
      // addReduceGrad = addInto then reduceGrad; reduceSgd = that, then sgdUpdate, the old p left in a
      const a = rand(dtype, n, rng);
      const b = rand(dtype, n, rng);
      const p = rand(dtype, n, rng);
      const sum = Float64Array.from(a);
      const s2 = dtype === 'float32' ? Float32Array.from(sum) : sum;
      core.addInto(n, s2, b);
      const wantOut = new Float64Array(2);
      core.reduceGrad(n, s2, p, 3, 1e-3, wantOut);
      const got = alloc(dtype, n);
      const out = new Float64Array(2);
      K.addReduceGrad(n, a, b, p, 3, 1e-3, out, got);
      assertBitEqual(got, s2, 'addReduceGrad g');
      assert.deepEqual([...out], [...wantOut]);
      const pNext = Float64Array.from(p);
      const pWant = dtype === 'float32' ? Float32Array.from(pNext) : pNext;
      core.sgdUpdate(n, 0.07, s2, pWant, alloc(dtype, n));
      const aa = Float64Array.from(a);
      const a2 = dtype === 'float32' ? Float32Array.from(aa) : aa;
      const pp = Float64Array.from(p);
      const p3 = dtype === 'float32' ? Float32Array.from(pp) : pp;
      const out2 = new Float64Array(2);
      K.reduceSgd(n, a2, b, p3, 3, 1e-3, 0.07, out2, false);
      assertBitEqual(p3, pWant, 'reduceSgd p');
      assertBitEqual(a2, p, 'reduceSgd leaves the old p in a');
      assert.deepEqual([...out2], [...wantOut]);
    });
    it(`${dtype}: an extension operation the set provides is kept, not replaced by the default`, () => {
      const mine = (): void => undefined;
      assert.equal(withSharedDefaults({ ...core, sgdUpdateShared: mine }).sgdUpdateShared, mine);
      assert.notEqual(K.sgdUpdateShared, mine);
    });
  }
});
