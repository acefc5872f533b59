/**
 * kernel-data.ts — inputs and bit comparisons shared by the fast-kernel tests (native and
 * WebAssembly against the reference): values from several scales and at the spec functions'
 * edges, arrays in plain and (shared) view storage with guard elements, and a byte-for-byte
 * comparison that names the first difference.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import { Rng } from '../../src/tensor/rng';
import { alloc, type DType, type Float } from '../../src/tensor/dtype';
import type { ConvGeometry } from '../../src/tensor/im2col';

export const F32_MIN_NORMAL = 1.1754943508222875e-38;
export const F64_MIN_NORMAL = 2.2250738585072014e-308;

/** Values at the edges of the spec's functions: signed zeros, subnormals, infinities, NaN, thresholds. */
export function specials(dtype: DType): number[] {
  const f = dtype === 'float32' ? Math.fround : (x: number) => x;
  const common = [0, -0, Infinity, -Infinity, NaN, 1, -1, 0.5, -0.5, 0.25, 2, -2, 1e-8, -1e-8, 10, -10, 30, -30, 100, -100];
  const edge32 = [
    1.4e-45,
    -1.4e-45,
    1e-40,
    -1e-40,
    F32_MIN_NORMAL,
    -F32_MIN_NORMAL,
    3.4e38,
    -3.4e38,
    1e38,
    -1e38,
    88.72283,
    88.7228,
    88.5,
    88.376,
    88.3762626647949,
    -87.33,
    -87.34,
    -100,
    -103.97208,
    -103.9721,
    -104,
    -150,
    9.1,
    Math.fround(9.1),
    9.0999994,
    -9.1,
    4.55,
    4.5500002,
    0.49999997,
    0.50000006,
    -0.49999997,
    0.2499999,
    44.36,
    -44.36,
  ];
  const edge64 = [
    5e-324,
    -5e-324,
    1e-310,
    -1e-310,
    F64_MIN_NORMAL,
    -F64_MIN_NORMAL,
    1.7e308,
    -1.7e308,
    1e300,
    -1e300,
    709.782712893384,
    709.78,
    709.5,
    709.437,
    709.4,
    -708.4,
    -708.39,
    -740,
    -745.1332191019412,
    -745.14,
    -746,
    19.1,
    19.099999999999998,
    -19.1,
    9.55,
    0.49999999999999994,
    -0.49999999999999994,
    354.89,
    -354.89,
    372.5,
    -372.5,
  ];
  return [...common, ...(dtype === 'float32' ? edge32 : edge64)].map(f);
}

/** A convolution's geometry with its output size, or null where the kernel does not fit the padded input. */
export function convGeometry(c: number, h: number, w: number, k: number, stride: number, pad: number): ConvGeometry | null {
  if (k > h + 2 * pad || k > w + 2 * pad) return null;
  return {
    c,
    h,
    w,
    kh: k,
    kw: k,
    stride,
    pad,
    oh: Math.floor((h + 2 * pad - k) / stride) + 1,
    ow: Math.floor((w + 2 * pad - k) / stride) + 1,
  };
}

/** n values from several scales, with a `special` fraction drawn from specials(). */
export function data(dtype: DType, n: number, rng: Rng, special = 0): Float {
  const sp = specials(dtype);
  const a = alloc(dtype, n);
  for (let i = 0; i < n; i++) {
    const u = rng.nextFloat();
    if (u < special) a[i] = sp[rng.nextInt(sp.length)]!;
    else if (u < 0.5) a[i] = rng.uniform(-2, 2);
    else if (u < 0.7) a[i] = rng.uniform(-20, 20);
    else if (u < 0.85) a[i] = rng.uniform(-120, 120);
    else if (u < 0.95) a[i] = rng.uniform(-800, 800);
    else a[i] = (rng.nextFloat() < 0.5 ? -1 : 1) * Math.pow(10, rng.uniform(-46, 39));
  }
  return a;
}

// ---- GEMM shapes ------------------------------------------------------------------------------

/** The calls Model makes for MLP 784-256-128-10 on 16, 64 and 128 rows, and one wider NN. */
export const WORKLOAD_ROWS = [16, 64, 128];
export const WORKLOAD = {
  gemmNT: WORKLOAD_ROWS.flatMap((r) => [
    [r, 256, 784],
    [r, 128, 256],
    [r, 10, 128],
  ]),
  gemmTN: WORKLOAD_ROWS.flatMap((r) => [
    [256, 784, r],
    [128, 256, r],
    [10, 128, r],
  ]),
  gemmNN: [
    ...WORKLOAD_ROWS.flatMap((r) => [
      [r, 256, 128],
      [r, 128, 10],
    ]),
    [128, 784, 256],
  ],
} as const;
/** Tiny, ragged (not multiples of any tile), primes, k spanning several k blocks, k = 0. */
export const SHAPES: number[][] = [
  [1, 1, 1],
  [1, 1, 0],
  [3, 5, 0],
  [0, 4, 3],
  [4, 0, 3],
  [2, 3, 1],
  [1, 17, 2],
  [17, 1, 3],
  [7, 13, 17],
  [8, 32, 5],
  [9, 33, 31],
  [6, 16, 8],
  [12, 48, 64],
  [17, 31, 129],
  [31, 37, 41],
  [13, 100, 3],
  [5, 67, 300],
  [1, 257, 260],
  [23, 29, 397],
  // either operand's side, either tile height, several k blocks with C transposed or not,
  // B rows 512 B or 1 KiB apart (copied rather than read in place)
  [100, 3, 513],
  [3, 100, 257],
  [25, 17, 1030],
  [40, 9, 300],
  [9, 40, 300],
  [16, 24, 520],
  [20, 128, 40],
  [20, 256, 40],
];
export type Storage = 'plain' | 'view' | 'shared view';
export const STORAGES: Storage[] = ['plain', 'view', 'shared view'];
export const GUARD = 5; // elements before and after a view, checked to stay untouched

