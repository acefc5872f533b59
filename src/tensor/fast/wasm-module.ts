/**
 * wasm-module.ts — loading the WebAssembly SIMD128 kernel module (wasm/kernels.wat, assembled at
 * build time into dist/wasm/kernels.wasm by scripts/build-wasm.js): each thread compiles and
 * instantiates it once, synchronously, from the package folder or from bytes it was given, and
 * remembers a one-line reason when it cannot.
 * Not here: the calls into the module (wasm-calls.ts); the KernelSet (wasm.ts).
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../package-root';

// The compiler's lib (ES2022, no DOM) has no WebAssembly types; these are the few used here.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};

/** Where build-wasm.js writes the module, relative to the package folder. */
const WASM_FILE = path.join('dist', 'wasm', 'kernels.wasm');

export interface WasmExports {
  memory: WasmMemory;
  gemm_f32(m: number, n: number, k: number, a: number, abs: number, acs: number, b: number, bps: number, c: number, acc: number): void;
  gemm_f64(m: number, n: number, k: number, a: number, abs: number, acs: number, b: number, bps: number, c: number, acc: number): void;
  pack_rows(k: number, rowBytes: number, src: number, dst: number, lgpw: number): void;
  pack_cols_32(rows: number, k: number, src: number, dst: number, lgw: number): void;
  pack_cols_64(rows: number, k: number, src: number, dst: number, lgw: number): void;
  tanh_f32(n: number, src: number, dst: number): void;
  add_f32(n: number, a: number, b: number): void;
  add_f64(n: number, a: number, b: number): void;
  sgd_f32(n: number, lr: number, g: number, p: number, u: number): void;
  sgd_f64(n: number, lr: number, g: number, p: number, u: number): void;
  reduce_f32(n: number, g: number, p: number, divisor: number, lambda: number, useLambda: number): void;
  reduce_f64(n: number, g: number, p: number, divisor: number, lambda: number, useLambda: number): void;
  reduce_sgd_f32(
    n: number,
    g: number,
    p: number,
    divisor: number,
    lambda: number,
    useLambda: number,
    lr: number,
    recip: number,
    mode: number,
  ): void;
  first_non_finite_f32(n: number, src: number): number;
  first_non_finite_f64(n: number, src: number): number;
  col_sum_f32(m: number, n: number, src: number, dst: number): void;
  add_bias_f32(m: number, n: number, c: number, b: number): void;
  act_backward_f32(n: number, g: number, a: number, sigmoid: number): void;
  act_stats_f32(m: number, n: number, z: number, a: number, mode: number, limit: number, cnt: number): number;
  exp_f32(n: number, src: number, dst: number): void;
}

const EXPORTS = [
  'gemm_f32',
  'gemm_f64',
  'pack_rows',
  'pack_cols_32',
  'pack_cols_64',
  'tanh_f32',
  'add_f32',
  'add_f64',
  'sgd_f32',
  'sgd_f64',
  'reduce_f32',
  'reduce_f64',
  'reduce_sgd_f32',
  'first_non_finite_f32',
  'first_non_finite_f64',
  'col_sum_f32',
  'add_bias_f32',
  'act_backward_f32',
  'act_stats_f32',
  'exp_f32',
] as const;

let wasm: WasmExports | null = null;
export let loadError: string | null = null;
let given: Uint8Array | null = null;

/**
 * The module's bytes, for a thread that has no package folder to read them from (the browser
 * worker fetches the same dist/wasm/kernels.wasm); call before the first kernel.
 */
export function useWasmBytes(bytes: Uint8Array): void {
  given = bytes;
}

/** Compiles and instantiates the module once per thread; on failure remembers a one-line reason. */
export function load(): WasmExports | null {
  if (wasm !== null || loadError !== null) return wasm;
  if (given !== null) return instantiate(given);
  const root = packageRoot();
  if (root === null) {
    loadError = 'cannot find the gradsync package folder';
    return null;
  }
  const file = path.join(root, WASM_FILE);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    // build-wasm.js leaves the reason next to the module when it could not assemble it
    let why = `${WASM_FILE} missing`;
    try {
      why = fs.readFileSync(`${file}.error`, 'utf8').trim();
    } catch {
      /* no reason recorded */
    }
    loadError = `not built (${why}; run \`node scripts/build-wasm.js\`)`;
    return null;
  }
  return instantiate(bytes);
}

function instantiate(bytes: Uint8Array): WasmExports | null {
  try {
    const exp = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as WasmExports;
    for (const name of EXPORTS) {
      if (typeof exp[name] !== 'function') throw new Error(`${WASM_FILE} exports no ${name}`);
    }
    wasm = exp;
  } catch (e) {
    loadError = `${WASM_FILE} does not run here: ${String((e as Error).message).split('\n')[0]}`;
  }
  return wasm;
}

/** Why the WebAssembly kernels are unavailable, or null when they loaded. */
export function wasmLoadError(): string | null {
  load();
  return loadError;
}
