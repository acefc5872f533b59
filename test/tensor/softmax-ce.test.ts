/**
 * The softmax cross-entropy kernel (KernelSet.softmaxCE): every native build (and the
 * WebAssembly kernels, float32, with their softmax) against the reference, bit for bit — the gradient and the loss sum — over row widths across the native
 * chunk of 256, logits from tiny to overflowing exp, soft and one-hot targets, and rows with
 * NaN and infinities; and the reference against the plain formula.
 */
import assert from 'node:assert/strict';
import { alloc, type DType, type Float } from '../../src/tensor/dtype';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import type { KernelSet } from '../../src/tensor/kernels';
import { nativeIsas, nativeKernels } from '../../src/tensor/fast/native';
import { wasmKernels } from '../../src/tensor/fast/wasm';
import { wasmLoadError } from '../../src/tensor/fast/wasm-module';
import { Rng } from '../../src/tensor/rng';
import { assertBitEqual } from '../helpers/close';

interface Case {
  rows: number;
  n: number;
  z: Float;
  y: Float;
  what: string;
}

function cases(dtype: DType): Case[] {
  const out: Case[] = [];
  const rng = new Rng(7);
  for (const rows of [1, 3, 64]) {
    for (const n of [1, 2, 10, 17, 300]) {
      for (const scale of [1e-3, 5, 100, 1e4]) {
        for (const target of ['one-hot', 'soft', 'zero'] as const) {
          const z = alloc(dtype, rows * n);
          const y = alloc(dtype, rows * n);
          for (let i = 0; i < z.length; i++) z[i] = rng.uniform(-1, 1) * scale;
          for (let r = 0; r < rows; r++) {
            if (target === 'one-hot') y[r * n + rng.nextInt(n)] = 1;
            else if (target === 'soft') for (let j = 0; j < n; j++) y[r * n + j] = rng.uniform(-0.2, 1);
          }
          out.push({ rows, n, z, y, what: `${rows}×${n}, logits ±${scale}, ${target} targets` });
        }
      }
    }
  }
  // special values: a NaN logit, ±∞ logits, a NaN target, −0 targets, equal logits
  const special: [number[], number[]][] = [
    [
      [NaN, 1, 2],
      [0, 1, 0],
    ],
    [
      [1, NaN, 2],
      [1, 0, 0],
    ],
    [
      [Infinity, 1, 2],
      [0, 0, 1],
    ],
    [
      [-Infinity, 1, 2],
      [1, 0, 0],
    ],
    [
      [-Infinity, -Infinity, 0],
      [0, 0, 1],
    ],
    [
      [Infinity, Infinity, 0],
      [1, 0, 0],
    ],
    [
      [1, 2, 3],
      [NaN, 0, 1],
    ],
    [
      [1, 2, 3],
      [-0, -0, 1],
    ],
    [
      [4, 4, 4],
      [0.5, 0.5, 0],
    ],
  ];
  for (const [zs, ys] of special) {
    out.push({
      rows: 1,
      n: 3,
      z: Float64Array.from(zs).map((v) => v) as Float,
      y: Float64Array.from(ys) as Float,
      what: `z ${zs.join(',')}, y ${ys.join(',')}`,
    });
  }
  return out.map((c) => (dtype === 'float32' ? { ...c, z: Float32Array.from(c.z), y: Float32Array.from(c.y) } : c));
}

function sameDouble(a: number, b: number): boolean {
  return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
}

describe('softmax cross-entropy kernel (KernelSet.softmaxCE)', () => {
  for (const dtype of ['float32', 'float64'] as DType[]) {
    const ref = referenceKernels(dtype);

    it(`reference ${dtype}: g = softmax(z)·Σy − y, and the loss −Σ y·log softmax(z), within rounding`, () => {
      const z = Float64Array.from([0.5, -1, 2]);
      const y = Float64Array.from([0, 0, 1]);
      const a = alloc(dtype, 3);
      ref.activate('softmax', 1, 3, dtype === 'float32' ? Float32Array.from(z) : z, a);
      const g = alloc(dtype, 3);
      const loss = ref.softmaxCE(
        1,
        3,
        dtype === 'float32' ? Float32Array.from(z) : z,
        a,
        dtype === 'float32' ? Float32Array.from(y) : y,
        g,
      );
      const e = [...z].map(Math.exp);
      const s = e.reduce((p, v) => p + v, 0);
      assert.ok(Math.abs(loss - -Math.log(e[2]! / s)) < 1e-6, `loss ${loss}`);
      [...g].forEach((v, j) => assert.ok(Math.abs(v - (e[j]! / s - y[j]!)) < 1e-6, `g[${j}] ${v}`));
    });

    // every native build, and the WebAssembly kernels in float32 (float64's softmaxCE is the reference's)
    const fast: KernelSet[] = [
      ...nativeIsas().map((isa) => nativeKernels(isa, dtype)),
      ...(dtype === 'float32' && wasmLoadError() === null ? [wasmKernels(dtype)] : []),
    ];
    for (const ks of fast) {
      it(`${ks.id} ${dtype}: the reference's softmax, gradient and loss sum, bit for bit`, () => {
        for (const c of cases(dtype)) {
          const a = alloc(dtype, c.rows * c.n);
          ref.activate('softmax', c.rows, c.n, c.z, a);
          const fa = alloc(dtype, c.rows * c.n);
          ks.activate('softmax', c.rows, c.n, c.z, fa);
          assertBitEqual(fa, a, `softmax, ${c.what}`);
          const want = alloc(dtype, c.rows * c.n);
          const got = alloc(dtype, c.rows * c.n);
          const wantLoss = ref.softmaxCE(c.rows, c.n, c.z, a, c.y, want);
          const gotLoss = ks.softmaxCE(c.rows, c.n, c.z, a, c.y, got);
          assertBitEqual(got, want, `g, ${c.what}`);
          assert.ok(sameDouble(gotLoss, wantLoss), `loss ${gotLoss} ≠ ${wantLoss}, ${c.what}`);
        }
        assert.equal(ks.softmaxCE(0, 3, alloc(dtype, 0), alloc(dtype, 0), alloc(dtype, 0), alloc(dtype, 0)), 0);
      });
      it(`${ks.id} ${dtype}: refuses short arrays`, () => {
        const v = (len: number): Float => alloc(dtype, len);
        assert.throws(() => ks.softmaxCE(2, 3, v(6), v(6), v(5), v(6)), { name: 'RangeError', message: /y has 5 elements, needs 6/ });
        assert.throws(() => ks.softmaxCE(2, 0, v(0), v(0), v(0), v(0)), { name: 'RangeError', message: /n must be at least 1/ });
      });
    }
  }
});
