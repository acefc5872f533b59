import assert from 'node:assert/strict';
import { alloc, type DType, type Float } from '../../src/tensor/dtype';
import { ACTIVATIONS, KERNEL_SPEC_VERSION, type KernelSet } from '../../src/tensor/kernels';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import { Rng } from '../../src/tensor/rng';
import { nativeIsas, nativeKernels, nativeLoadError } from '../../src/tensor/fast/native';
import { isKernelChoice, KERNEL_CHOICES, kernelInfo, lineOffset, selectKernels } from '../../src/tensor/select';
import { workloadPass } from '../helpers/mlp-run';

const DTYPES: DType[] = ['float32', 'float64'];

/** Every fast KernelSet this machine can run, per dtype. */
function fastSets(dtype: DType): KernelSet[] {
  return nativeIsas().map((isa) => nativeKernels(isa, dtype));
}

import { assertGuards, assertSameBits, data, gemmInWorker, place, SHAPES, specials, STORAGES, WORKLOAD } from '../helpers/kernel-data';

const GEMMS = ['gemmNT', 'gemmTN', 'gemmNN'] as const;
/** Guard elements after a streamed C (a whole line's worth, and some). */
const GUARD_AFTER = 24;

function hasFast(): boolean {
  return nativeIsas().length > 0;
}

