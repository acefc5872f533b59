import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { validate } from '../../src/config/validate';
import { alloc, type DType, type Float } from '../../src/tensor/dtype';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import type { KernelSet } from '../../src/tensor/kernels';
import { Rng } from '../../src/tensor/rng';
import { exp32 } from '../../src/tensor/spec-math';
import { wasmKernels } from '../../src/tensor/fast/wasm';
import { wasmLoadError } from '../../src/tensor/fast/wasm-module';
import { kernelInfo, selectKernels } from '../../src/tensor/select';
import { train } from '../../src/train/loop';
import { repoRoot, tempDir } from '../helpers/paths';
import { workloadPass } from '../helpers/mlp-run';
import { assertGuards, assertSameBits, data, gemmInWorker, place, specials, STORAGES } from '../helpers/kernel-data';

const DTYPES: DType[] = ['float32', 'float64'];
const GEMMS = ['gemmNT', 'gemmTN', 'gemmNN'] as const;
const HINT = 'the WebAssembly module is built by `npm run build` (scripts/build-wasm.js)';

// ---- shapes ------------------------------------------------------------------------------

const WORKLOAD = {
  gemmNT: [
    [128, 256, 784],
    [128, 128, 256],
    [128, 10, 128],
  ],
  gemmTN: [
    [256, 784, 128],
    [128, 256, 128],
    [10, 128, 128],
  ],
  gemmNN: [
    [128, 784, 256],
    [128, 256, 128],
  ],
} as const;
/** Tiny, ragged (m not a multiple of 4, n not of 8 or 4), primes, k = 0, empty. */
const SHAPES: number[][] = [
  [1, 1, 1],
  [1, 1, 0],
  [3, 5, 0],
  [0, 4, 3],
  [4, 0, 3],
  [2, 3, 1],
  [1, 17, 2],
  [17, 1, 3],
  [4, 8, 16],
  [4, 4, 1],
  [5, 9, 7],
  [7, 13, 17],
  [8, 32, 5],
  [9, 33, 31],
  [3, 7, 64],
  [6, 16, 8],
  [12, 48, 64],
  [17, 31, 129],
  [31, 37, 41],
  [13, 100, 3],
  [5, 67, 300],
  [1, 257, 260],
  [23, 29, 397],
  [130, 10, 11],
  [2, 1031, 3],
];

const available = (): boolean => wasmLoadError() === null;

