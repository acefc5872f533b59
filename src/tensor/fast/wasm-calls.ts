/**
 * wasm-calls.ts — one call into the WebAssembly module per kernel: the arguments checked (the
 * messages match the native addon's), the operands copied into this thread's linear memory, the
 * export run, the results copied out. Typed arrays live in JavaScript memory, so each call copies:
 * for a GEMM O(mk + nk + mn) copies against O(mnk) arithmetic; the vector passes gain despite their
 * copies (docs/performance.md), and gemmTNCheck scans C where the kernel left it. Each follows THE
 * KERNEL SPEC bit for bit (GEMM lanes over output columns, mul then add, k in increasing order;
 * tanh32's formula operation for operation; the vector passes element by element, rule 7, with rule
 * 8's eight float64 lanes; colSum's lanes over columns, rows in order).
 * Not here: loading the module (wasm-module.ts); the KernelSet (wasm.ts); the kernels themselves (wasm/).
 */

import type { DType, Float } from '../dtype';
import { NORM_BLOCK, SATURATION_RATIO, type Activation } from '../kernels';
import { softmaxCE32Rows } from '../softmax-ce';
import type { WasmExports } from './wasm-module';

// ---- linear memory ------------------------------------------------------------------------

const SCRATCH = 256; // bytes 0..127: the GEMMs' scratch tile, reduceGrad's 16 lane sums
const PANEL_ROW = 32; // bytes per k-row of a packed B panel: 8 floats or 4 doubles

let f32View = new Float32Array(0);
let f64View = new Float64Array(0);

/** Grows linear memory to at least `bytes` and refreshes the views (growing detaches the old buffer). */
function ensure(w: WasmExports, bytes: number): void {
  if (bytes > 0x7fff0000) throw new RangeError(`operands of ${bytes} bytes exceed WebAssembly's 2 GiB working set`);
  const have = w.memory.buffer.byteLength;
  if (bytes > have) w.memory.grow(Math.ceil((bytes - have) / 65536));
  if (f32View.buffer !== w.memory.buffer) {
    f32View = new Float32Array(w.memory.buffer);
    f64View = new Float64Array(w.memory.buffer);
  }
}

const align = (x: number): number => Math.ceil(x / 64) * 64; // cache lines

// ---- argument checks (the messages match the native addon's) ------------------------------

function checkDim(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** 31) throw new RangeError(`${name} must be an integer in [0, 2^31)`);
}

function checkArray(name: string, a: Float, dtype: DType, need: number): void {
  const ok = dtype === 'float32' ? a instanceof Float32Array : a instanceof Float64Array;
  if (!ok) throw new RangeError(`${name} must be a ${dtype === 'float32' ? 'Float32Array' : 'Float64Array'}`);
  if (a.length < need) throw new RangeError(`${name} has ${a.length} elements, needs ${need}`);
}

type Gemm = 'NT' | 'NTAcc' | 'TN' | 'NN';

/**
 * One GEMM: checks, copies A and B in, packs them as the kernel reads them (wasm/kernels.wat), runs
 * the kernel, copies C out; with `check` (gemmTNCheck) returns firstNonFinite of C, else −1.
 * NT: C = A (m, k) · (B (n, k))ᵀ; NTAcc: C += the same, C copied in first; TN: C = (A (k, m))ᵀ · B (k, n);
 * NN: C = A (m, k) · B (k, n). Linear memory: [scratch | A | A packed | B | B packed | C | padding],
 * each at a cache-line boundary; NTAcc's tiles read C as whole vectors, past its last row and column
 * (never stored), which the padding keeps inside memory.
 */
