import assert from 'node:assert/strict';
import { GradsyncError } from '../../src/errors';
import { alloc, type DType, type Float } from '../../src/tensor/dtype';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import type { KernelSet } from '../../src/tensor/kernels';
import { Rng } from '../../src/tensor/rng';
import { nativeIsas, nativeKernels } from '../../src/tensor/fast/native';
import { kernelInfo, kernelProfiles, selectKernels } from '../../src/tensor/select';
import { workloadPass } from '../helpers/mlp-run';
import { assertGuards, assertSameBits, data, place, SHAPES, STORAGES, WORKLOAD } from '../helpers/kernel-data';

// The `fma` profile: every native FMA build against the reference (ref-ts-fma, fma.ts's
// emulation) bit for bit, and the profile's selection. The portable profile's kernels are
// fast-kernels.test.ts's.

const DTYPES: DType[] = ['float32', 'float64'];
const GEMMS = ['gemmNT', 'gemmTN', 'gemmNN'] as const;

function fmaSets(dtype: DType): KernelSet[] {
  return nativeIsas('fma').map((isa) => nativeKernels(isa, dtype));
}
const hasFma = (): boolean => nativeIsas('fma').length > 0;

describe('fma profile kernels (bit for bit against the fma reference)', function () {
  this.timeout(120000);

  it('on an x86-64 with AVX2 and FMA, the addon offers an FMA build for each of its vector widths', function () {
    const portable = nativeIsas();
    if (!portable.includes('avx2') || !hasFma()) this.skip();
    const want = portable.filter((isa) => isa !== 'scalar').map((isa) => `${isa}-fma`);
    assert.deepEqual(nativeIsas('fma'), want);
    for (const ks of fmaSets('float32')) assert.equal(ks.profile, 'fma', ks.id);
  });

  for (const dtype of DTYPES) {
    describe(dtype, () => {
      const ref = referenceKernels(dtype, 'fma');
      const portable = referenceKernels(dtype);

      for (const g of GEMMS) {
        it(`${g} matches on tiny, ragged, prime and k = 0 shapes, in every storage`, function () {
          if (!hasFma()) this.skip();
          const rng = new Rng(21);
          for (const [m, n, k] of SHAPES) {
            for (const special of [0, 0.02]) {
              const A = data(dtype, m! * k!, rng, special);
              const B = data(dtype, n! * k!, rng, special);
              const want = alloc(dtype, m! * n!);
              ref[g](m!, n!, k!, A, B, want);
              for (const ks of fmaSets(dtype)) {
                for (const st of STORAGES) {
                  const C = place(data(dtype, m! * n!, rng, 0.1), st);
                  ks[g](m!, n!, k!, place(A, st), place(B, st), C);
                  const label = `${ks.id} ${g} (${m}, ${n}, ${k}) special=${special} ${st}`;
                  assertSameBits(C, want, label);
                  assertGuards(C, label);
                }
              }
            }
          }
        });

        it(`${g} matches on the workload's shapes, and differs there from the portable profile`, function () {
          if (!hasFma()) this.skip();
          const rng = new Rng(22);
          let differ = 0;
          for (const [m, n, k] of WORKLOAD[g]) {
            const A = data(dtype, m * k, rng);
            const B = data(dtype, n * k, rng);
            for (let i = 0; i < A.length; i++) A[i] = A[i]! / 64;
            const want = alloc(dtype, m * n);
            ref[g](m, n, k, A, B, want);
            const other = alloc(dtype, m * n);
            portable[g](m, n, k, A, B, other);
            for (let i = 0; i < want.length; i++) if (!Object.is(want[i], other[i])) differ++;
            for (const ks of fmaSets(dtype)) {
              const C = place(alloc(dtype, m * n), 'shared view');
              ks[g](m, n, k, A, place(B, 'view'), C);
              assertSameBits(C, want, `${ks.id} ${g} (${m}, ${n}, ${k})`);
            }
          }
          // one rounding per term instead of two: most sums of hundreds of terms come out different
          assert.ok(differ > 0, `${g}: the fma reference gave the portable bits everywhere`);
        });
      }

      it("gemmTNCheck: gemmTN's bits, streamed or not, and firstNonFinite(C) returned", function () {
        if (!hasFma()) this.skip();
        const rng = new Rng(23);
        for (const [m, n, k] of [[256, 784, 64], [10, 128, 64], ...SHAPES, [48, 64, 1100]]) {
          for (const special of [0, 0.001]) {
            const A = data(dtype, m! * k!, rng, special);
            const B = data(dtype, n! * k!, rng, special);
            const want = alloc(dtype, m! * n!);
            ref.gemmTN(m!, n!, k!, A, B, want);
            const wantBad = ref.firstNonFinite(m! * n!, want);
            for (const ks of fmaSets(dtype)) {
              for (const shared of [true, false]) {
                const C = place(data(dtype, m! * n!, rng, 0.1), 'shared view');
                const label = `${ks.id} gemmTNCheck (${m}, ${n}, ${k}) special=${special}${shared ? ' shared' : ''}`;
                assert.equal(ks.gemmTNCheck(m!, n!, k!, A, B, C, shared), wantBad, `${label}: first non-finite index`);
                assertSameBits(C, want, label);
                assertGuards(C, label);
              }
            }
          }
        }
      });

      it('a full forward and backward of the workload MLP gives the fma reference’s loss and gradient bits', function () {
        if (!hasFma()) this.skip();
        const run = (ks: KernelSet): { loss: number; grads: Float } => workloadPass(ks, dtype, 31);
        const want = run(ref);
        const other = run(portable);
        assert.ok(!Object.is(want.loss, other.loss) || want.grads.some((v, i) => !Object.is(v, other.grads[i])), 'profiles agree');
        for (const ks of fmaSets(dtype)) {
          const got = run(ks);
          assert.ok(Object.is(got.loss, want.loss), `${ks.id} loss ${got.loss} vs ${want.loss}`);
          assertSameBits(got.grads, want.grads, `${ks.id} gradients`);
        }
      });

      it('everything but the GEMMs is the portable profile’s (element-wise functions are the same)', () => {
        const rng = new Rng(24);
        const z = data(dtype, 64, rng, 0.1);
        for (const f of ['tanh', 'sigmoid', 'softmax'] as const) {
          const a = alloc(dtype, 64);
          const b = alloc(dtype, 64);
          ref.activate(f, 8, 8, z, a);
          portable.activate(f, 8, 8, z, b);
          assertSameBits(a, b, f);
        }
        for (const ks of fmaSets(dtype)) {
          const a = alloc(dtype, 64);
          const b = alloc(dtype, 64);
          ks.activate('tanh', 8, 8, z, a);
          nativeKernels(nativeIsas()[0]!, dtype).activate('tanh', 8, 8, z, b);
          assertSameBits(a, b, `${ks.id} tanh`);
        }
      });
    });
  }
});