/** A copy of `src` in the given storage: its own buffer, or a view at an odd offset into a larger one. */
export function place(src: Float, storage: Storage): Float {
  if (storage === 'plain') return src.slice();
  const dtype: DType = src instanceof Float64Array ? 'float64' : 'float32';
  const whole = alloc(dtype, src.length + 2 * GUARD + 3, storage === 'shared view');
  whole.fill(-7.25);
  const v = whole.subarray(GUARD + 3, GUARD + 3 + src.length);
  v.set(src);
  return v;
}

export function bytes(a: Float): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * Bit comparison: byte by byte, so −0/+0, subnormals and every finite bit count; names the first
 * difference. One exception: where both are NaN, the NaN's sign and payload are not compared.
 * IEEE 754 does not say which operand's NaN an operation passes on, and V8 itself does not keep
 * one rule (its JIT may swap the operands of a commutative +/×), so the reference's own NaN bits
 * are not reproducible; NaN-ness is.
 */
export function assertSameBits(actual: Float, expected: Float, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  const x = bytes(actual);
  const y = bytes(expected);
  const w = actual.BYTES_PER_ELEMENT;
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) {
      const e = Math.floor(i / w);
      if (Number.isNaN(actual[e]) && Number.isNaN(expected[e])) {
        i = (e + 1) * w - 1;
        continue;
      }
      assert.fail(
        `${label}: element ${e} differs: got ${String(actual[e])}, expected ${String(expected[e])} (bits ${hex(actual, e)} vs ${hex(expected, e)})`,
      );
    }
  }
}

export function hex(a: Float, e: number): string {
  return Array.from(bytes(a).subarray(e * a.BYTES_PER_ELEMENT, (e + 1) * a.BYTES_PER_ELEMENT))
    .reverse()
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('');
}

/** A view's guard elements (around it in its buffer) still hold the fill value. */
export function assertGuards(v: Float, label: string): void {
  if (v.byteOffset === 0) return;
  const dtype: DType = v instanceof Float64Array ? 'float64' : 'float32';
  const w = v.BYTES_PER_ELEMENT;
  const before =
    dtype === 'float64'
      ? new Float64Array(v.buffer, v.byteOffset - GUARD * w, GUARD)
      : new Float32Array(v.buffer, v.byteOffset - GUARD * w, GUARD);
  const after =
    dtype === 'float64'
      ? new Float64Array(v.buffer, v.byteOffset + v.byteLength, GUARD)
      : new Float32Array(v.buffer, v.byteOffset + v.byteLength, GUARD);
  for (const g of [...before, ...after]) assert.equal(g, -7.25, `${label}: wrote outside its view`);
}

/**
 * gemmNT (33×70×129, float32, shared views) computed by `kernels` selected inside a
 * worker_thread; checks its bits against the reference here and returns what the worker
 * reported: its kernel id and fallback note.
 */
export async function gemmInWorker(kernels: 'native' | 'wasm', seed: number): Promise<{ id: string; fallbackNote: string | null }> {
  const [m, n, k] = [33, 70, 129];
  const rng = new Rng(seed);
  const A = place(data('float32', m * k, rng), 'shared view');
  const B = place(data('float32', n * k, rng), 'shared view');
  const C = place(alloc('float32', m * n), 'shared view');
  const selectJs = path.join(__dirname, '..', '..', 'src', 'tensor', 'select.js');
  const code = `
    const { parentPort, workerData: w } = require('node:worker_threads');
    const { selectKernels } = require(w.selectJs);
    const { kernels, fallbackNote } = selectKernels('float32', w.kernels);
    const view = (x) => new Float32Array(x.buffer, x.byteOffset, x.length);
    kernels.gemmNT(w.m, w.n, w.k, view(w.A), view(w.B), view(w.C));
    parentPort.postMessage({ id: kernels.id, fallbackNote });`;
  const shared = (x: Float): { buffer: ArrayBufferLike; byteOffset: number; length: number } => ({
    buffer: x.buffer,
    byteOffset: x.byteOffset,
    length: x.length,
  });
  const got = await new Promise<{ id: string; fallbackNote: string | null }>((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { selectJs, kernels, m, n, k, A: shared(A), B: shared(B), C: shared(C) } });
    w.once('message', resolve);
    w.once('error', reject);
  });
  const want = alloc('float32', m * n);
  referenceKernels('float32').gemmNT(m, n, k, A, B, want);
  assertSameBits(C, want, `${got.id} gemmNT in a worker`);
  return got;
}