export function gemm(
  w: WasmExports,
  dtype: DType,
  kind: Gemm,
  m: number,
  n: number,
  k: number,
  A: Float,
  B: Float,
  C: Float,
  check = false,
): number {
  checkDim('m', m);
  checkDim('n', n);
  checkDim('k', k);
  checkArray('A', A, dtype, m * k);
  checkArray('B', B, dtype, n * k);
  checkArray('C', C, dtype, m * n);
  if (m === 0 || n === 0 || (kind === 'NTAcc' && k === 0)) return -1;
  const acc = kind === 'NTAcc';
  const f32 = dtype === 'float32';
  const es = f32 ? 4 : 8;
  const packCols = f32 ? w.pack_cols_32 : w.pack_cols_64;
  const aOff = SCRATCH;
  const aPk = align(aOff + m * k * es);
  const bOff = align(aPk + Math.ceil(m / 4) * 4 * k * es);
  const pOff = align(bOff + n * k * es);
  const cOff = align(pOff + Math.ceil((n * es) / PANEL_ROW) * k * PANEL_ROW);
  ensure(w, cOff + (m + 4) * n * es + 64);
  const view = f32 ? f32View : f64View;
  view.set(A.length === m * k ? A : A.subarray(0, m * k), aOff / es);
  view.set(B.length === n * k ? B : B.subarray(0, n * k), bOff / es);
  // A' in blocks of 4 rows, one 4-element row per p (16 or 32 bytes)
  if (kind === 'TN') w.pack_rows(k, m * es, aOff, aPk, f32 ? 4 : 5);
  else packCols(m, k, aOff, aPk, 2);
  // B' in panels of 32-byte rows: 8 floats or 4 doubles
  if (kind === 'NT' || acc) packCols(n, k, bOff, pOff, f32 ? 3 : 2);
  else w.pack_rows(k, n * es, bOff, pOff, 5);
  if (acc) view.set(C.length === m * n ? C : C.subarray(0, m * n), cOff / es);
  (f32 ? w.gemm_f32 : w.gemm_f64)(m, n, k, aPk, 4 * k * es, 4 * es, pOff, k * PANEL_ROW, cOff, acc ? 1 : 0);
  // gemmTNCheck: C scanned where it is, before the copy out
  const bad = check ? (f32 ? w.first_non_finite_f32 : w.first_non_finite_f64)(m * n, cOff) : -1;
  C.set(view.subarray(cOff / es, cOff / es + m * n));
  return bad;
}

/** a = tanh(z) over m·n floats (the workload's hidden activation; others stay in TypeScript). */
export function tanh32(w: WasmExports, m: number, n: number, z: Float, a: Float): void {
  checkDim('m', m);
  checkDim('n', n);
  const len = m * n;
  checkArray('z', z, 'float32', len);
  checkArray('a', a, 'float32', len);
  if (len === 0) return;
  const src = SCRATCH;
  const dst = align(src + len * 4 + 16); // the last vector may read and write past len
  ensure(w, dst + len * 4 + 16);
  f32View.set(z.length === len ? z : z.subarray(0, len), src / 4);
  w.tanh_f32(len, src, dst);
  a.set(f32View.subarray(dst / 4, dst / 4 + len));
}

/** Places `count` operands of n elements one after another (each with room for a last vector). */
function slots(w: WasmExports, es: number, n: number, count: number): number[] {
  const size = align(n * es + 16);
  ensure(w, SCRATCH + count * size);
  return Array.from({ length: count }, (_, i) => SCRATCH + i * size);
}

function put(dtype: DType, off: number, x: Float, n: number): void {
  (dtype === 'float32' ? f32View : f64View).set(x.length === n ? x : x.subarray(0, n), off / (dtype === 'float32' ? 4 : 8));
}

function get(dtype: DType, off: number, x: Float, n: number): void {
  const es = dtype === 'float32' ? 4 : 8;
  x.set((dtype === 'float32' ? f32View : f64View).subarray(off / es, off / es + n));
}

/** a ← a + b over n elements. */
export function addInto(w: WasmExports, dtype: DType, n: number, a: Float, b: Float): void {
  checkDim('n', n);
  checkArray('a', a, dtype, n);
  checkArray('b', b, dtype, n);
  if (n === 0) return;
  const [ao, bo] = slots(w, dtype === 'float32' ? 4 : 8, n, 2) as [number, number];
  put(dtype, ao, a, n);
  put(dtype, bo, b, n);
  (dtype === 'float32' ? w.add_f32 : w.add_f64)(n, ao, bo);
  get(dtype, ao, a, n);
}

