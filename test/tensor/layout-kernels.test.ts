import assert from 'node:assert/strict';
import { alloc, type DType, type Float } from '../../src/tensor/dtype';
import { col2im, im2col, type ConvGeometry } from '../../src/tensor/im2col';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import type { KernelProfile, KernelSet } from '../../src/tensor/kernels';
import { maxPool, maxPoolBackward } from '../../src/tensor/pool';
import { Rng } from '../../src/tensor/rng';
import { nativeIsas, nativeKernels } from '../../src/tensor/fast/native';
import { wasmKernels } from '../../src/tensor/fast/wasm';
import { assertGuards, assertSameBits, convGeometry, data, place, SHAPES, STORAGES } from '../helpers/kernel-data';

const DTYPES: DType[] = ['float32', 'float64'];

/** Every kernel set of a profile this machine runs, the reference's own first: native builds, WebAssembly (portable only). */
function sets(dtype: DType, profile: KernelProfile): KernelSet[] {
  const out: KernelSet[] = [referenceKernels(dtype, profile)];
  for (const isa of nativeIsas(profile)) out.push(nativeKernels(isa, dtype));
  if (profile === 'portable') out.push(wasmKernels(dtype));
  return out;
}

/** Ragged geometries: 1–3 channels, sizes 1–9, kernels 1–5, strides 1–3, paddings 0–2, and the bench CNN's two. */
function* geometries(): Generator<ConvGeometry> {
  for (const c of [1, 3])
    for (const [h, w] of [
      [1, 1],
      [5, 9],
      [8, 7],
    ])
      for (const k of [1, 2, 3, 5])
        for (const stride of [1, 2, 3])
          for (const pad of [0, 1, 2]) {
            const g = convGeometry(c, h!, w!, k, stride, pad);
            if (g !== null) yield g;
          }
  yield convGeometry(1, 28, 28, 5, 1, 2)!;
  yield convGeometry(16, 14, 14, 5, 1, 2)!;
}

/** Values with every special (NaN, ±0, ±∞, subnormals) among them, and ties: a few distinct magnitudes repeated. */
function poolData(dtype: DType, n: number, rng: Rng): Float {
  const a = data(dtype, n, rng, 0.1);
  for (let i = 0; i < n; i++) if (rng.nextFloat() < 0.4) a[i] = [0, -0, 1, -1, 2][rng.nextInt(5)]!;
  return a;
}

describe('gemmNTAcc (C += A·Bᵀ, each element continuing from C)', function () {
  this.timeout(120000);
  for (const profile of ['portable', 'fma'] as const) {
    for (const dtype of DTYPES) {
      it(`${profile} ${dtype}: every kernel set matches the reference from a stale C, in every storage`, () => {
        const rng = new Rng(31);
        const ref = referenceKernels(dtype, profile);
        for (const [m, n, k] of [...SHAPES, [16, 25, 784], [32, 400, 196], [32, 1, 196]]) {
          const A = data(dtype, m! * k!, rng, 0.02);
          const B = data(dtype, n! * k!, rng, 0.02);
          const C0 = data(dtype, m! * n!, rng, 0.05);
          const want = C0.slice();
          ref.gemmNTAcc(m!, n!, k!, A, B, want);
          for (const ks of sets(dtype, profile).slice(1)) {
            for (const st of STORAGES) {
              const C = place(C0, st);
              ks.gemmNTAcc(m!, n!, k!, place(A, st), place(B, st), C);
              const label = `${ks.id} gemmNTAcc (${m}, ${n}, ${k}) ${st}`;
              assertSameBits(C, want, label);
              assertGuards(C, label);
            }
          }
        }
      });

      it(`${profile} ${dtype}: gemmNT over the first examples, then gemmNTAcc per example, gives gemmNT's bits over all of them`, () => {
        const rng = new Rng(32);
        for (const [m, n, parts] of [
          [32, 400, [196, 196, 196]],
          [5, 3, [1, 7, 0, 13]],
          [17, 9, [33, 2]],
        ] as [number, number, number[]][]) {
          const k = parts.reduce((s, p) => s + p, 0);
          // A (m, k) and B (n, k) whole, and each part's columns as its own contiguous (m, p) and (n, p)
          const A = data(dtype, m * k, rng, 0.02);
          const B = data(dtype, n * k, rng, 0.02);
          for (let i = 0; i < A.length; i++) A[i] = A[i]! / 64;
          const cut = (X: Float, rows: number, from: number, p: number): Float => {
            const out = alloc(dtype, rows * p);
            for (let r = 0; r < rows; r++) out.set(X.subarray(r * k + from, r * k + from + p), r * p);
            return out;
          };
          for (const ks of sets(dtype, profile)) {
            const whole = alloc(dtype, m * n);
            ks.gemmNT(m, n, k, A, B, whole);
            const C = data(dtype, m * n, rng); // stale: the first call must not read it
            let from = 0;
            parts.forEach((p, i) => {
              const f = i === 0 ? ks.gemmNT : ks.gemmNTAcc;
              f(m, n, p, cut(A, m, from, p), cut(B, n, from, p), C);
              from += p;
            });
            assertSameBits(C, whole, `${ks.id} (${m}, ${n}) parts ${parts.join('+')}`);
          }
        }
      });
    }
  }
});

