/**
 * The vector passes of the kernel spec (rules 7 and 8): addInto, firstNonFinite, sgdUpdate,
 * reduceGrad — every native build against the reference, bit for bit, and the reference
 * against the plain formulas.
 */
import assert from 'node:assert/strict';
import { alloc, type DType, type Float } from '../../src/tensor/dtype';
import { referenceKernels, type KernelSet } from '../../src/tensor/kernels';
import { nativeIsas, nativeKernels } from '../../src/tensor/fast/native';
import { Rng } from '../../src/tensor/rng';
import { assertBitEqual } from '../helpers/close';

const SIZES = [0, 1, 7, 8, 9, 63, 64, 65, 129, 1000, 4099];

function data(dtype: DType, n: number, seed: number, offset = 3): Float {
  const rng = new Rng(seed);
  const big = alloc(dtype, n + offset);
  for (let i = 0; i < big.length; i++) big[i] = (rng.uniform(-1, 1)) * 10 ** rng.nextInt(7 - 3);
  return big.subarray(offset);
}

function copy(a: Float): Float {
  const c = alloc(a instanceof Float64Array ? 'float64' : 'float32', a.length);
  c.set(a);
  return c;
}

describe('vector passes (kernel spec rules 7, 8)', () => {
  it('reference reduceGrad is g/divisor + λ·p with 8-lane strided sums of squares', () => {
    const k = referenceKernels('float64');
    const g = Float64Array.from({ length: 21 }, (_, i) => i + 0.5);
    const p = Float64Array.from({ length: 21 }, (_, i) => -i / 3);
    const g0 = Float64Array.from(g);
    const out = new Float64Array(2);
    k.reduceGrad(21, g, p, 4, 0.1, out);
    const lanes = new Float64Array(8);
    g0.forEach((v, i) => {
      const q = v / 4 + 0.1 * p[i]!;
      assert.equal(g[i], q);
      lanes[i % 8] += q * q;
    });
    assert.equal(out[0], ((lanes[0]! + lanes[1]!) + (lanes[2]! + lanes[3]!)) + ((lanes[4]! + lanes[5]!) + (lanes[6]! + lanes[7]!)));
  });

  it('reference firstNonFinite finds NaN and ±Infinity, and −1 on finite data', () => {
    const k = referenceKernels('float32');
    const a = new Float32Array(100);
    assert.equal(k.firstNonFinite(100, a), -1);
    a[70] = -Infinity;
    a[90] = NaN;
    assert.equal(k.firstNonFinite(100, a), 70);
    assert.equal(k.firstNonFinite(70, a), -1);
  });

  const isas = nativeIsas();
  for (const isa of isas) {
    for (const dtype of ['float32', 'float64'] as DType[]) {
      const ref = referenceKernels(dtype);
      const nat: KernelSet = nativeKernels(isa, dtype);
      it(`native-${isa} ${dtype}: addInto, sgdUpdate and reduceGrad equal the reference bit for bit`, () => {
        for (const n of SIZES) {
          for (const [divisor, lambda] of [[1, 0], [128, 0], [1, 0.01], [37, 5e-4]] as const) {
            const g = data(dtype, n, n + 1);
            const p = data(dtype, n, n + 2);
            const gr = copy(g);
            const gn = copy(g);
            const or = new Float64Array(2);
            const on = new Float64Array(2);
            ref.reduceGrad(n, gr, p, divisor, lambda, or);
            nat.reduceGrad(n, gn, p, divisor, lambda, on);
            assertBitEqual(gn, gr, `reduceGrad g n=${n} divisor=${divisor} λ=${lambda}`);
            assertBitEqual(on, or, `reduceGrad norms n=${n} divisor=${divisor} λ=${lambda}`);
          }
          const a = data(dtype, n, 9);
          const b = data(dtype, n, 10);
          const ar = copy(a);
          const an = copy(a);
          ref.addInto(n, ar, b);
          nat.addInto(n, an, b);
          assertBitEqual(an, ar, `addInto n=${n}`);
          const pr = data(dtype, n, 11);
          const pn = copy(pr);
          const ur = alloc(dtype, n);
          const un = alloc(dtype, n);
          ref.sgdUpdate(n, 0.05, b, pr, ur);
          nat.sgdUpdate(n, 0.05, b, pn, un);
          assertBitEqual(pn, pr, `sgdUpdate p n=${n}`);
          assertBitEqual(un, ur, `sgdUpdate u n=${n}`);
        }
      });
      it(`native-${isa} ${dtype}: firstNonFinite agrees with the reference wherever the bad value is`, () => {
        for (const n of [1, 63, 64, 65, 200, 1000]) {
          for (const at of [0, n >> 1, n - 1]) {
            for (const bad of [NaN, Infinity, -Infinity]) {
              const a = data(dtype, n, at);
              a[at] = bad;
              if (at + 5 < n) a[at + 5] = NaN;
              assert.equal(nat.firstNonFinite(n, a), ref.firstNonFinite(n, a));
              assert.equal(nat.firstNonFinite(n, a), at);
            }
          }
          assert.equal(nat.firstNonFinite(n, data(dtype, n, 1)), -1);
        }
      });
      it(`native-${isa} ${dtype}: refuses a short array and a bad divisor with a RangeError`, () => {
        assert.throws(() => nat.addInto(10, alloc(dtype, 9), alloc(dtype, 10)), { name: 'RangeError', message: /a has 9 elements, needs 10/ });
        assert.throws(() => nat.reduceGrad(4, alloc(dtype, 4), alloc(dtype, 4), 0.5, 0, new Float64Array(2)), { name: 'RangeError', message: /divisor must be an integer/ });
      });
    }
  }
});