/** SGD: u ← lr·g (rounded to the dtype), p ← p − u, over n elements. */
export function sgdUpdate(w: WasmExports, dtype: DType, n: number, lr: number, g: Float, p: Float, u: Float): void {
  checkDim('n', n);
  checkArray('g', g, dtype, n);
  checkArray('p', p, dtype, n);
  checkArray('u', u, dtype, n);
  if (n === 0) return;
  const [go, po, uo] = slots(w, dtype === 'float32' ? 4 : 8, n, 3) as [number, number, number];
  put(dtype, go, g, n);
  put(dtype, po, p, n);
  (dtype === 'float32' ? w.sgd_f32 : w.sgd_f64)(n, lr, go, po, uo);
  get(dtype, uo, u, n);
  get(dtype, po, p, n);
}

/** Rule 8's fixed combination of the eight float64 lane sums a reduce call leaves at s[from…from + 7]. */
function laneSum(s: Float64Array, from: number): number {
  return s[from]! + s[from + 1]! + (s[from + 2]! + s[from + 3]!) + (s[from + 4]! + s[from + 5]! + (s[from + 6]! + s[from + 7]!));
}

/** reduceGrad (kernels.ts): g ← g/divisor + λ·p, and out = [Σg², Σp²] summed as rule 8 says. */
export function reduceGrad(
  w: WasmExports,
  dtype: DType,
  n: number,
  g: Float,
  p: Float,
  divisor: number,
  lambda: number,
  out: Float64Array,
): void {
  checkDim('n', n);
  checkArray('g', g, dtype, n);
  checkArray('p', p, dtype, n);
  if (!(out instanceof Float64Array) || out.length < 2) throw new RangeError('out must be a Float64Array of 2 elements');
  const n8 = Math.ceil(n / 8) * 8; // whole lane sets; the zeros past n add +0
  const es = dtype === 'float32' ? 4 : 8;
  const [go, po] = slots(w, es, n8, 2) as [number, number];
  const view = dtype === 'float32' ? f32View : f64View;
  put(dtype, go, g, n);
  put(dtype, po, p, n);
  view.fill(0, go / es + n, go / es + n8);
  view.fill(0, po / es + n, po / es + n8);
  const s = f64View; // the 16 lane sums of a call, at address 0
  let sg = 0;
  let sp = 0;
  // rule 8: one call per block (NORM_BLOCK is a multiple of 8), the block sums added in order
  for (let b = 0; b < n8; b += NORM_BLOCK) {
    (dtype === 'float32' ? w.reduce_f32 : w.reduce_f64)(
      Math.min(NORM_BLOCK, n8 - b),
      go + b * es,
      po + b * es,
      divisor,
      lambda,
      lambda !== 0 ? 1 : 0,
    );
    sg += laneSum(s, 0);
    sp += laneSum(s, 8);
  }
  get(dtype, go, g, n);
  out[0] = sg;
  out[1] = sp;
}

/** firstNonFinite (kernels.ts): the index of the first NaN or ±∞ among a's first n, or −1. */
export function firstNonFinite(w: WasmExports, dtype: DType, n: number, a: Float): number {
  checkDim('n', n);
  checkArray('a', a, dtype, n);
  if (n === 0) return -1;
  const [ao] = slots(w, dtype === 'float32' ? 4 : 8, n, 1) as [number];
  put(dtype, ao, a, n);
  return (dtype === 'float32' ? w.first_non_finite_f32 : w.first_non_finite_f64)(n, ao);
}

/** colSum, float32: out (n) = Σ rows of A (m, n) from +0, rows in increasing order. */
export function colSum32(w: WasmExports, m: number, n: number, A: Float, out: Float): void {
  checkDim('m', m);
  checkDim('n', n);
  checkArray('A', A, 'float32', m * n);
  checkArray('out', out, 'float32', n);
  if (n === 0) return;
  const [ao, oo] = slots(w, 4, Math.max(m * n, n), 2) as [number, number];
  put('float32', ao, A, m * n);
  w.col_sum_f32(m, n, ao, oo);
  get('float32', oo, out, n);
}

