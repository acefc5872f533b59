import assert from 'node:assert/strict';
import type { DType, Float } from '../../src/tensor/dtype';
import type { KernelSet } from '../../src/tensor/kernels';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import { momentumUpdate } from '../../src/tensor/momentum';
import { Rng } from '../../src/tensor/rng';
import { nativeIsas, nativeKernels } from '../../src/tensor/fast/native';
import { wasmKernels } from '../../src/tensor/fast/wasm';
import { commitStep, newOptimizerState, optimizerStep, stepScalars, updateElements, type OptimizerSpec } from '../../src/optim/optimizer';
import { assertGuards, assertSameBits, data, place, STORAGES } from '../helpers/kernel-data';

const DTYPES: DType[] = ['float32', 'float64'];

/** The kernel sets of both profiles this machine runs, besides the oracle: native builds, WebAssembly. */
function sets(dtype: DType): KernelSet[] {
  const out: KernelSet[] = [referenceKernels(dtype), wasmKernels(dtype)];
  for (const profile of ['portable', 'fma'] as const) for (const isa of nativeIsas(profile)) out.push(nativeKernels(isa, dtype));
  return out;
}

const SIZES = [0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 64, 65, 1000, 16384 + 3];

describe('momentumUpdate (SGD with momentum over n elements)', function () {
  this.timeout(120000);
  for (const dtype of DTYPES) {
    for (const nesterov of [false, true]) {
      for (const first of [true, false]) {
        it(`${dtype}${nesterov ? ', Nesterov' : ''}${first ? ', the first step' : ''}: every kernel set gives the oracle's v, u and p, specials included, in every storage`, () => {
          const rng = new Rng(nesterov ? 41 : 42);
          for (const n of SIZES) {
            const g = data(dtype, n, rng, 0.1);
            const v0 = data(dtype, n, rng, 0.1);
            const p0 = data(dtype, n, rng, 0.1);
            const u0 = data(dtype, n, rng, 0);
            const want = { v: v0.slice(), p: p0.slice(), u: u0.slice() };
            momentumUpdate(n, 0.05, 0.9, nesterov, first, g, want.v, want.p, want.u);
            for (const ks of sets(dtype)) {
              for (const st of STORAGES) {
                const [v, p, u] = [place(v0, st), place(p0, st), place(u0, st)];
                ks.momentumUpdate(n, 0.05, 0.9, nesterov, first, place(g, st), v, p, u);
                for (const [name, got, exp] of [
                  ['v', v, want.v],
                  ['p', p, want.p],
                  ['u', u, want.u],
                ] as [string, Float, Float][]) {
                  const label = `${ks.id} momentumUpdate n ${n} ${st}: ${name}`;
                  assertSameBits(got, exp, label);
                  assertGuards(got, label);
                }
              }
            }
          }
        });
      }
    }
  }

  it('is the rule PyTorch documents: v = g at the first step, then v = mu·v + g; p −= lr·v (Nesterov: lr·(g + mu·v))', () => {
    const [g, v, p, u] = [new Float64Array([2, -4]), new Float64Array([7, 7]), new Float64Array([1, 1]), new Float64Array(2)];
    momentumUpdate(2, 0.5, 0.25, false, true, g, v, p, u);
    assert.deepEqual([...v, ...u, ...p], [2, -4, 1, -2, 0, 3]);
    momentumUpdate(2, 0.5, 0.25, true, false, g, v, p, u);
    // v = 0.25·v + g = [2.5, -5]; u = 0.5·(g + 0.25·v) = [1.3125, -2.625]
    assert.deepEqual([...v, ...u, ...p], [2.5, -5, 1.3125, -2.625, -1.3125, 5.625]);
  });

  for (const dtype of DTYPES) {
    it(`${dtype}: updateElements through each kernel set, whole or unit by unit, and optimizerStep over steps, give the oracle's weights`, () => {
      const n = 2 * 16384 + 77;
      const spec: OptimizerSpec = { kind: 'momentum', lr: 0.05, momentum: 0.9, nesterov: false };
      const run = (ks: KernelSet | undefined, split: boolean): Float => {
        const r = new Rng(44);
        const p = data(dtype, n, r, 0);
        const st = newOptimizerState(spec, dtype, n);
        const u = data(dtype, n, r, 0);
        for (let t = 0; t < 3; t++) {
          const g = data(dtype, n, r, 0);
          if (!split) optimizerStep(spec, st, p, g, u, ks);
          else {
            const sc = stepScalars(spec, st, spec.lr);
            for (let a = 0; a < n; a += 16384) {
              const at = (x: Float): Float => x.subarray(a, Math.min(n, a + 16384));
              updateElements(spec, sc, at(p), at(g), at(u), at(st.buffers[0]!), undefined, ks);
            }
            commitStep(st, sc);
          }
        }
        return p;
      };
      const want = run(undefined, false);
      for (const ks of sets(dtype)) {
        assertSameBits(run(ks, false), want, `${ks.id} optimizerStep`);
        assertSameBits(run(ks, true), want, `${ks.id} updateElements unit by unit`);
      }
    });
  }

  it('native: refuses a short array and a flag that is not a boolean, naming them', function () {
    const isa = nativeIsas()[0];
    if (isa === undefined) this.skip();
    const ks = nativeKernels(isa!, 'float32');
    const a = (): Float32Array => new Float32Array(8);
    assert.throws(
      () => ks.momentumUpdate(8, 0.1, 0.9, false, false, a(), a(), new Float32Array(7), a()),
      (e: Error & { code?: string }) => e.code === 'ERR_GS_NATIVE_LENGTH' && /\bp\b/.test(e.message),
    );
    assert.throws(
      () => ks.momentumUpdate(8, 0.1, 0.9, 1 as unknown as boolean, false, a(), a(), a(), a()),
      (e: Error & { code?: string }) => e.code === 'ERR_GS_NATIVE_ARGS' && /nesterov must be a boolean/.test(e.message),
    );
    assert.throws(
      () => ks.momentumUpdate(8, 0.1, 0.9, false, false, a(), new Float64Array(8), a(), a()),
      (e: Error & { code?: string }) => e.code === 'ERR_GS_NATIVE_TYPE' && /\bv\b/.test(e.message),
    );
  });
});
