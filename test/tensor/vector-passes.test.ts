/**
 * The vector passes of the kernel spec (rules 7 and 8): addInto, addIntoCheck, firstNonFinite, sgdUpdate,
 * reduceGrad, reduceSgd (the fused step tail), and the activation statistics (rule 9) — every native build against the reference, bit for bit, and the reference
 * against the plain formulas.
 */
import assert from 'node:assert/strict';
import { alloc, type DType, type Float } from '../../src/tensor/dtype';
import { NORM_BLOCK, type KernelSet } from '../../src/tensor/kernels';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import { nativeIsas, nativeKernels } from '../../src/tensor/fast/native';
import { Rng } from '../../src/tensor/rng';
import { assertBitEqual } from '../helpers/close';

const SIZES = [0, 1, 7, 8, 9, 63, 64, 65, 129, 1000, 4099, NORM_BLOCK - 1, NORM_BLOCK, NORM_BLOCK + 9, 3 * NORM_BLOCK + 17];

function data(dtype: DType, n: number, seed: number, offset = 3): Float {
  const rng = new Rng(seed);
  const big = alloc(dtype, n + offset);
  for (let i = 0; i < big.length; i++) big[i] = rng.uniform(-1, 1) * 10 ** rng.nextInt(7 - 3);
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
    assert.equal(out[0], lanes[0]! + lanes[1]! + (lanes[2]! + lanes[3]!) + (lanes[4]! + lanes[5]! + (lanes[6]! + lanes[7]!)));
  });

  it("reference reduceGrad sums squares per block of NORM_BLOCK (rule 8, spec v4): a block's sum is the kernel's result for it alone, added in order", () => {
    const k = referenceKernels('float32');
    const n = 2 * NORM_BLOCK + 100;
    const g = data('float32', n, 5);
    const p = data('float32', n, 6);
    const whole = new Float64Array(2);
    k.reduceGrad(n, copy(g), p, 3, 0.01, whole);
    let sg = 0;
    let sp = 0;
    for (let b = 0; b < n; b += NORM_BLOCK) {
      const m = Math.min(NORM_BLOCK, n - b);
      const part = new Float64Array(2);
      k.reduceGrad(m, copy(g.subarray(b, b + m)), p.subarray(b, b + m), 3, 0.01, part);
      sg += part[0]!;
      sp += part[1]!;
    }
    assert.equal(whole[0], sg);
    assert.equal(whole[1], sp);
    // and not the unblocked 8-lane sum over the whole tensor (the order is real)
    const q = copy(g);
    const lanes = new Float64Array(8);
    k.reduceGrad(n, q, p, 3, 0.01, new Float64Array(2));
    q.forEach((v, i) => {
      lanes[i % 8] += v * v;
    });
    assert.notEqual(whole[0], lanes[0]! + lanes[1]! + (lanes[2]! + lanes[3]!) + (lanes[4]! + lanes[5]! + (lanes[6]! + lanes[7]!)));
  });

  it('reference activationStats counts saturated outputs (tanh, sigmoid) and rows with z > 0 per unit', () => {
    const k = referenceKernels('float64');
    const z = Float64Array.from([1, -1, 0, 2, 3, -0]);
    const a = Float64Array.from([0.999, 0.5, 0.99, -0.9999, 0.2, 0.0001]);
    const t = new Float64Array(4);
    k.activationStats('tanh', 2, 3, z, a, t);
    // 1 − a² < 0.01: 0.999 and −0.9999 only (1 − 0.99² = 0.0199)
    assert.deepEqual([...t], [2, 2, 1, 0]);
    const s = new Float64Array(4);
    k.activationStats('sigmoid', 2, 3, z, a, s);
    // a(1 − a) < 0.0025: 0.999, −0.9999 (negative) and 0.0001
    assert.deepEqual([...s], [3, 2, 1, 0]);
    const r = new Float64Array(4);
    k.activationStats('relu', 2, 3, z, a, r);
    assert.deepEqual([...r], [0, 2, 1, 0]);
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

  it('reference reduceSgd is (add)reduceGrad then sgdUpdate, leaving the old weights in a', () => {
    for (const dtype of ['float32', 'float64'] as DType[]) {
      const k = referenceKernels(dtype);
      for (const n of [0, 1, 9, 1000, NORM_BLOCK + 9]) {
        for (const withB of [false, true]) {
          const a = data(dtype, n, 31);
          const b = data(dtype, n, 32);
          const p = data(dtype, n, 33);
          // the plain passes, with u in a buffer of its own
          const g = copy(a);
          if (withB) k.addInto(n, g, b);
          const wantOut = new Float64Array(2);
          k.reduceGrad(n, g, p, 37, 5e-4, wantOut);
          const wantP = copy(p);
          k.sgdUpdate(n, 0.05, g, wantP, alloc(dtype, n));
          const out = new Float64Array(2);
          const p2 = copy(p);
          k.reduceSgd(n, a, withB ? b : null, p2, 37, 5e-4, 0.05, out, false);
          assertBitEqual(p2, wantP, `reduceSgd p n=${n}`);
          assertBitEqual(a, p, `reduceSgd: a holds the old p (n=${n})`);
          assertBitEqual(out, wantOut, `reduceSgd sums n=${n}`);
        }
      }
    }
  });

  const isas = nativeIsas();
  for (const isa of isas) {
    for (const dtype of ['float32', 'float64'] as DType[]) {
      const ref = referenceKernels(dtype);
      const nat: KernelSet = nativeKernels(isa, dtype);
      it(`native-${isa} ${dtype}: addInto, sgdUpdate and reduceGrad equal the reference bit for bit`, () => {
        for (const n of SIZES) {
          for (const [divisor, lambda] of [
            [1, 0],
            [128, 0],
            [1, 0.01],
            [37, 5e-4],
          ] as const) {
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
      it(`native-${isa} ${dtype}: sgdUpdateShared (streamed stores) equals sgdUpdate bit for bit at every alignment`, () => {
        for (const n of SIZES) {
          for (const off of [0, 1, 3, 7, 8, 15]) {
            const g = data(dtype, n, 12);
            const want = data(dtype, n, 13);
            const wantU = alloc(dtype, n);
            ref.sgdUpdate(n, 0.05, g, want, wantU);
            // p and u at `off` elements into their buffers, guards around p
            const pb = alloc(dtype, n + off + 16).fill(7);
            const p = pb.subarray(off, off + n);
            p.set(data(dtype, n, 13));
            const u = alloc(dtype, n);
            nat.sgdUpdateShared(n, 0.05, g, p, u);
            assertBitEqual(p, want, `sgdUpdateShared p n=${n} offset ${off}`);
            assertBitEqual(u, wantU, `sgdUpdateShared u n=${n} offset ${off}`);
            assert.ok(
              pb.subarray(0, off).every((v) => v === 7) && pb.subarray(off + n).every((v) => v === 7),
              `sgdUpdateShared wrote outside p (n=${n}, offset ${off})`,
            );
            // u over g itself, as the shared tail calls it
            const gg = data(dtype, n, 12);
            const p2 = data(dtype, n, 13);
            nat.sgdUpdateShared(n, 0.05, gg, p2, gg);
            assertBitEqual(p2, want, `sgdUpdateShared p (u = g) n=${n}`);
            assertBitEqual(gg, wantU, `sgdUpdateShared u = g n=${n}`);
          }
        }
      });
      it(`native-${isa} ${dtype}: addReduceGrad (fused) equals addInto then reduceGrad of the reference bit for bit, into a or into another g`, () => {
        for (const n of SIZES) {
          for (const [divisor, lambda] of [
            [1, 0],
            [128, 0],
            [1, 0.01],
            [37, 5e-4],
          ] as const) {
            const a = data(dtype, n, 21);
            const b = data(dtype, n, 22);
            const p = data(dtype, n, 23);
            const want = copy(a);
            const wantOut = new Float64Array(2);
            ref.addInto(n, want, b);
            ref.reduceGrad(n, want, p, divisor, lambda, wantOut);
            const what = `addReduceGrad n=${n} divisor=${divisor} λ=${lambda}`;
            // into another buffer: a and b untouched
            const a0 = copy(a);
            const b0 = copy(b);
            const g = alloc(dtype, n);
            const out = new Float64Array(2);
            nat.addReduceGrad(n, a, b, p, divisor, lambda, out, g);
            assertBitEqual(g, want, `${what} g`);
            assertBitEqual(out, wantOut, `${what} sums`);
            assertBitEqual(a, a0, `${what}: a changed`);
            assertBitEqual(b, b0, `${what}: b changed`);
            // in place, into a
            const out2 = new Float64Array(2);
            nat.addReduceGrad(n, a, b, p, divisor, lambda, out2, a);
            assertBitEqual(a, want, `${what} in place`);
            assertBitEqual(out2, wantOut, `${what} in place, sums`);
          }
        }
      });
      it(`native-${isa} ${dtype}: reduceSgd (fused reduce and SGD update) equals the reference bit for bit, with and without b, streamed or not, at every alignment of p`, () => {
        for (const n of SIZES) {
          for (const [divisor, lambda] of [
            [1, 0],
            [128, 0],
            [1, 0.01],
            [37, 5e-4],
          ] as const) {
            for (const withB of [false, true]) {
              const a0 = data(dtype, n, 41);
              const b = data(dtype, n, 42);
              const p0 = data(dtype, n, 43);
              const wantA = copy(a0);
              const wantP = copy(p0);
              const wantOut = new Float64Array(2);
              ref.reduceSgd(n, wantA, withB ? b : null, wantP, divisor, lambda, 0.05, wantOut, false);
              for (const shared of [false, true]) {
                // streamed: 8 consecutive offsets put p at every alignment to a vector of 8 elements (either path)
                for (const off of shared ? [0, 1, 2, 3, 4, 5, 6, 7, 15] : [0, 3]) {
                  const what = `reduceSgd n=${n} divisor=${divisor} λ=${lambda} b=${withB} shared=${shared} offset ${off}`;
                  const a = copy(a0);
                  const b0 = copy(b);
                  const pb = alloc(dtype, n + off + 16).fill(7);
                  const p = pb.subarray(off, off + n);
                  p.set(p0);
                  const out = new Float64Array(2);
                  nat.reduceSgd(n, a, withB ? b : null, p, divisor, lambda, 0.05, out, shared);
                  assertBitEqual(p, wantP, `${what} p`);
                  assertBitEqual(a, wantA, `${what} a (the old p)`);
                  assertBitEqual(out, wantOut, `${what} sums`);
                  assertBitEqual(b, b0, `${what}: b changed`);
                  assert.ok(
                    pb.subarray(0, off).every((v) => v === 7) && pb.subarray(off + n).every((v) => v === 7),
                    `${what}: wrote outside p`,
                  );
                }
              }
            }
          }
        }
      });
      it(`native-${isa} ${dtype}: reduceSgd divides by a power of two as the reference does, down to subnormal quotients and zeros`, () => {
        const tiny =
          dtype === 'float32'
            ? [1.2e-38, -3e-39, 1.4e-45, 7e-42, 0, -0, 5e-40, 1.17549435e-38]
            : [2.3e-308, -4e-310, 5e-324, 1e-315, 0, -0, 3e-320, 2.2250738585072014e-308];
        for (const divisor of [2, 128, 1024, 16777216, 3]) {
          const n = 67;
          const a0 = alloc(dtype, n);
          const p0 = alloc(dtype, n);
          for (let i = 0; i < n; i++) {
            a0[i] = tiny[i % tiny.length]! * (1 + i / 64);
            p0[i] = tiny[(i + 3) % tiny.length]!;
          }
          const wantA = copy(a0);
          const wantP = copy(p0);
          const wantOut = new Float64Array(2);
          ref.reduceSgd(n, wantA, null, wantP, divisor, 0, 0.5, wantOut, false);
          const a = copy(a0);
          const p = copy(p0);
          const out = new Float64Array(2);
          nat.reduceSgd(n, a, null, p, divisor, 0, 0.5, out, false);
          assertBitEqual(p, wantP, `reduceSgd p, divisor ${divisor}`);
          assertBitEqual(a, wantA, `reduceSgd a, divisor ${divisor}`);
          assertBitEqual(out, wantOut, `reduceSgd sums, divisor ${divisor}`);
        }
      });
      it(`native-${isa} ${dtype}: reduceSgd of a sum that overflows reports a non-finite Σg², and a holds the exact old weights to put back`, () => {
        const n = 100;
        const big = dtype === 'float32' ? 3e38 : 1.7e308;
        for (const k of [ref, nat]) {
          const a = data(dtype, n, 51);
          const b = data(dtype, n, 52);
          a[60] = big;
          b[60] = big;
          const p0 = data(dtype, n, 53);
          const p = copy(p0);
          const out = new Float64Array(2);
          k.reduceSgd(n, a, b, p, 1, 0, 0.05, out, true);
          assert.equal(Number.isFinite(out[0]), false, `${k.id}: Σg² ${out[0]}`);
          assert.equal(p[60], -Infinity, `${k.id}: p[60] = ${p[60]}`);
          p.set(a);
          assertBitEqual(p, p0, `${k.id}: weights put back from a`);
        }
      });
      it(`native-${isa} ${dtype}: copyShared (streamed stores) copies exactly, at every alignment, and nothing outside dst, and returns src's first non-finite index`, () => {
        for (const n of SIZES) {
          for (const off of [0, 1, 5, 8, 15]) {
            const src = data(dtype, n, 14);
            const db = alloc(dtype, n + off + 16).fill(7);
            const dst = db.subarray(off, off + n);
            assert.equal(nat.copyShared(n, src, dst), -1, `copyShared of finite data n=${n} offset ${off}`);
            if (n > 2) {
              src[0] = -0;
              src[n - 1] = NaN;
            }
            // the first bad value in the head before dst's first line boundary, in a whole line, in the tail
            for (const at of n > 2 ? [...new Set([1, off + 2, n >> 1, n - 1])].filter((x) => x < n) : []) {
              const s2 = copy(src);
              s2[at] = at % 2 === 0 ? Infinity : -Infinity;
              assert.equal(nat.copyShared(n, s2, dst), Math.min(at, n - 1), `copyShared's scan, bad at ${at}, n=${n} offset ${off}`);
              assert.equal(ref.copyShared(n, s2, alloc(dtype, n)), Math.min(at, n - 1));
            }
            nat.copyShared(n, src, dst);
            assertBitEqual(dst, src, `copyShared n=${n} offset ${off}`);
            assert.ok(
              db.subarray(0, off).every((v) => v === 7) && db.subarray(off + n).every((v) => v === 7),
              `copyShared wrote outside dst (n=${n}, offset ${off})`,
            );
          }
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
      it(`native-${isa} ${dtype}: addIntoCheck adds as addInto does and returns the sum's first non-finite index, an overflow included`, () => {
        const big = dtype === 'float32' ? 3e38 : 1.7e308;
        for (const n of [0, 1, 63, 64, 65, 200, 1000, NORM_BLOCK + 9]) {
          const cases: [string, (a: Float, b: Float) => void][] = [
            ['finite', () => {}],
            ...[0, n >> 1, n - 1].flatMap((at): [string, (a: Float, b: Float) => void][] => [
              [`NaN at ${at}`, (a) => void (a[at] = NaN)],
              [`-Infinity at ${at} in b`, (_a, b) => void (b[at] = -Infinity)],
              [
                `an overflow at ${at}, a NaN after it`,
                (a, b) => {
                  a[at] = big;
                  b[at] = big;
                  if (at + 70 < n) a[at + 70] = NaN;
                },
              ],
            ]),
          ];
          for (const [label, set] of cases) {
            if (n === 0 && label !== 'finite') continue;
            const a = copy(data(dtype, n, 11));
            const b = copy(data(dtype, n, 12));
            set(a, b);
            const want = copy(a);
            ref.addInto(n, want, b);
            const got = copy(a);
            const at = nat.addIntoCheck(n, got, b);
            assertBitEqual(got, want, `addIntoCheck n=${n} ${label}`);
            assert.equal(at, ref.firstNonFinite(n, want), `addIntoCheck n=${n} ${label}: the index`);
            assert.equal(ref.addIntoCheck(n, copy(a), b), at, `the reference's default n=${n} ${label}`);
          }
        }
      });
      it(`native-${isa} ${dtype}: activationStats counts what the reference counts, for every activation`, () => {
        for (const [m, n] of [
          [1, 1],
          [3, 7],
          [16, 256],
          [5, 300],
          [64, 10],
        ] as const) {
          // z around 0 (±0 and NaN included); a near the saturation thresholds of tanh and sigmoid
          const z = data(dtype, m * n, m + n);
          z[0] = 0;
          if (m * n > 2) {
            z[1] = -0;
            z[2] = NaN;
          }
          const a = alloc(dtype, m * n);
          const rng = new Rng(m * n);
          for (let i = 0; i < a.length; i++)
            a[i] = [0.99498743710662, -0.995, 0.9975, 0.5, 0.0025, 0.99749, 1, 0][rng.nextInt(8)]! + (rng.nextInt(3) - 1) * 1e-7;
          for (const f of ['tanh', 'sigmoid', 'relu', 'linear', 'softmax'] as const) {
            const or = Float64Array.from({ length: 1 + n }, (_, j) => j);
            const on = Float64Array.from(or);
            ref.activationStats(f, m, n, z, a, or);
            nat.activationStats(f, m, n, z, a, on);
            assertBitEqual(on, or, `activationStats ${f} (${m}, ${n})`);
          }
        }
      });
      it(`native-${isa} ${dtype}: refuses a short array, a bad divisor and a flag that is not a boolean with a RangeError`, () => {
        assert.throws(() => nat.addInto(10, alloc(dtype, 9), alloc(dtype, 10)), {
          name: 'RangeError',
          message: /a has 9 elements, needs 10/,
        });
        assert.throws(() => nat.reduceGrad(4, alloc(dtype, 4), alloc(dtype, 4), 0.5, 0, new Float64Array(2)), {
          name: 'RangeError',
          message: /divisor must be an integer/,
        });
        const v = (): Float => alloc(dtype, 4);
        assert.throws(() => nat.addReduceGrad(4, v(), v(), v(), 0.5, 0, new Float64Array(2), v()), {
          name: 'RangeError',
          message: /divisor must be an integer/,
        });
        assert.throws(() => nat.addReduceGrad(4, v(), v(), v(), 1, 0, new Float64Array(2), alloc(dtype, 3)), {
          name: 'RangeError',
          message: /g has 3 elements, needs 4/,
        });
        assert.throws(() => nat.copyShared(4, v(), alloc(dtype, 3)), { name: 'RangeError', message: /dst has 3 elements, needs 4/ });
        assert.throws(() => nat.reduceSgd(4, v(), null, v(), 0.5, 0, 0.1, new Float64Array(2), false), {
          name: 'RangeError',
          message: /divisor must be an integer/,
        });
        assert.throws(() => nat.reduceSgd(4, v(), alloc(dtype, 3), v(), 1, 0, 0.1, new Float64Array(2), false), {
          name: 'RangeError',
          message: /b has 3 elements, needs 4/,
        });
        assert.throws(() => nat.reduceSgd(4, v(), null, alloc(dtype, 3), 1, 0, 0.1, new Float64Array(2), false), {
          name: 'RangeError',
          message: /p has 3 elements, needs 4/,
        });
        assert.throws(() => nat.reduceSgd(4, v(), null, v(), 1, 0, 0.1, new Float64Array(1), false), {
          name: 'RangeError',
          message: /out has 1 elements, needs 2/,
        });
        assert.throws(() => nat.reduceSgd(4, v(), null, v(), 1, 0, 0.1, new Float64Array(2), 1 as unknown as boolean), {
          name: 'RangeError',
          message: /shared must be a boolean/,
        });
        assert.throws(() => nat.gemmTNCheck(2, 2, 2, v(), v(), alloc(dtype, 3), true), {
          name: 'RangeError',
          message: /C has 3 elements, needs 4/,
        });
        assert.throws(() => nat.gemmTNCheck(2, 2, 2, v(), v(), v(), 1 as unknown as boolean), {
          name: 'RangeError',
          message: /shared must be a boolean/,
        });
      });
    }
  }
});