/** addBias, float32: C (m, n) += b (n) row by row. */
export function addBias32(w: WasmExports, m: number, n: number, C: Float, b: Float): void {
  checkDim('m', m);
  checkDim('n', n);
  checkArray('C', C, 'float32', m * n);
  checkArray('b', b, 'float32', n);
  if (m === 0 || n === 0) return;
  const [co, bo] = slots(w, 4, m * n, 2) as [number, number];
  put('float32', co, C, m * n);
  put('float32', bo, b, n);
  w.add_bias_f32(m, n, co, bo);
  get('float32', co, C, m * n);
}

/** activateBackward, float32 tanh and sigmoid (the others are the reference's): g ← g ⊙ f′ through a. */
export function activateBackward32(w: WasmExports, f: Activation, m: number, n: number, a: Float, g: Float): void {
  checkDim('m', m);
  checkDim('n', n);
  const len = m * n;
  checkArray('a', a, 'float32', len);
  checkArray('g', g, 'float32', len);
  if (len === 0) return;
  const [go, ao] = slots(w, 4, len, 2) as [number, number];
  put('float32', go, g, len);
  put('float32', ao, a, len);
  w.act_backward_f32(len, go, ao, f === 'sigmoid' ? 1 : 0);
  get('float32', go, g, len);
}

/** activationStats (rule 9), float32: the saturated outputs and, per unit, the rows with z > 0, added into out. */
export function activationStats32(w: WasmExports, f: Activation, m: number, n: number, z: Float, a: Float, out: Float64Array): void {
  checkDim('m', m);
  checkDim('n', n);
  const len = m * n;
  checkArray('z', z, 'float32', len);
  checkArray('a', a, 'float32', len);
  if (!(out instanceof Float64Array) || out.length < 1 + n)
    throw new RangeError(`out must be a Float64Array of at least ${1 + n} elements`);
  if (len === 0) return;
  const [zo, ao, co] = slots(w, 4, len, 3) as [number, number, number];
  put('float32', zo, z, len);
  const mode = f === 'tanh' ? 1 : f === 'sigmoid' ? 2 : 0;
  if (mode !== 0) put('float32', ao, a, len);
  const saturated = w.act_stats_f32(m, n, zo, ao, mode, mode === 2 ? 0.25 * SATURATION_RATIO : SATURATION_RATIO, co);
  out[0] += saturated;
  const counts = new Int32Array(w.memory.buffer, co, n);
  for (let j = 0; j < n; j++) out[1 + j] += counts[j]!;
}

/**
 * exp32 of z − (its row's max), in float32, for m rows of n: the differences are written into
 * linear memory (the Float32Array store rounds them as the reference's fround does), exp_f32
 * runs over the block, and the offset of the exponentials in linear memory is returned.
 */
function rowExp32(w: WasmExports, m: number, n: number, z: Float): number {
  const len = m * n;
  const [so, eo] = slots(w, 4, len, 2) as [number, number];
  const v = f32View;
  for (let r = 0; r < m; r++) {
    const o = r * n;
    let mx = z[o]!;
    for (let j = 1; j < n; j++) if (z[o + j]! > mx) mx = z[o + j]!;
    for (let j = 0; j < n; j++) v[so / 4 + o + j] = z[o + j]! - mx;
  }
  w.exp_f32(len, so, eo);
  return eo / 4;
}

/** activate('softmax'), float32: per row, the exponentials of z − max, their sum in increasing j, each divided by it. */
export function softmax32(w: WasmExports, m: number, n: number, z: Float, a: Float): void {
  checkDim('m', m);
  checkDim('n', n);
  checkArray('z', z, 'float32', m * n);
  checkArray('a', a, 'float32', m * n);
  if (m * n === 0) return;
  const e = rowExp32(w, m, n, z);
  const v = f32View;
  const fr = Math.fround;
  for (let r = 0; r < m; r++) {
    const o = r * n;
    let s = 0;
    for (let j = 0; j < n; j++) {
      const x = v[e + o + j]!;
      a[o + j] = x;
      s = fr(s + x);
    }
    for (let j = 0; j < n; j++) a[o + j] = fr(a[o + j]! / s);
  }
}

