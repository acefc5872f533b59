/**
 * wasm.ts — the KernelSets backed by the hand-written WebAssembly SIMD128 kernels: the GEMMs
 * (gemmNTAcc, which starts from C, and gemmTNCheck's scan of C too), firstNonFinite, addInto,
 * sgdUpdate, reduceGrad and reduceSgd, and in float32 tanh, addBias, colSum, activateBackward (tanh,
 * sigmoid), activationStats and the exponentials of softmax and softmaxCE run in WebAssembly
 * (wasm-calls.ts); the other kernels are the reference's core functions and the extension's
 * defaults (the same bits by definition). One KernelSet per dtype and thread.
 * Not here: choosing among implementations (select.ts); loading the module (wasm-module.ts).
 */

import type { DType, Float } from '../dtype';
import type { Activation, KernelSet } from '../kernels';
import { referenceCore } from '../reference-kernels';
import { withSharedDefaults } from '../kernel-defaults';
import { load, loadError } from './wasm-module';
import {
  activateBackward32,
  activationStats32,
  addBias32,
  addInto,
  colSum32,
  firstNonFinite,
  gemm,
  reduceGrad,
  reduceSgd,
  sgdUpdate,
  softmax32,
  softmaxCE32,
  tanh32,
} from './wasm-calls';

const cache = new Map<DType, KernelSet>();

/** The WebAssembly KernelSet for a dtype (throws when the module cannot run here). */
export function wasmKernels(dtype: DType): KernelSet {
  const hit = cache.get(dtype);
  if (hit) return hit;
  const w = load();
  if (w === null) throw new Error(`WebAssembly SIMD kernels unavailable: ${loadError ?? 'unknown reason'}`);
  const ref = referenceCore(dtype);
  // the extension's sgdUpdateShared, copyShared and addReduceGrad are its defaults (core compositions):
  // WebAssembly has no non-temporal store, and an add and a reduce fused would save only a copy
  const ks = withSharedDefaults({
    ...ref,
    id: 'wasm-simd128',
    dtype,
    gemmNT: (m, n, k, A, B, C) => gemm(w, dtype, 'NT', m, n, k, A, B, C),
    gemmNTAcc: (m, n, k, A, B, C) => gemm(w, dtype, 'NTAcc', m, n, k, A, B, C),
    gemmTN: (m, n, k, A, B, C) => gemm(w, dtype, 'TN', m, n, k, A, B, C),
    gemmNN: (m, n, k, A, B, C) => gemm(w, dtype, 'NN', m, n, k, A, B, C),
    // WebAssembly has no non-temporal store: the product, then the scan in linear memory
    gemmTNCheck: (m, n, k, A, B, C) => gemm(w, dtype, 'TN', m, n, k, A, B, C, true),
    firstNonFinite: (n, a) => firstNonFinite(w, dtype, n, a),
    activate:
      dtype === 'float32'
        ? (f, m, n, z, a) =>
            f === 'tanh' ? tanh32(w, m, n, z, a) : f === 'softmax' ? softmax32(w, m, n, z, a) : ref.activate(f, m, n, z, a)
        : ref.activate,
    ...(dtype === 'float32'
      ? {
          addBias: (m: number, n: number, C: Float, b: Float) => addBias32(w, m, n, C, b),
          colSum: (m: number, n: number, A: Float, out: Float) => colSum32(w, m, n, A, out),
          activateBackward: (f: Activation, m: number, n: number, z: Float, a: Float, g: Float) =>
            f === 'tanh' || f === 'sigmoid' ? activateBackward32(w, f, m, n, a, g) : ref.activateBackward(f, m, n, z, a, g),
          activationStats: (f: Activation, m: number, n: number, z: Float, a: Float, out: Float64Array) =>
            activationStats32(w, f, m, n, z, a, out),
          softmaxCE: (rows: number, n: number, z: Float, a: Float, y: Float, g: Float) => softmaxCE32(w, rows, n, z, a, y, g),
        }
      : {}),
    addInto: (n, a, b) => addInto(w, dtype, n, a, b),
    sgdUpdate: (n, lr, g, p, u) => sgdUpdate(w, dtype, n, lr, g, p, u),
    reduceGrad: (n, g, p, divisor, lambda, out) => reduceGrad(w, dtype, n, g, p, divisor, lambda, out),
    reduceSgd: (n, a, b, p, divisor, lambda, lr, out) => reduceSgd(w, dtype, n, a, b, p, divisor, lambda, lr, out),
  });
  cache.set(dtype, ks);
  return ks;
}