describe('WebAssembly SIMD kernels (bit for bit against the reference)', function () {
  this.timeout(120000);

  it('the module is assembled and instantiates on this machine', () => {
    assert.equal(wasmLoadError(), null, HINT);
    for (const dtype of DTYPES) {
      const ks = wasmKernels(dtype);
      assert.equal(ks.id, 'wasm-simd128');
      assert.equal(ks.dtype, dtype);
    }
  });

  for (const dtype of DTYPES) {
    describe(dtype, () => {
      const ref = referenceKernels(dtype);

      for (const g of GEMMS) {
        it(`${g} matches on tiny, ragged, prime, k = 0 and empty shapes, in every storage, over stale C`, function () {
          if (!available()) this.skip();
          const ks = wasmKernels(dtype);
          const rng = new Rng(101);
          for (const [m, n, k] of SHAPES) {
            for (const special of [0, 0.03]) {
              const A = data(dtype, m! * k!, rng, special);
              const B = data(dtype, n! * k!, rng, special);
              const want = alloc(dtype, m! * n!);
              ref[g](m!, n!, k!, A, B, want);
              for (const st of STORAGES) {
                const C = place(data(dtype, m! * n!, rng, 0.1), st);
                ks[g](m!, n!, k!, place(A, st), place(B, st), C);
                const label = `${g} (${m}, ${n}, ${k}) special=${special} ${st}`;
                assertSameBits(C, want, label);
                assertGuards(C, label);
              }
            }
          }
        });

        it(`${g} matches on 60 random shapes up to 70 × 70 × 90, after and between large ones`, function () {
          if (!available()) this.skip();
          const ks = wasmKernels(dtype);
          const rng = new Rng(102 + GEMMS.indexOf(g));
          const shapes: number[][] = [[300, 200, 500]];
          for (let i = 0; i < 60; i++) shapes.push([1 + rng.nextInt(70), 1 + rng.nextInt(70), rng.nextInt(91)]);
          shapes.splice(30, 0, [257, 129, 1100]); // linear memory grows mid-way
          for (const [m, n, k] of shapes) {
            const A = data(dtype, m! * k!, rng);
            const B = data(dtype, n! * k!, rng);
            for (let i = 0; i < A.length; i++) A[i] = A[i]! / 64;
            const want = alloc(dtype, m! * n!);
            ref[g](m!, n!, k!, A, B, want);
            const C = alloc(dtype, m! * n!);
            ks[g](m!, n!, k!, A, B, C);
            assertSameBits(C, want, `${g} (${m}, ${n}, ${k})`);
          }
        });

        it(`${g} matches on the workload's shapes`, function () {
          if (!available()) this.skip();
          const ks = wasmKernels(dtype);
          const rng = new Rng(103);
          for (const [m, n, k] of WORKLOAD[g]) {
            const A = data(dtype, m * k, rng);
            const B = data(dtype, n * k, rng);
            for (let i = 0; i < A.length; i++) A[i] = A[i]! / 64;
            const want = alloc(dtype, m * n);
            ref[g](m, n, k, A, B, want);
            const C = place(alloc(dtype, m * n), 'shared view');
            ks[g](m, n, k, place(A, 'view'), B, C);
            assertSameBits(C, want, `${g} (${m}, ${n}, ${k})`);
          }
        });
      }

      it('a full forward and backward of the workload MLP gives the same loss and gradient bits', function () {
        if (!available()) this.skip();
        const run = (ks: KernelSet): { loss: number; grads: Float } => workloadPass(ks, dtype, 104);
        const want = run(ref);
        const got = run(wasmKernels(dtype));
        assert.ok(Object.is(got.loss, want.loss), `loss ${got.loss} vs ${want.loss}`);
        assertSameBits(got.grads, want.grads, 'gradients');
      });

      it('addInto and sgdUpdate match on special values, ragged lengths and every storage', function () {
        if (!available()) this.skip();
        const ks = wasmKernels(dtype);
        const rng = new Rng(107);
        for (const n of [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 1000, 235146]) {
          const a0 = data(dtype, n, rng, 0.05);
          const b = data(dtype, n, rng, 0.05);
          const want = a0.slice();
          ref.addInto(n, want, b);
          for (const st of STORAGES) {
            const a = place(a0, st);
            ks.addInto(n, a, place(b, st));
            assertSameBits(a, want, `addInto (${n}) ${st}`);
            assertGuards(a, 'addInto');
          }
          for (const lr of [0.05, 0.1 + 1e-17, 1e10, -3, 1e-30, 0.7]) {
            const g = data(dtype, n, rng, 0.05);
            const p0 = data(dtype, n, rng, 0.05);
            const wantP = p0.slice();
            const wantU = alloc(dtype, n);
            ref.sgdUpdate(n, lr, g, wantP, wantU);
            for (const st of STORAGES) {
              const p = place(p0, st);
              const u = place(data(dtype, n, rng), st);
              ks.sgdUpdate(n, lr, place(g, st), p, u);
              assertSameBits(u, wantU, `sgdUpdate u (${n}, lr ${lr}) ${st}`);
              assertSameBits(p, wantP, `sgdUpdate p (${n}, lr ${lr}) ${st}`);
              assertGuards(p, 'sgdUpdate p');
              assertGuards(u, 'sgdUpdate u');
            }
          }
        }
      });

      it('reduceGrad matches: the reduced gradient bits and both sums of squares, with and without weight decay', function () {
        if (!available()) this.skip();
        const ks = wasmKernels(dtype);
        const rng = new Rng(108);
        for (const n of [0, 1, 7, 8, 9, 33, 1000, 235146]) {
          for (const special of [0, 0.02]) {
            for (const [divisor, lambda] of [
              [1, 0],
              [8, 0],
              [128, 1e-4],
              [3, -0],
              [1, 0.5],
              [16777216, 3e-7],
            ] as const) {
              const g0 = data(dtype, n, rng, special);
              const p0 = data(dtype, n, rng, special);
              for (let i = 0; i < n; i++) {
                g0[i] = g0[i]! / 1e3;
                p0[i] = p0[i]! / 1e3;
              } // mostly finite sums
              const wantG = g0.slice();
              const wantOut = new Float64Array(2);
              ref.reduceGrad(n, wantG, p0, divisor, lambda, wantOut);
              const st = STORAGES[rng.nextInt(STORAGES.length)]!;
              const g = place(g0, st);
              const out = new Float64Array([7, 7]);
              ks.reduceGrad(n, g, place(p0, st), divisor, lambda, out);
              const label = `reduceGrad (${n}, /${divisor}, λ ${lambda}, special ${special}) ${st}`;
              assertSameBits(g, wantG, label);
              assertGuards(g, label);
              assertSameBits(out, wantOut, `${label} sums`);
            }
          }
        }
      });

      it('reduceSgd matches: the new weights, the old ones left in a, both sums of squares, with and without b', function () {
        if (!available()) this.skip();
        const ks = wasmKernels(dtype);
        const rng = new Rng(109);
        for (const n of [0, 1, 7, 9, 1000, 235146]) {
          for (const [divisor, lambda] of [
            [1, 0],
            [128, 1e-4],
            [3, 0],
          ] as const) {
            for (const withB of [false, true]) {
              const a0 = data(dtype, n, rng, 0);
              const b0 = data(dtype, n, rng, 0);
              const p0 = data(dtype, n, rng, 0);
              for (let i = 0; i < n; i++) {
                a0[i] = a0[i]! / 1e3;
                b0[i] = b0[i]! / 1e3;
                p0[i] = p0[i]! / 1e3;
              }
              const wantA = a0.slice();
              const wantP = p0.slice();
              const wantOut = new Float64Array(2);
              ref.reduceSgd(n, wantA, withB ? b0 : null, wantP, divisor, lambda, 0.05, wantOut, false);
              const st = STORAGES[rng.nextInt(STORAGES.length)]!;
              const a = place(a0, st);
              const p = place(p0, st);
              const out = new Float64Array([7, 7]);
              ks.reduceSgd(n, a, withB ? place(b0, st) : null, p, divisor, lambda, 0.05, out, true);
              const label = `reduceSgd (${n}, /${divisor}, λ ${lambda}, b ${withB}) ${st}`;
              assertSameBits(p, wantP, `${label} p`);
              assertSameBits(a, wantA, `${label} a`);
              assertGuards(p, label);
              assertSameBits(out, wantOut, `${label} sums`);
            }
          }
        }
      });

      it('reduceSgd divides by a power of two as the reference does (float32: a multiply in float32), down to subnormal quotients, zeros and special values', function () {
        if (!available()) this.skip();
        const ks = wasmKernels(dtype);
        const tiny =
          dtype === 'float32'
            ? [1.2e-38, -3e-39, 1.4e-45, 7e-42, 0, -0, 5e-40, 1.17549435e-38]
            : [2.3e-308, -4e-310, 5e-324, 1e-315, 0, -0, 3e-320, 2.2250738585072014e-308];
        const odd = specials(dtype);
        for (const divisor of [1, 2, 128, 1024, 16777216, 3]) {
          for (const lambda of [0, 1e-4]) {
            const n = 67 + odd.length;
            const a0 = alloc(dtype, n);
            const b0 = alloc(dtype, n);
            const p0 = alloc(dtype, n);
            for (let i = 0; i < 67; i++) {
              a0[i] = tiny[i % tiny.length]! * (1 + i / 64);
              b0[i] = tiny[(i + 5) % tiny.length]!;
              p0[i] = tiny[(i + 3) % tiny.length]!;
            }
            odd.forEach((v, i) => {
              a0[67 + i] = v;
              b0[67 + i] = odd[(i + 7) % odd.length]!;
              p0[67 + i] = odd[(i + 3) % odd.length]!;
            });
            for (const withB of [false, true]) {
              const wantA = a0.slice();
              const wantP = p0.slice();
              const wantOut = new Float64Array(2);
              ref.reduceSgd(n, wantA, withB ? b0 : null, wantP, divisor, lambda, 0.5, wantOut, false);
              const a = a0.slice();
              const p = p0.slice();
              const out = new Float64Array(2);
              ks.reduceSgd(n, a, withB ? b0 : null, p, divisor, lambda, 0.5, out, false);
              const label = `reduceSgd /${divisor} λ ${lambda} b ${withB}`;
              assertSameBits(p, wantP, `${label} p`);
              assertSameBits(a, wantA, `${label} a`);
              assertSameBits(out, wantOut, `${label} sums`);
            }
          }
        }
      });

      it('reduceSgd of a sum that overflows reports a non-finite Σg², and a holds the exact old weights to put back', function () {
        if (!available()) this.skip();
        const ks = wasmKernels(dtype);
        const rng = new Rng(111);
        const n = 100;
        const big = dtype === 'float32' ? 3e38 : 1.7e308;
        const a = data(dtype, n, rng, 0);
        const b = data(dtype, n, rng, 0);
        a[60] = big;
        b[60] = big;
        const p0 = data(dtype, n, rng, 0);
        const p = p0.slice();
        const out = new Float64Array(2);
        ks.reduceSgd(n, a, b, p, 1, 0, 0.05, out, true);
        assert.equal(Number.isFinite(out[0]), false, `Σg² ${out[0]}`);
        assert.equal(p[60], -Infinity);
        p.set(a);
        assertSameBits(p, p0, 'weights put back from a');
      });

      it("firstNonFinite, and gemmTNCheck's scan of C in linear memory: the first NaN or ±∞, or −1", function () {
        if (!available()) this.skip();
        const ks = wasmKernels(dtype);
        const rng = new Rng(112);
        for (const n of [0, 1, 3, 7, 8, 9, 15, 16, 17, 1000, 200704]) {
          const a = data(dtype, n, rng);
          for (let i = 0; i < n; i++) if (!Number.isFinite(a[i]!)) a[i] = 1;
          for (const st of STORAGES) assert.equal(ks.firstNonFinite(n, place(a, st)), -1, `finite (${n}) ${st}`);
          // one bad value, then a second after it: the first is named wherever it falls in a vector
          for (const at of [...new Set([0, 1, 3, 4, 7, 8, n >> 1, n - 2, n - 1])].filter((x) => x >= 0 && x < n)) {
            for (const bad of [NaN, Infinity, -Infinity]) {
              const b = a.slice();
              b[at] = bad;
              if (at + 1 < n) b[n - 1] = NaN;
              assert.equal(
                ks.firstNonFinite(n, place(b, STORAGES[at % STORAGES.length]!)),
                ref.firstNonFinite(n, b),
                `${bad} at ${at} of ${n}`,
              );
              assert.equal(ks.firstNonFinite(n, b), at);
            }
          }
          assert.equal(ks.firstNonFinite(0, a), -1);
        }
        // gemmTNCheck: an ∞ in A's row p makes C's row i non-finite (a ∞·0 = NaN there too)
        for (const [m, n, k] of [
          [256, 784, 16],
          [5, 9, 7],
          [10, 128, 16],
          [1, 1, 1],
        ] as const) {
          for (const row of [0, m >> 1, m - 1]) {
            const A = data(dtype, m * k, rng);
            const B = data(dtype, n * k, rng);
            for (const x of [A, B]) for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i]!) || Math.abs(x[i]!) > 1e10) x[i] = 0.5;
            A[(k - 1) * m + row] = Infinity;
            const want = alloc(dtype, m * n);
            const wantBad = ref.gemmTNCheck(m, n, k, A, B, want, false);
            const C = place(data(dtype, m * n, rng), 'view');
            assert.equal(ks.gemmTNCheck(m, n, k, A, B, C, false), wantBad, `gemmTNCheck (${m}, ${n}, ${k}) ∞ in row ${row}`);
            assert.ok(wantBad >= row * n && wantBad < (row + 1) * n, `the reference names row ${row}: ${wantBad}`);
            assertSameBits(C, want, `gemmTNCheck (${m}, ${n}, ${k}) C`);
            assertGuards(C, 'gemmTNCheck');
          }
        }
      });

      it('rejects arrays of the wrong dtype or too short, and bad sizes, instead of reading past them', function () {
        if (!available()) this.skip();
        const ks = wasmKernels(dtype);
        const other = alloc(dtype === 'float32' ? 'float64' : 'float32', 16);
        const a = alloc(dtype, 16);
        assert.throws(() => ks.gemmNT(4, 4, 4, a, a, alloc(dtype, 15)), { name: 'RangeError', message: /C has 15 elements, needs 16/ });
        assert.throws(() => ks.gemmTN(4, 4, 4, a, other as Float, alloc(dtype, 16)), {
          name: 'RangeError',
          message: /B must be a Float(32|64)Array/,
        });
        assert.throws(() => ks.gemmNN(4, 4, 5, a, a, a), { name: 'RangeError', message: /A has 16 elements, needs 20/ });
        assert.throws(() => ks.gemmNN(-1, 4, 4, a, a, a), { name: 'RangeError', message: /m must be an integer/ });
        assert.throws(() => ks.gemmNT(2, 2.5, 4, a, a, a), { name: 'RangeError', message: /n must be an integer/ });
        assert.throws(() => ks.addInto(17, a, alloc(dtype, 17)), { name: 'RangeError', message: /a has 16 elements, needs 17/ });
        assert.throws(() => ks.sgdUpdate(16, 0.1, a, a, other as Float), { name: 'RangeError', message: /u must be a Float(32|64)Array/ });
      });
    });
  }

  it('the other kernels are the reference functions themselves', function () {
    if (!available()) this.skip();
    for (const dtype of DTYPES) {
      const ks = wasmKernels(dtype);
      const ref = referenceKernels(dtype);
      for (const f of ['gatherRows', 'exp', 'log'] as const) assert.equal(ks[f], ref[f], f);
    }
    const k64 = wasmKernels('float64');
    const r64 = referenceKernels('float64');
    for (const f of ['activate', 'addBias', 'colSum', 'activateBackward', 'activationStats', 'softmaxCE'] as const)
      assert.equal(k64[f], r64[f], `float64 ${f}`);
  });

  it("exp_f32 (softmax's exponentials) is spec-math exp32 bit for bit: special values, the cut-offs, and every 4096th float", function () {
    if (!available()) this.skip();
    // the module alone (the compiler's lib has no WebAssembly types: the few used, declared here)
    const W = (
      globalThis as unknown as {
        WebAssembly: { Module: new (b: Uint8Array) => object; Instance: new (m: object, i: object) => { exports: unknown } };
      }
    ).WebAssembly;
    const w = new W.Instance(new W.Module(fs.readFileSync(path.join(repoRoot(), 'dist', 'wasm', 'kernels.wasm'))), {}).exports as {
      memory: { buffer: ArrayBuffer; grow(pages: number): number };
      exp_f32(n: number, src: number, dst: number): void;
    };
    const xs: number[] = [...specials('float32')];
    // around the overflow and underflow cut-offs, and where k = round(x/ln 2) leaves [−126, 127]
    for (const c of [88.72283, -103.97208, -87.33655, -87.3, 88.0, -126 * Math.LN2, 127.5 * Math.LN2])
      for (let d = -64; d <= 64; d++) xs.push(c + d * 2 ** -18);
    // ties of Math.round(x·(1/ln 2)): the floats around (k + ½)·ln 2, by their bits; some land exactly on k + ½
    const one = new Float32Array(1);
    const oneBits = new Uint32Array(one.buffer);
    let ties = 0;
    for (let k = -150; k <= 128; k++) {
      one[0] = (k + 0.5) * Math.LN2;
      const b0 = oneBits[0]!;
      for (let d = -24; d <= 24; d++) {
        oneBits[0] = b0 + d;
        xs.push(one[0]!);
        if (Math.fround(one[0]! * Math.fround(1.4426950408889634)) === k + 0.5) ties++;
      }
    }
    assert.ok(ties > 50, `the set holds ${ties} exact ties`);
    const bits = new Uint32Array(1 << 20);
    for (let i = 0; i < bits.length; i++) bits[i] = (i * 4096 + 1234) >>> 0;
    const n = xs.length + bits.length;
    const src = 256;
    const dst = src + Math.ceil((n * 4 + 16) / 64) * 64;
    const need = dst + n * 4 + 16;
    if (w.memory.buffer.byteLength < need) w.memory.grow(Math.ceil((need - w.memory.buffer.byteLength) / 65536));
    const f = new Float32Array(w.memory.buffer);
    f.set(xs, src / 4);
    new Uint32Array(w.memory.buffer).set(bits, src / 4 + xs.length);
    w.exp_f32(n, src, dst);
    const got = f.subarray(dst / 4, dst / 4 + n);
    const want = Float32Array.from(f.subarray(src / 4, src / 4 + n), (x) => exp32(x));
    assertSameBits(got, want, 'exp_f32');
  });

  it('float32 addBias and colSum match on ragged shapes (n not a multiple of 4), special values and every storage', function () {
    if (!available()) this.skip();
    const ks = wasmKernels('float32');
    const ref = referenceKernels('float32');
    const rng = new Rng(113);
    for (const [m, n] of [
      [1, 1],
      [0, 3],
      [3, 0],
      [5, 7],
      [2, 5],
      [4, 6],
      [64, 256],
      [64, 10],
      [33, 129],
      [1000, 3],
      [3, 1001],
    ] as const) {
      const C0 = data('float32', m * n, rng, 0.05);
      const b = data('float32', n, rng, 0.05);
      const wantC = C0.slice();
      ref.addBias(m, n, wantC, b);
      const wantS = alloc('float32', n);
      ref.colSum(m, n, C0, wantS);
      for (const st of STORAGES) {
        const C = place(C0, st);
        ks.addBias(m, n, C, place(b, st));
        assertSameBits(C, wantC, `addBias (${m}, ${n}) ${st}`);
        assertGuards(C, 'addBias');
        const sum = place(data('float32', n, rng), st);
        ks.colSum(m, n, place(C0, st), sum);
        assertSameBits(sum, wantS, `colSum (${m}, ${n}) ${st}`);
        assertGuards(sum, 'colSum');
      }
    }
    assert.throws(() => ks.addBias(4, 5, alloc('float32', 16), alloc('float32', 5)), {
      name: 'RangeError',
      message: /C has 16 elements, needs 20/,
    });
    assert.throws(() => ks.colSum(4, 5, alloc('float32', 20), alloc('float64', 5) as Float), {
      name: 'RangeError',
      message: /out must be a Float32Array/,
    });
    assert.throws(() => ks.activate('softmax', 2, 3, alloc('float32', 6), alloc('float32', 5)), {
      name: 'RangeError',
      message: /a has 5 elements, needs 6/,
    });
  });

  it('float32 activateBackward and activationStats match for every activation on special values, dense grids and ragged lengths', function () {
    if (!available()) this.skip();
    const ks = wasmKernels('float32');
    const ref = referenceKernels('float32');
    const rng = new Rng(114);
    const sp = specials('float32');
    // outputs near the saturation limits (tanh: |a| near √0.99; sigmoid: a(1 − a) near 0.0025) and exactly 0, ±1
    const edges = [
      0,
      -0,
      1,
      -1,
      Math.sqrt(0.99),
      -Math.sqrt(0.99),
      0.99498743,
      0.9949875,
      (1 - Math.sqrt(0.99)) / 2,
      (1 + Math.sqrt(0.99)) / 2,
      0.00250627,
      0.0025,
      0.99749,
      0.9975,
    ];
    for (const f of ['tanh', 'sigmoid', 'relu', 'linear', 'softmax'] as const) {
      for (const [m, n] of [
        [1, 1],
        [1, 5],
        [2, 3],
        [3, 7],
        [1, sp.length],
        [64, 256],
        [64, 10],
        [7, 1001],
        [0, 4],
        [4, 0],
      ] as const) {
        const len = m * n;
        const z = data('float32', len, rng, 0.1);
        const a = alloc('float32', len);
        ref.activate(f, m, n, z, a);
        if (len === sp.length) a.set(sp);
        for (let i = 0; i < len; i += 3) a[i] = edges[(i / 3) % edges.length]!;
        const g0 = data('float32', len, rng, 0.05);
        const wantG = g0.slice();
        ref.activateBackward(f, m, n, z, a, wantG);
        const wantS = new Float64Array(1 + n).fill(2);
        ref.activationStats(f, m, n, z, a, wantS);
        for (const st of STORAGES) {
          const g = place(g0, st);
          ks.activateBackward(f, m, n, place(z, st), place(a, st), g);
          assertSameBits(g, wantG, `activateBackward ${f} (${m}, ${n}) ${st}`);
          assertGuards(g, 'activateBackward');
          const stats = new Float64Array(1 + n).fill(2);
          ks.activationStats(f, m, n, place(z, st), place(a, st), stats);
          assert.deepEqual([...stats], [...wantS], `activationStats ${f} (${m}, ${n}) ${st}`);
        }
      }
    }
    assert.throws(() => ks.activationStats('tanh', 2, 3, alloc('float32', 6), alloc('float32', 6), new Float64Array(3)), {
      name: 'RangeError',
      message: /out must be a Float64Array of at least 4 elements/,
    });
  });

  it("float32 activate('tanh') matches on special values, every binade, a dense grid and ragged lengths; the others too", function () {
    if (!available()) this.skip();
    const ks = wasmKernels('float32');
    const ref = referenceKernels('float32');
    const rng = new Rng(106);
    const vals: number[] = [...specials('float32')];
    for (let e = -149; e <= 127; e++) {
      for (let i = 0; i < 64; i++) {
        const v = Math.pow(2, e) * (1 + rng.nextFloat());
        vals.push(v, -v);
      }
    }
    for (let i = 0; i < 200000; i++) vals.push(rng.uniform(-12, 12));
    // around the branch points (0.5, 9.1) and where k = round(2|x|/ln 2) has ties
    for (const c of [0.5, 9.1, 9.0999994, 4.55]) for (let d = -40; d <= 40; d++) vals.push(c + d * 2 ** -22, -(c + d * 2 ** -22));
    for (let k = 1; k <= 27; k++) for (let d = -8; d <= 8; d++) vals.push(((k + 0.5) * Math.LN2) / 2 + d * 2 ** -24);
    const z = alloc('float32', vals.length);
    z.set(vals);
    for (const [m, n] of [
      [1, z.length],
      [Math.floor(z.length / 1000), 1000],
      [3, 7],
      [1, 1],
      [1, 5],
      [0, 9],
    ]) {
      const want = alloc('float32', m! * n!);
      ref.activate('tanh', m!, n!, z, want);
      for (const st of STORAGES) {
        const a = place(data('float32', m! * n!, rng), st);
        ks.activate('tanh', m!, n!, place(z.subarray(0, m! * n!), st), a);
        assertSameBits(a, want, `tanh (${m}, ${n}) ${st}`);
        assertGuards(a, 'tanh');
      }
    }
    for (const f of ['sigmoid', 'relu', 'linear', 'softmax'] as const) {
      const want = alloc('float32', 30 * 10);
      ref.activate(f, 30, 10, z, want);
      const a = alloc('float32', 30 * 10);
      ks.activate(f, 30, 10, z, a);
      assertSameBits(a, want, f);
    }
  });

  it('works inside a worker_thread (its own instance and memory) and gives the same bits', async function () {
    if (!available()) this.skip();
    assert.deepEqual(await gemmInWorker('wasm', 105), { id: 'wasm-simd128', fallbackNote: null });
  });
});