/** softmaxCE (kernels.ts), float32: the exponentials over the whole block here, the rows as the reference does them. */
export function softmaxCE32(w: WasmExports, rows: number, n: number, z: Float, a: Float, y: Float, g: Float): number {
  checkDim('rows', rows);
  checkDim('n', n);
  for (const [name, x] of [
    ['z', z],
    ['a', a],
    ['y', y],
    ['g', g],
  ] as const)
    checkArray(name, x, 'float32', rows * n);
  if (rows > 0 && n === 0) throw new RangeError('n must be at least 1');
  if (rows === 0) return 0;
  const e = rowExp32(w, rows, n, z);
  return softmaxCE32Rows(rows, n, z, a, y, g, f32View, e);
}

/**
 * reduceSgd (kernels.ts) block by block of NORM_BLOCK elements (rule 8's blocks): each block of
 * a, b and p is copied in once; the passes run on it in linear memory, where it stays in cache —
 * float32: add_f32 then reduce_sgd_f32 (the reduction and the update in one pass); float64:
 * add_f64, reduce_f64 and sgd_f64 — then a ← the old p (from p, not yet overwritten) and p ← the
 * new weights. The same bits as the reference's passes over the whole tensor, with each operand
 * copied in and out once instead of once per pass. No non-temporal stores: `shared` changes nothing.
 */
export function reduceSgd(
  w: WasmExports,
  dtype: DType,
  n: number,
  a: Float,
  b: Float | null,
  p: Float,
  divisor: number,
  lambda: number,
  lr: number,
  out: Float64Array,
): void {
  checkDim('n', n);
  checkArray('a', a, dtype, n);
  if (b !== null) checkArray('b', b, dtype, n);
  checkArray('p', p, dtype, n);
  if (!(out instanceof Float64Array) || out.length < 2) throw new RangeError('out must be a Float64Array of 2 elements');
  const f32 = dtype === 'float32';
  const es = f32 ? 4 : 8;
  // whole lane sets (the zeros past n add +0 to every sum), at most one block
  const room = Math.min(NORM_BLOCK, Math.ceil(n / 8) * 8);
  const [ao, bo, po, uo] = slots(w, es, room, 4) as [number, number, number, number];
  const view = f32 ? f32View : f64View;
  const useLambda = lambda !== 0 ? 1 : 0;
  // g·2^−k in float32 is g/2^k in float64 rounded once (reduce_sgd_f32): divisor an integer ≤ 2^24
  const pow2 = Number.isInteger(divisor) && divisor >= 1 && divisor <= 2 ** 24 && (divisor & (divisor - 1)) === 0;
  const mode = useLambda === 0 && pow2 ? 1 : 0;
  const s = f64View; // the 16 lane sums of a reduce call, at address 0
  let sg = 0;
  let sp = 0;
  for (let from = 0; from < n; from += NORM_BLOCK) {
    const len = Math.min(NORM_BLOCK, n - from);
    const len8 = Math.ceil(len / 8) * 8;
    const to = from + len;
    view.set(a.subarray(from, to), ao / es);
    if (b !== null) {
      view.set(b.subarray(from, to), bo / es);
      (f32 ? w.add_f32 : w.add_f64)(len, ao, bo);
    }
    // after the add, which runs over whole vectors
    view.fill(0, ao / es + len, ao / es + len8);
    view.set(p.subarray(from, to), po / es);
    view.fill(0, po / es + len, po / es + len8);
    if (f32) w.reduce_sgd_f32(len8, ao, po, divisor, lambda, useLambda, lr, 1 / divisor, mode);
    else w.reduce_f64(len8, ao, po, divisor, lambda, useLambda);
    sg += laneSum(s, 0);
    sp += laneSum(s, 8);
    if (!f32) w.sgd_f64(len, lr, ao, po, uo);
    a.set(p.subarray(from, to), from);
    p.set(view.subarray(po / es, po / es + len), from);
  }
  out[0] = sg;
  out[1] = sp;
}