describe('fast kernels (bit for bit against the reference)', function () {
  this.timeout(120000);

  it('the native addon is built and runs on this machine (skipped when it cannot be)', function () {
    if (!hasFast()) this.skip();
    assert.ok(nativeIsas().includes('scalar'));
    assert.equal(nativeLoadError(), null);
  });

  it('both AVX-512 builds (512-bit and 256-bit GEMM vectors) are offered together, so the tests below compare both', function () {
    const isas = nativeIsas();
    if (!isas.includes('avx512') && !isas.includes('avx512-ymm')) this.skip();
    assert.ok(isas.includes('avx512') && isas.includes('avx512-ymm'), isas.join(', '));
    // one of them first (the CPU's better GEMM width), then AVX2 and the baseline
    assert.deepEqual(isas.slice(2), ['avx2', 'scalar']);
    assert.deepEqual([...isas.slice(0, 2)].sort(), ['avx512', 'avx512-ymm']);
  });

  for (const dtype of DTYPES) {
    describe(dtype, () => {
      const ref = referenceKernels(dtype);

      for (const g of GEMMS) {
        it(`${g} matches on tiny, ragged, prime and k = 0 shapes, in every storage`, function () {
          if (!hasFast()) this.skip();
          const rng = new Rng(11);
          for (const [m, n, k] of SHAPES) {
            for (const special of [0, 0.02]) {
              const A = data(dtype, m! * k!, rng, special);
              const B = data(dtype, n! * k!, rng, special);
              const want = alloc(dtype, m! * n!);
              ref[g](m!, n!, k!, A, B, want);
              for (const ks of fastSets(dtype)) {
                for (const st of STORAGES) {
                  const C = place(data(dtype, m! * n!, rng, 0.1), st); // stale contents must not leak in
                  ks[g](m!, n!, k!, place(A, st), place(B, st), C);
                  const label = `${ks.id} ${g} (${m}, ${n}, ${k}) special=${special} ${st}`;
                  assertSameBits(C, want, label);
                  assertGuards(C, label);
                }
              }
            }
          }
        });

        it(`${g} matches on the workload's shapes`, function () {
          if (!hasFast()) this.skip();
          const rng = new Rng(12);
          for (const [m, n, k] of WORKLOAD[g]) {
            const A = data(dtype, m * k, rng);
            const B = data(dtype, n * k, rng);
            for (let i = 0; i < A.length; i++) A[i] = A[i]! / 64; // mostly finite sums, like real activations
            const want = alloc(dtype, m * n);
            ref[g](m, n, k, A, B, want);
            for (const ks of fastSets(dtype)) {
              const C = place(alloc(dtype, m * n), 'shared view');
              ks[g](m, n, k, A, place(B, 'view'), C);
              assertSameBits(C, want, `${ks.id} ${g} (${m}, ${n}, ${k})`);
            }
          }
        });
      }

      it("gemmTNCheck: gemmTN's bits at every alignment of C to a cache line, streamed or not, nothing outside C written, and firstNonFinite(C) returned", function () {
        if (!hasFast()) this.skip();
        const rng = new Rng(16);
        const per = dtype === 'float32' ? 16 : 8; // elements per 64-byte line
        // the workload's shapes (whole lines per row of C at 784 and 256 columns), ragged ones,
        // and k past the GEMM's k block (1024), where only the last block streams
        for (const [m, n, k] of [[256, 784, 64], [128, 256, 64], [10, 128, 64], ...SHAPES, [48, 64, 1100]]) {
          for (const special of [0, 0.001]) {
            const A = data(dtype, m! * k!, rng, special);
            const B = data(dtype, n! * k!, rng, special);
            if (special === 0) for (let i = 0; i < A.length; i++) A[i] = A[i]! / 64;
            const want = alloc(dtype, m! * n!);
            ref.gemmTN(m!, n!, k!, A, B, want);
            const wantBad = ref.firstNonFinite(m! * n!, want);
            assert.equal(
              ref.gemmTNCheck(m!, n!, k!, A, B, place(want, 'plain'), false),
              wantBad,
              `reference gemmTNCheck's index (${m}, ${n}, ${k})`,
            );
            for (const ks of fastSets(dtype)) {
              for (const [shift, shared] of [
                [0, true],
                [1, true],
                [3, true],
                [per >> 1, true],
                [per - 1, true],
                [0, false],
                [5, false],
              ] as const) {
                // C `shift` elements past a line's start, guards around it
                const whole = alloc(dtype, m! * n! + 2 * per + GUARD_AFTER, true);
                whole.fill(-7.25);
                const base = (per - lineOffset(whole)! / whole.BYTES_PER_ELEMENT) % per;
                const C = whole.subarray(base + per + shift, base + per + shift + m! * n!);
                C.set(data(dtype, m! * n!, rng, 0.1)); // stale contents must not leak in
                const label = `${ks.id} gemmTNCheck (${m}, ${n}, ${k}) special=${special} shift ${shift}${shared ? ' shared' : ''}`;
                assert.equal(lineOffset(C), (shift * C.BYTES_PER_ELEMENT) % 64, `${label}: placement`);
                assert.equal(ks.gemmTNCheck(m!, n!, k!, A, B, C, shared), wantBad, `${label}: first non-finite index`);
                assertSameBits(C, want, label);
                const from = C.byteOffset / C.BYTES_PER_ELEMENT;
                assert.ok(
                  whole.subarray(0, from).every((v) => v === -7.25) && whole.subarray(from + C.length).every((v) => v === -7.25),
                  `${label}: wrote outside C`,
                );
              }
            }
          }
        }
      });

      it('addBias and colSum match, in every storage', function () {
        if (!hasFast()) this.skip();
        const rng = new Rng(13);
        for (const [m, n] of [
          [1, 1],
          [0, 3],
          [3, 0],
          [5, 7],
          [128, 256],
          [128, 10],
          [33, 129],
          [1000, 3],
        ]) {
          const C0 = data(dtype, m! * n!, rng, 0.05);
          const b = data(dtype, n!, rng, 0.05);
          const wantC = C0.slice();
          ref.addBias(m!, n!, wantC, b);
          const wantS = alloc(dtype, n!);
          ref.colSum(m!, n!, C0, wantS);
          for (const ks of fastSets(dtype)) {
            for (const st of STORAGES) {
              const C = place(C0, st);
              ks.addBias(m!, n!, C, place(b, st));
              assertSameBits(C, wantC, `${ks.id} addBias (${m}, ${n}) ${st}`);
              assertGuards(C, 'addBias');
              const s = place(data(dtype, n!, rng), st);
              ks.colSum(m!, n!, place(C0, st), s);
              assertSameBits(s, wantS, `${ks.id} colSum (${m}, ${n}) ${st}`);
              assertGuards(s, 'colSum');
            }
          }
        }
      });

      for (const f of ACTIVATIONS) {
        it(`activate('${f}') and activateBackward('${f}') match on special values and dense grids`, function () {
          if (!hasFast()) this.skip();
          const rng = new Rng(14 + ACTIVATIONS.indexOf(f));
          const sp = specials(dtype);
          const shapes = [
            [1, 1],
            [1, sp.length],
            [sp.length, 1],
            [3, 7],
            [37, 13],
            [128, 10],
            [128, 256],
            [7, 1001],
          ];
          for (const [m, n] of shapes) {
            const len = m! * n!;
            const z = data(dtype, len, rng, 0.1);
            if (len === sp.length) z.set(sp);
            const wantA = alloc(dtype, len);
            ref.activate(f, m!, n!, z, wantA);
            // backward on the true a, and on arbitrary a (the kernels must not assume a = f(z))
            const aIn = [wantA, data(dtype, len, rng, 0.1)];
            const g0 = data(dtype, len, rng, 0.05);
            for (const ks of fastSets(dtype)) {
              for (const st of STORAGES) {
                const a = place(alloc(dtype, len), st);
                ks.activate(f, m!, n!, place(z, st), a);
                assertSameBits(a, wantA, `${ks.id} activate ${f} (${m}, ${n}) ${st}`);
                assertGuards(a, 'activate');
                for (const av of aIn) {
                  const wantG = g0.slice();
                  ref.activateBackward(f, m!, n!, z, av, wantG);
                  const g = place(g0, st);
                  ks.activateBackward(f, m!, n!, place(z, st), place(av, st), g);
                  assertSameBits(g, wantG, `${ks.id} activateBackward ${f} (${m}, ${n}) ${st}`);
                  assertGuards(g, 'activateBackward');
                }
              }
            }
          }
        });
      }

      it('tanh, sigmoid and softmax (exp) match on a dense sweep of every binade', function () {
        if (!hasFast()) this.skip();
        // every power of two from the smallest subnormal to the largest finite, 64 points each, both signs
        const lo = dtype === 'float32' ? -149 : -1074;
        const hi = dtype === 'float32' ? 127 : 1023;
        const vals: number[] = [];
        const rng = new Rng(21);
        for (let e = lo; e <= hi; e++) {
          for (let i = 0; i < 64; i++) {
            const v = Math.pow(2, e) * (1 + rng.nextFloat());
            vals.push(v, -v);
          }
        }
        // and a fine uniform grid over the range where the branches of spec-math switch
        for (let i = 0; i < 200000; i++) vals.push(rng.uniform(-50, 50));
        const z = alloc(dtype, vals.length);
        z.set(vals);
        for (const f of ['tanh', 'sigmoid', 'softmax'] as const) {
          const n = f === 'softmax' ? 8 : 1000;
          const m = Math.floor(z.length / n);
          const want = alloc(dtype, m * n);
          ref.activate(f, m, n, z, want);
          for (const ks of fastSets(dtype)) {
            const a = alloc(dtype, m * n);
            ks.activate(f, m, n, z, a);
            assertSameBits(a, want, `${ks.id} ${f} sweep`);
          }
        }
      });

      it('a full forward and backward of the workload MLP gives the same loss and gradient bits', function () {
        if (!hasFast()) this.skip();
        const run = (ks: KernelSet): { loss: number; grads: Float } => workloadPass(ks, dtype, 31);
        const want = run(ref);
        for (const ks of fastSets(dtype)) {
          const got = run(ks);
          assert.ok(Object.is(got.loss, want.loss), `${ks.id} loss ${got.loss} vs ${want.loss}`);
          assertSameBits(got.grads, want.grads, `${ks.id} gradients`);
        }
      });

      it('rejects arrays of the wrong dtype or too short, instead of touching memory', function () {
        if (!hasFast()) this.skip();
        const other = alloc(dtype === 'float32' ? 'float64' : 'float32', 16);
        for (const ks of fastSets(dtype)) {
          const a = alloc(dtype, 16);
          assert.throws(() => ks.gemmNT(4, 4, 4, a, a, alloc(dtype, 15)), { name: 'RangeError', message: /C has 15 elements, needs 16/ });
          assert.throws(() => ks.gemmTN(4, 4, 4, a, other as Float, alloc(dtype, 16)), {
            name: 'RangeError',
            message: /B must be a Float/,
          });
          assert.throws(() => ks.gemmNN(-1, 4, 4, a, a, a), { name: 'RangeError', message: /m must be an integer/ });
          assert.throws(() => ks.addBias(4, 5, a, a), { name: 'RangeError', message: /C has 16 elements, needs 20/ });
          assert.throws(() => ks.activate('tanh', 4, 4, a, alloc(dtype, 3)), { name: 'RangeError', message: /a has 3 elements/ });
        }
      });
    });
  }
});