describe('training with the WebAssembly kernels', function () {
  this.timeout(120000);

  for (const dtype of DTYPES) {
    it(`gives the same paramsSha256 as the reference (${dtype}, digits MLP, 25 steps, main thread and 2 pool threads)`, async function () {
      if (!available()) this.skip();
      const cfg = validate({
        dtype,
        data: { source: 'digits', heldOut: 0.2, shuffle: true },
        model: {
          layers: [
            { units: 24, activation: 'tanh' },
            { units: 10, activation: 'softmax' },
          ],
          loss: 'cross-entropy',
          init: { scheme: 'glorot-uniform' },
        },
        optimizer: { kind: 'momentum', lr: 0.05, momentum: 0.9 },
        reduction: 'mean',
        batch: 32,
        microBatch: 8,
        steps: 25,
        seed: 7,
        threads: 0,
      });
      const ref = await train(cfg, { runDir: tempDir(), kernels: 'ref' });
      const wasm = await train(cfg, { runDir: tempDir(), kernels: 'wasm' });
      assert.equal(ref.kernel, 'ref-ts');
      assert.equal(wasm.kernel, 'wasm-simd128');
      assert.equal(wasm.paramsSha256, ref.paramsSha256);
      const pooled = await train({ ...cfg, threads: 2 }, { runDir: tempDir(), kernels: 'wasm' });
      assert.equal(pooled.paramsSha256, ref.paramsSha256);
    });
  }
});

