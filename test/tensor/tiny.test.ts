import assert from 'node:assert/strict';
import { alloc, type DType, type Float } from '../../src/tensor/dtype';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import type { KernelSet } from '../../src/tensor/kernels';
import { Rng } from '../../src/tensor/rng';
import { nativeIsas, nativeKernels } from '../../src/tensor/fast/native';
import { TINY_ELEMENTS, TINY_GEMM, withTinyOnReference } from '../../src/tensor/fast/tiny';
import { selectKernels } from '../../src/tensor/select';
import { assertSameBits, data } from '../helpers/kernel-data';

const DTYPES: DType[] = ['float32', 'float64'];

/** A KernelSet whose every operation records its name under `who` and does nothing else. */
function recorder(who: string, calls: string[], base: KernelSet): KernelSet {
  const out: Record<string, unknown> = { ...base };
  for (const [name, v] of Object.entries(base)) {
    if (typeof v === 'function')
      out[name] = (): number => {
        calls.push(`${who}.${name}`);
        return -1;
      };
  }
  return out as unknown as KernelSet;
}

describe('tiny shapes on the reference (tensor/fast/tiny.ts)', () => {
  const x = alloc('float64', 4);
  const order = new Uint32Array(4);
  const stats = new Float64Array(2);

  it('sends GEMMs below TINY_GEMM multiply-adds and element-wise passes below TINY_ELEMENTS to the reference, the rest to the fast set', () => {
    const calls: string[] = [];
    const base = referenceKernels('float64');
    const k = withTinyOnReference(recorder('fast', calls, base), recorder('ref', calls, base));
    const t = TINY_GEMM - 1;
    const e = TINY_ELEMENTS;
    const cases: [() => unknown, string][] = [
      [() => k.gemmNT(t, 1, 1, x, x, x), 'ref.gemmNT'],
      [() => k.gemmNT(TINY_GEMM, 1, 1, x, x, x), 'fast.gemmNT'],
      [() => k.gemmTN(1, 1, t, x, x, x), 'ref.gemmTN'],
      [() => k.gemmTN(2, 2, TINY_GEMM / 4, x, x, x), 'fast.gemmTN'],
      [() => k.gemmNN(1, t, 1, x, x, x), 'ref.gemmNN'],
      [() => k.gemmNN(1, TINY_GEMM, 1, x, x, x), 'fast.gemmNN'],
      [() => k.gemmTNCheck(1, 1, t, x, x, x, false), 'ref.gemmTNCheck'],
      [() => k.gemmTNCheck(1, 1, t, x, x, x, true), 'fast.gemmTNCheck'], // shared stores stay native
      [() => k.addBias(e - 1, 1, x, x), 'ref.addBias'],
      [() => k.addBias(e, 1, x, x), 'fast.addBias'],
      [() => k.colSum(1, e - 1, x, x), 'ref.colSum'],
      [() => k.colSum(2, e / 2, x, x), 'fast.colSum'],
      [() => k.activateBackward('tanh', e - 1, 1, x, x, x), 'ref.activateBackward'],
      [() => k.activateBackward('tanh', e, 1, x, x, x), 'fast.activateBackward'],
      [() => k.activationStats('tanh', e - 1, 1, x, x, stats), 'ref.activationStats'],
      [() => k.activationStats('tanh', e, 1, x, x, stats), 'fast.activationStats'],
      [() => k.addInto(e - 1, x, x), 'ref.addInto'],
      [() => k.addInto(e, x, x), 'fast.addInto'],
      [() => k.firstNonFinite(e - 1, x), 'ref.firstNonFinite'],
      [() => k.firstNonFinite(e, x), 'fast.firstNonFinite'],
      [() => k.sgdUpdate(e - 1, 0.1, x, x, x), 'ref.sgdUpdate'],
      [() => k.sgdUpdate(e, 0.1, x, x, x), 'fast.sgdUpdate'],
      [() => k.reduceGrad(e - 1, x, x, 1, 0, stats), 'ref.reduceGrad'],
      [() => k.reduceGrad(e, x, x, 1, 0, stats), 'fast.reduceGrad'],
      [() => k.addIntoCheck(e - 1, x, x), 'ref.addIntoCheck'],
      [() => k.addIntoCheck(e, x, x), 'fast.addIntoCheck'],
      [() => k.reduceSgd(e - 1, x, null, x, 1, 0, 0.1, stats, false), 'ref.reduceSgd'],
      [() => k.reduceSgd(e, x, null, x, 1, 0, 0.1, stats, false), 'fast.reduceSgd'],
      [() => k.reduceSgd(1, x, null, x, 1, 0, 0.1, stats, true), 'fast.reduceSgd'], // shared stores stay native
      [() => k.momentumUpdate(e - 1, 0.1, 0.9, false, false, x, x, x, x), 'ref.momentumUpdate'],
      [() => k.momentumUpdate(e, 0.1, 0.9, false, false, x, x, x, x), 'fast.momentumUpdate'],
      [() => k.gatherRows(e - 1, order, 0, 1, x, x), 'ref.gatherRows'],
      [() => k.gatherRows(e / 2, order, 0, 2, x, x), 'fast.gatherRows'],
      // the reference is slower at every size for these: always the fast set
      [() => k.activate('tanh', 1, 1, x, x), 'fast.activate'],
      [() => k.copyShared(1, x, x), 'fast.copyShared'],
    ];
    for (const [call, want] of cases) {
      calls.length = 0;
      call();
      assert.deepEqual(calls, [want]);
    }
  });

  it('keeps the fast set id, dtype and profile', () => {
    const fast = { ...referenceKernels('float32'), id: 'fast-x' };
    const k = withTinyOnReference(fast, referenceKernels('float32'));
    assert.equal(k.id, 'fast-x');
    assert.equal(k.dtype, 'float32');
    assert.equal(k.profile, 'portable');
  });

  it('refuses a reference of another dtype or profile, naming both', () => {
    assert.throws(() => withTinyOnReference(referenceKernels('float32'), referenceKernels('float64')), {
      name: 'RangeError',
      message: /the reference is float64 portable, the fast set .* is float32 portable/,
    });
    assert.throws(() => withTinyOnReference(referenceKernels('float64'), referenceKernels('float64', 'fma')), {
      name: 'RangeError',
      message: /the reference is float64 fma, the fast set .* is float64 portable/,
    });
  });

  for (const dtype of DTYPES) {
    it(`${dtype}: the selected native set computes the reference's bits on shapes on both sides of the thresholds, special values included`, function () {
      if (nativeIsas().length === 0) this.skip();
      const k = selectKernels(dtype, 'native').kernels;
      const nat = nativeKernels(nativeIsas()[0]!, dtype);
      const ref = referenceKernels(dtype);
      const rng = new Rng(27);
      const gemmShapes = [
        [20, 1, 1],
        [1, 1, 20],
        [3, 5, 7],
        [1, 127, 1],
        [127, 1, 1],
        [1, 1, 128],
        [4, 4, 8],
        [8, 4, 4],
        [5, 5, 5],
        [0, 3, 3],
        [3, 3, 0],
      ];
      for (const special of [0, 0.05]) {
        for (const [m, n, d] of gemmShapes) {
          const A = data(dtype, m! * d!, rng, special);
          const B = data(dtype, n! * d!, rng, special);
          for (const g of ['gemmNT', 'gemmTN', 'gemmNN'] as const) {
            const want = alloc(dtype, m! * n!);
            ref[g](m!, n!, d!, A, B, want);
            for (const ks of [k, nat]) {
              const C = data(dtype, m! * n!, rng, 0.1);
              ks[g](m!, n!, d!, A, B, C);
              assertSameBits(C, want, `${ks.id} ${g} ${m}x${n}x${d}`);
            }
          }
          const want = alloc(dtype, m! * n!);
          const wantBad = ref.gemmTNCheck(m!, n!, d!, A, B, want, false);
          const C = alloc(dtype, m! * n!);
          assert.equal(k.gemmTNCheck(m!, n!, d!, A, B, C, false), wantBad, `gemmTNCheck ${m}x${n}x${d}`);
          assertSameBits(C, want, `gemmTNCheck ${m}x${n}x${d}`);
        }
        for (const len of [1, 2, 7, 20, TINY_ELEMENTS - 1, TINY_ELEMENTS, 33, 64]) {
          const z = data(dtype, len, rng, special);
          const b = data(dtype, len, rng, special);
          const same = (label: string, run: (ks: KernelSet) => Float | number | Float64Array): void => {
            const want = run(ref);
            const got = run(k);
            if (typeof want === 'number') assert.ok(Object.is(got, want), `${label} (${len}): ${String(got)} vs ${String(want)}`);
            else assertSameBits(got as Float, want, `${label} (${len})`);
          };
          same('addBias', (ks) => {
            const C = z.slice();
            ks.addBias(len, 1, C, b.subarray(0, 1));
            return C;
          });
          same('colSum', (ks) => {
            const out = alloc(dtype, 1);
            ks.colSum(len, 1, z, out);
            return out;
          });
          for (const f of ['tanh', 'sigmoid', 'relu', 'linear'] as const) {
            same(`activateBackward ${f}`, (ks) => {
              const a = alloc(dtype, len);
              ref.activate(f, len, 1, z, a);
              const g = b.slice();
              ks.activateBackward(f, len, 1, z, a, g);
              return g;
            });
            same(`activationStats ${f}`, (ks) => {
              const a = alloc(dtype, len);
              ref.activate(f, len, 1, z, a);
              const out = new Float64Array(2);
              ks.activationStats(f, len, 1, z, a, out);
              return out;
            });
          }
          same('addInto', (ks) => {
            const a = z.slice();
            ks.addInto(len, a, b);
            return a;
          });
          same('firstNonFinite', (ks) => ks.firstNonFinite(len, z));
          same('sgdUpdate', (ks) => {
            const p = z.slice();
            const u = alloc(dtype, len);
            ks.sgdUpdate(len, 0.07, b, p, u);
            const both = alloc(dtype, 2 * len);
            both.set(p);
            both.set(u, len);
            return both;
          });
          same('addIntoCheck', (ks) => {
            const a = z.slice();
            const at = ks.addIntoCheck(len, a, b);
            const all = alloc(dtype, len + 1);
            all.set(a);
            all[len] = at;
            return all;
          });
          same('momentumUpdate', (ks) => {
            const [v, p, u] = [b.slice(), z.slice(), alloc(dtype, len)];
            ks.momentumUpdate(len, 0.05, 0.9, true, false, z, v, p, u);
            const all = alloc(dtype, 3 * len);
            all.set(v);
            all.set(p, len);
            all.set(u, 2 * len);
            return all;
          });
          same('reduceSgd', (ks) => {
            const [a, p] = [b.slice(), z.slice()];
            const out = new Float64Array(2);
            ks.reduceSgd(len, a, null, p, 20, 1e-4, 0.07, out, false);
            const all = new Float64Array(2 * len + 2);
            all.set(a);
            all.set(p, len);
            all.set(out, 2 * len);
            return all;
          });
          for (const [divisor, lambda] of [
            [1, 0],
            [20, 1e-4],
          ]) {
            same(`reduceGrad /${divisor} +${lambda}`, (ks) => {
              const g = b.slice();
              const out = new Float64Array(2);
              ks.reduceGrad(len, g, z, divisor!, lambda!, out);
              const all = new Float64Array(len + 2);
              all.set(g);
              all.set(out, len);
              return all;
            });
          }
        }
      }
    });
  }
});