describe('selectKernels and kernelInfo', () => {
  it("'auto' picks the best native instruction set when the addon is built, else the next kernels with a note", () => {
    for (const dtype of DTYPES) {
      const { kernels, fallbackNote } = selectKernels(dtype);
      assert.equal(kernels.dtype, dtype);
      if (hasFast()) {
        assert.equal(kernels.id, `native-${nativeIsas()[0]!}`);
        assert.equal(fallbackNote, null);
      } else {
        // the next in line: WebAssembly SIMD (test/tensor/wasm-kernels.test.ts), else the reference
        assert.ok(kernels.id === 'wasm-simd128' || kernels.id === 'ref-ts', kernels.id);
        assert.match(fallbackNote ?? '', /^native kernels unavailable: .*; using (wasm-simd128|ref-ts)$/);
      }
    }
  });

  it("'ref' returns the reference without a note, and an unknown preference is a RangeError naming the field", () => {
    assert.deepEqual(selectKernels('float64', 'ref'), { kernels: referenceKernels('float64'), fallbackNote: null });
    assert.throws(() => selectKernels('float32', 'gpu' as 'auto'), {
      name: 'RangeError',
      message: 'kernels must be one of auto, native, wasm, ref; got gpu',
    });
  });

  it('KERNEL_CHOICES lists the four choices, and isKernelChoice accepts exactly those', () => {
    assert.deepEqual(KERNEL_CHOICES, ['auto', 'native', 'wasm', 'ref']);
    for (const k of KERNEL_CHOICES) assert.equal(isKernelChoice(k), true, k);
    for (const k of ['gpu', 'AUTO', 'ref-ts', '', undefined, null, 0]) assert.equal(isKernelChoice(k), false, String(k));
  });

  it('kernelInfo names the active implementation among the available ones, with the spec version', () => {
    const info = kernelInfo();
    assert.ok(info.available.includes(info.active));
    assert.ok(info.available.includes('ref-ts'));
    assert.equal(info.specVersion, KERNEL_SPEC_VERSION);
  });

  it('a KernelSet works inside a worker_thread and gives the same bits', async function () {
    this.timeout(30000);
    const got = await gemmInWorker('native', 41);
    assert.equal(got.id, selectKernels('float32', 'native').kernels.id);
  });
});