describe('the layout kernels (im2col, col2im, maxPool) of every kernel set, bit for bit against the TypeScript loops', function () {
  this.timeout(120000);
  for (const dtype of DTYPES) {
    it(`${dtype}: im2col and col2im on ragged geometries, strides, paddings and special values, over stale outputs`, () => {
      const rng = new Rng(41);
      let checked = 0;
      for (const g of geometries()) {
        for (const rows of [1, 3]) {
          const K = g.c * g.kh * g.kw;
          const P = g.oh * g.ow;
          const x = data(dtype, rows * g.c * g.h * g.w, rng, 0.1);
          const dcols = data(dtype, K * rows * P, rng, 0.05);
          const wantCols = alloc(dtype, K * rows * P);
          im2col(rows, g, x, wantCols);
          const wantDx = alloc(dtype, x.length);
          col2im(rows, g, dcols, wantDx);
          for (const ks of sets(dtype, 'portable')) {
            for (const st of STORAGES) {
              const label = `${ks.id} ${JSON.stringify(g)} rows ${rows} ${st}`;
              const cols = place(data(dtype, wantCols.length, rng), st);
              ks.im2col(rows, g, place(x, st), cols);
              assertSameBits(cols, wantCols, `${label} im2col`);
              assertGuards(cols, `${label} im2col`);
              const dx = place(data(dtype, x.length, rng), st);
              ks.col2im(rows, g, place(dcols, st), dx);
              assertSameBits(dx, wantDx, `${label} col2im`);
              assertGuards(dx, `${label} col2im`);
              checked++;
            }
          }
        }
      }
      assert.ok(checked > 500, `${checked} checks`);
    });

    it(`${dtype}: maxPool on ragged sizes and strides with ties, ±0, ±∞ and NaN: the same values and winners`, () => {
      const rng = new Rng(42);
      let checked = 0;
      for (const [c, h, w] of [
        [1, 2, 2],
        [2, 6, 6],
        [3, 7, 9],
        [16, 28, 28],
        [32, 14, 14],
        [2, 40, 66],
      ] as [number, number, number][]) {
        for (const [size, stride] of [
          [1, 1],
          [2, 2],
          [2, 1],
          [3, 2],
          [3, 3],
        ]) {
          if (size! > h || size! > w) continue;
          const oh = Math.floor((h - size!) / stride!) + 1;
          const ow = Math.floor((w - size!) / stride!) + 1;
          for (const rows of [1, 2]) {
            const x = poolData(dtype, rows * c * h * w, rng);
            const want = alloc(dtype, rows * c * oh * ow);
            const wantArg = new Int32Array(want.length);
            maxPool(rows, c, h, w, size!, stride!, x, want, wantArg);
            // the gradient: −0s among gOut (+0 + −0 is +0), overlapping windows where stride < size
            const gOut = poolData(dtype, want.length, rng);
            const wantG = alloc(dtype, x.length);
            maxPoolBackward(rows, c * h * w, c * oh * ow, gOut, wantArg, wantG);
            for (const ks of sets(dtype, 'portable')) {
              for (const st of STORAGES) {
                const label = `${ks.id} (${rows}, ${c}, ${h}, ${w}) size ${size} stride ${stride} ${st}`;
                const out = place(data(dtype, want.length, rng), st);
                const arg = new Int32Array(want.length).fill(-3);
                ks.maxPool(rows, c, h, w, size!, stride!, place(x, st), out, arg);
                assertSameBits(out, want, label);
                assertGuards(out, label);
                assert.deepEqual(arg, wantArg, `${label}: winners`);
                const g = place(data(dtype, x.length, rng), st);
                ks.maxPoolBackward(rows, c * h * w, c * oh * ow, place(gOut, st), wantArg, g);
                assertSameBits(g, wantG, `${label} backward`);
                assertGuards(g, `${label} backward`);
                checked++;
              }
            }
          }
        }
      }
      assert.ok(checked > 100, `${checked} checks`);
    });
  }

  it('maxPool: the first maximum wins a tie, the first NaN wins over everything, +0 and −0 tie', () => {
    // one 2×2 window per case, row-major [a, b; c, d]
    const cases: [number[], number, number][] = [
      [[1, 3, 3, 2], 3, 1],
      [[-0, 0, 0, -0], -0, 0],
      [[0, -0, 0, 0], 0, 0],
      [[1, NaN, Infinity, NaN], NaN, 1],
      [[-Infinity, -Infinity, -Infinity, -Infinity], -Infinity, 0],
      [[2, 1, 5, 5], 5, 2],
      [[NaN, 7, 9, 1], NaN, 0],
    ];
    for (const ks of sets('float32', 'portable')) {
      for (const [x, v, at] of cases) {
        const out = new Float32Array(1);
        const arg = new Int32Array(1);
        ks.maxPool(1, 1, 2, 2, 2, 2, Float32Array.from(x), out, arg);
        assert.ok(Object.is(out[0], v), `${ks.id} ${x.join(', ')}: ${out[0]} vs ${v}`);
        assert.equal(arg[0], at, `${ks.id} ${x.join(', ')}: winner`);
      }
    }
  });

  it('maxPoolBackward adds from +0: a −0 gradient becomes +0, and an input two windows chose gets both terms in window order', () => {
    for (const ks of sets('float32', 'portable')) {
      const g = new Float32Array(3).fill(NaN);
      ks.maxPoolBackward(1, 3, 3, Float32Array.from([-0, 1e-8, 1]), Int32Array.from([0, 2, 2]), g);
      assert.ok(Object.is(g[0], 0), `${ks.id}: ${g[0]}`);
      assert.equal(g[1], 0);
      assert.equal(g[2], Math.fround(Math.fround(1e-8) + 1), ks.id);
    }
  });

  it('the native layout kernels refuse a kernel or window that does not fit, and arrays too short, before touching memory', function () {
    const isa = nativeIsas()[0];
    if (isa === undefined) this.skip();
    const ks = nativeKernels(isa, 'float32');
    const g: ConvGeometry = { c: 1, h: 4, w: 4, kh: 7, kw: 7, stride: 1, pad: 1, oh: 0, ow: 0 };
    assert.throws(() => ks.im2col(1, g, new Float32Array(16), new Float32Array(1000)), {
      name: 'RangeError',
      code: 'ERR_GS_NATIVE_DIM',
      message: 'the kernel must fit the padded input, with stride ≥ 1',
    });
    const ok: ConvGeometry = { c: 1, h: 4, w: 4, kh: 3, kw: 3, stride: 1, pad: 1, oh: 4, ow: 4 };
    assert.throws(() => ks.im2col(2, ok, new Float32Array(16), new Float32Array(9 * 32)), {
      name: 'RangeError',
      code: 'ERR_GS_NATIVE_LENGTH',
      message: 'x has 16 elements, needs 32',
    });
    assert.throws(() => ks.col2im(1, ok, new Float32Array(9 * 16 - 1), new Float32Array(16)), {
      code: 'ERR_GS_NATIVE_LENGTH',
      message: 'dcols has 143 elements, needs 144',
    });
    assert.throws(() => ks.maxPool(1, 1, 2, 2, 3, 1, new Float32Array(4), new Float32Array(1), new Int32Array(1)), {
      code: 'ERR_GS_NATIVE_DIM',
      message: 'the window must fit the input, with stride ≥ 1',
    });
    assert.throws(() => ks.maxPool(1, 1, 4, 4, 2, 2, new Float32Array(16), new Float32Array(4), new Int32Array(3)), {
      code: 'ERR_GS_NATIVE_LENGTH',
      message: 'arg has 3 elements, needs 4',
    });
    assert.throws(
      () => ks.maxPool(1, 1, 4, 4, 2, 2, new Float32Array(16), new Float32Array(4), new Float32Array(4) as unknown as Int32Array),
      {
        code: 'ERR_GS_NATIVE_TYPE',
        message: 'arg must be an Int32Array',
      },
    );
    assert.throws(() => ks.maxPoolBackward(2, 4, 1, new Float32Array(2), Int32Array.from([3, 4]), new Float32Array(8)), {
      code: 'ERR_GS_NATIVE_INDEX',
      message: "arg[1] = 4 is outside an example's 4 inputs",
    });
  });
});