describe('selecting the WebAssembly kernels', () => {
  it("'wasm' selects them without a note, and kernelInfo lists them between native and the reference", function () {
    if (!available()) this.skip();
    for (const dtype of DTYPES) assert.deepEqual(selectKernels(dtype, 'wasm'), { kernels: wasmKernels(dtype), fallbackNote: null });
    const info = kernelInfo();
    const i = info.available.indexOf('wasm-simd128');
    assert.ok(i >= 0, info.available.join(', '));
    assert.equal(info.available[info.available.length - 1], 'ref-ts');
    assert.ok(info.available.slice(0, i).every((id) => id.startsWith('native-')));
  });

  /**
   * The fallback runs for real: a copy of the compiled sources in a temporary package folder
   * (found the way an installed gradsync finds itself) with the module missing, failed or broken,
   * asked in a fresh process what it selects.
   */
  describe('when the module cannot run', function () {
    this.timeout(60000);
    let pkg = '';

    before(() => {
      pkg = tempDir('gradsync-nowasm-');
      fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'gradsync', private: true }));
      fs.cpSync(path.join(repoRoot(), 'dist', 'src'), path.join(pkg, 'dist', 'src'), {
        recursive: true,
        filter: (f) => !f.endsWith('.map') && !f.endsWith('.d.ts'),
      });
    });

    const probe = (): { wasm: { id: string; note: string | null }; auto: { id: string; note: string | null }; available: string[] } => {
      const select = path.join(pkg, 'dist', 'src', 'tensor', 'select.js');
      const r = spawnSync(
        process.execPath,
        [
          '-e',
          `
        const { selectKernels, kernelInfo } = require(${JSON.stringify(select)});
        const w = selectKernels('float32', 'wasm');
        const a = selectKernels('float64', 'auto');
        process.stdout.write(JSON.stringify({ wasm: { id: w.kernels.id, note: w.fallbackNote }, auto: { id: a.kernels.id, note: a.fallbackNote }, available: kernelInfo().available }));`,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as ReturnType<typeof probe>;
    };

    it('falls back to the reference with one note naming the missing file and the command that builds it', () => {
      const got = probe();
      assert.deepEqual(got.wasm, {
        id: 'ref-ts',
        note: 'WebAssembly SIMD kernels unavailable: not built (dist/wasm/kernels.wasm missing; run `node scripts/build-wasm.js`); using ref-ts',
      });
      // there is no native addon in that folder either: 'auto' says why for both, in order
      assert.equal(got.auto.id, 'ref-ts');
      assert.match(
        got.auto.note!,
        /^native kernels unavailable: native addon not built .*; WebAssembly SIMD kernels unavailable: not built \(dist\/wasm\/kernels\.wasm missing; .*\); using ref-ts$/,
      );
      assert.deepEqual(got.available, ['ref-ts']);
    });

    it('says why the build could not assemble it, when build-wasm.js left a reason', () => {
      fs.mkdirSync(path.join(pkg, 'dist', 'wasm'), { recursive: true });
      fs.writeFileSync(path.join(pkg, 'dist', 'wasm', 'kernels.wasm.error'), 'the wabt package is not installed (a devDependency)\n');
      try {
        assert.equal(
          probe().wasm.note,
          'WebAssembly SIMD kernels unavailable: not built (the wabt package is not installed (a devDependency); run `node scripts/build-wasm.js`); using ref-ts',
        );
      } finally {
        fs.rmSync(path.join(pkg, 'dist', 'wasm'), { recursive: true, force: true });
      }
    });

    it('says the module does not run here when the engine rejects it', () => {
      fs.mkdirSync(path.join(pkg, 'dist', 'wasm'), { recursive: true });
      fs.writeFileSync(path.join(pkg, 'dist', 'wasm', 'kernels.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0xff]));
      try {
        const got = probe();
        assert.equal(got.wasm.id, 'ref-ts');
        assert.match(
          got.wasm.note!,
          /^WebAssembly SIMD kernels unavailable: dist\/wasm\/kernels\.wasm does not run here: .+; using ref-ts$/,
        );
      } finally {
        fs.rmSync(path.join(pkg, 'dist', 'wasm'), { recursive: true, force: true });
      }
    });

    it('with the module in place, the copied package selects it: the seam is only the folder', function () {
      if (!available()) this.skip();
      fs.cpSync(path.join(repoRoot(), 'dist', 'wasm'), path.join(pkg, 'dist', 'wasm'), { recursive: true });
      try {
        const got = probe();
        assert.deepEqual(got.wasm, { id: 'wasm-simd128', note: null });
        assert.equal(got.auto.id, 'wasm-simd128');
        assert.match(got.auto.note!, /^native kernels unavailable: .*; using wasm-simd128$/);
        assert.deepEqual(got.available, ['wasm-simd128', 'ref-ts']);
      } finally {
        fs.rmSync(path.join(pkg, 'dist', 'wasm'), { recursive: true, force: true });
      }
    });
  });
});