describe('selectKernels with a profile', () => {
  it("'auto' and 'native' pick the best FMA build for the fma profile, else the fma reference with a note", () => {
    for (const dtype of DTYPES) {
      for (const prefer of ['auto', 'native'] as const) {
        const { kernels, fallbackNote } = selectKernels(dtype, prefer, 'fma');
        assert.equal(kernels.profile, 'fma');
        assert.equal(kernels.dtype, dtype);
        if (hasFma()) {
          assert.equal(kernels.id, `native-${nativeIsas('fma')[0]!}`);
          assert.equal(fallbackNote, null);
        } else {
          assert.equal(kernels.id, 'ref-ts-fma');
          assert.match(fallbackNote ?? '', /^native FMA kernels unavailable: .*; using ref-ts-fma/);
        }
      }
    }
  });

  it("'ref' gives the fma reference; the default profile is portable", () => {
    assert.equal(selectKernels('float64', 'ref', 'fma').kernels, referenceKernels('float64', 'fma'));
    assert.equal(selectKernels('float64', 'ref').kernels.profile, 'portable');
    assert.equal(referenceKernels('float32', 'fma').id, 'ref-ts-fma');
  });

  it("'wasm' with the fma profile is GS_ERR_KERNEL_PROFILE, saying why and what to do", () => {
    assert.throws(
      () => selectKernels('float32', 'wasm', 'fma'),
      (e: unknown) =>
        e instanceof GradsyncError &&
        e.code === 'GS_ERR_KERNEL_PROFILE' &&
        /WebAssembly kernels cannot compute the "fma" kernel profile/.test(e.message) &&
        /kernelProfile "portable"/.test(e.hint ?? ''),
    );
    assert.deepEqual(kernelProfiles('wasm'), ['portable']);
    assert.deepEqual(kernelProfiles('auto'), ['portable', 'fma']);
  });

  it('an unknown profile is a RangeError naming the field', () => {
    assert.throws(() => selectKernels('float32', 'auto', 'fast' as 'fma'), {
      name: 'RangeError',
      message: 'kernelProfile must be one of portable, fma; got fast',
    });
  });

  it('kernelInfo lists the fma profile’s implementations, the reference last', () => {
    const info = kernelInfo();
    assert.equal(info.availableFma[info.availableFma.length - 1], 'ref-ts-fma');
    for (const isa of nativeIsas('fma')) assert.ok(info.availableFma.includes(`native-${isa}`), isa);
  });
});
