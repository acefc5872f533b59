/**
 * spec-math.ts — the element-wise functions of the kernel spec (KERNEL_SPEC_VERSION in kernels.ts).
 *
 * exp, log, tanh and sigmoid built only from +, −, ×, ÷ (which IEEE 754 rounds correctly on
 * every machine), Math.round (exact), and exact exponent extraction. Not Math.exp / Math.tanh
 * / libm: those differ between engines and processors, and then so would the gradients.
 * Every fast kernel (WebAssembly, native) must implement these same formulas, operation by
 * operation, with the same constants and the same evaluation order.
 *
 * float64 functions use plain JS arithmetic. float32 functions (suffix 32) round after every
 * operation with Math.fround; double rounding through float64 is harmless for +, −, ×, ÷.
 *
 * Accuracy (measured by test/tensor/spec-math.test.ts over dense grids against Math.*):
 *   exp64, log64: relative error ≤ 2 ulp; tanh64, sigmoid64: relative error ≤ 4 ulp.
 *   exp32, log32, tanh32, sigmoid32: relative error ≤ 4 ulp of float32 (≈ 4.8e-7).
 * Not here: array loops (reference-kernels.ts).
 */

const fr = Math.fround;

// ---- float64 ---------------------------------------------------------------------------

// Cody–Waite split of ln 2 (fdlibm): LN2_HI has 21 trailing zero bits, so k·LN2_HI is exact.
const LN2_HI = 6.9314718036912381649e-1;
const LN2_LO = 1.90821492927058770002e-10;
const INV_LN2 = 1.442695040888963387;
const EXP_OVER = 709.782712893384;
const EXP_UNDER = -745.1332191019412;

/** 2^k for k in [-1074, 1023], built by exact doubling/halving. Index k + 1100. */
const POW2 = new Float64Array(2200);
{
  let p = 1;
  for (let k = 0; k <= 1023; k++) {
    POW2[k + 1100] = p;
    p *= 2;
  }
  p = 1;
  for (let k = 0; k >= -1074; k--) {
    POW2[k + 1100] = p;
    p /= 2;
  }
}

/** 1/i! for i = 0..19, as doubles. */
const INV_FACT: number[] = [];
{
  let f = 1;
  for (let i = 0; i <= 19; i++) {
    if (i > 0) f *= i;
    INV_FACT.push(1 / f);
  }
}

function scale2(p: number, k: number): number {
  // p·2^k in two steps where one power of two would not be a normal double, so that the
  // result rounds once: k = 1024 (x in (709.43, 709.78]) and the subnormal range
  if (k > 1023) return p * POW2[1023 + 1100]! * 2;
  if (k >= -1022) return p * POW2[k + 1100]!;
  return p * POW2[k + 54 + 1100]! * POW2[-54 + 1100]!;
}

/** e^x. Range reduction x = k·ln2 + r, |r| ≤ ln2/2; e^r by its Taylor polynomial of degree 13. */
export function exp64(x: number): number {
  if (x !== x) return NaN;
  if (x > EXP_OVER) return Infinity;
  if (x < EXP_UNDER) return 0;
  const k = Math.round(x * INV_LN2);
  const r = x - k * LN2_HI - k * LN2_LO;
  let p = INV_FACT[13]!;
  for (let i = 12; i >= 0; i--) p = p * r + INV_FACT[i]!;
  return scale2(p, k);
}

/** e^u − 1 for |u| ≤ 1, by its Taylor polynomial of degree 19 (no cancellation near 0). */
function expm1Small64(u: number): number {
  let p = INV_FACT[19]!;
  for (let i = 18; i >= 1; i--) p = p * u + INV_FACT[i]!;
  return p * u;
}

/** tanh x = em1/(em1 + 2) with em1 = e^{2|x|} − 1 for |x| < 0.5, else 1 − 2/(e^{2|x|} + 1). */
export function tanh64(x: number): number {
  if (x !== x) return NaN;
  const ax = x < 0 ? -x : x;
  let t: number;
  if (ax > 19.1)
    t = 1; // tanh(19.1) rounds to 1 in float64
  else if (ax < 0.5) {
    const em1 = expm1Small64(2 * ax);
    t = em1 / (em1 + 2);
  } else {
    t = 1 - 2 / (exp64(2 * ax) + 1);
  }
  return x < 0 ? -t : t;
}

/** σ(x) = 1/(1 + e^{−x}) for x ≥ 0, e^x/(1 + e^x) for x < 0. */
export function sigmoid64(x: number): number {
  if (x !== x) return NaN;
  if (x >= 0) return 1 / (1 + exp64(-x));
  const e = exp64(x);
  return e / (1 + e);
}

const SQRT2 = 1.4142135623730951;
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0; // little-endian: high word at index 1

/** x = m·2^e with m in [√½, √2); exact (bit manipulation, no rounding). */
function frexpNorm(x: number): [number, number] {
  let e = 0;
  if (x < 2.2250738585072014e-308) {
    x *= 18014398509481984;
    e = -54;
  } // subnormal: scale by 2^54 (exact)
  F64[0] = x;
  const hi = U32[HI]!;
  e += ((hi >>> 20) & 0x7ff) - 1023;
  U32[HI] = (hi & 0x800fffff) | 0x3ff00000;
  let m = F64[0]!;
  if (m > SQRT2) {
    m /= 2;
    e += 1;
  }
  return [m, e];
}

/** 1/(2i+1) for i = 0..11. */
const INV_ODD: number[] = Array.from({ length: 12 }, (_, i) => 1 / (2 * i + 1));

/** ln x. x = m·2^e; ln m = 2·atanh(s), s = (m−1)/(m+1), |s| ≤ 0.172, odd series to s^23. */
export function log64(x: number): number {
  if (x !== x || x < 0) return NaN;
  if (x === 0) return -Infinity;
  if (x === Infinity) return Infinity;
  const [m, e] = frexpNorm(x);
  const f = m - 1;
  const s = f / (2 + f);
  const z = s * s;
  let p = INV_ODD[11]!;
  for (let i = 10; i >= 0; i--) p = p * z + INV_ODD[i]!;
  const lnm = 2 * s * p;
  return e * LN2_HI + (lnm + e * LN2_LO);
}

// ---- float32 ---------------------------------------------------------------------------

// Cody–Waite split for float32 (cephes expf): C1 has few significant bits, so k·C1 is exact.
const C1_32 = fr(0.693359375);
const C2_32 = fr(-2.1219444e-4);
const INV_LN2_32 = fr(1.4426950408889634);
const EXP32_OVER = fr(88.72283);
const EXP32_UNDER = fr(-103.97208);
const INV_FACT32 = INV_FACT.map((v) => fr(v));
const LN2_HI_32 = fr(0.693145751953125); // 0x3f317200: trailing zeros, k·LN2_HI_32 exact
const LN2_LO_32 = fr(1.428606765330187045e-6);
const INV_ODD32 = INV_ODD.map((v) => fr(v));

function scale2_32(p: number, k: number): number {
  if (k >= -126) return fr(p * POW2[k + 1100]!);
  return fr(fr(p * POW2[k + 30 + 1100]!) * POW2[-30 + 1100]!);
}

/** e^x in float32: the exp64 scheme with float32 constants and a degree-7 polynomial. */
export function exp32(x: number): number {
  x = fr(x);
  if (x !== x) return NaN;
  if (x > EXP32_OVER) return Infinity;
  if (x < EXP32_UNDER) return 0;
  const k = Math.round(fr(x * INV_LN2_32));
  const r = fr(fr(x - fr(k * C1_32)) - fr(k * C2_32));
  let p = INV_FACT32[7]!;
  for (let i = 6; i >= 0; i--) p = fr(fr(p * r) + INV_FACT32[i]!);
  return scale2_32(p, k);
}

function expm1Small32(u: number): number {
  let p = INV_FACT32[11]!;
  for (let i = 10; i >= 1; i--) p = fr(fr(p * u) + INV_FACT32[i]!);
  return fr(p * u);
}

export function tanh32(x: number): number {
  x = fr(x);
  if (x !== x) return NaN;
  const ax = x < 0 ? -x : x;
  let t: number;
  if (ax > 9.1)
    t = 1; // tanh(9.1) rounds to 1 in float32
  else if (ax < 0.5) {
    const em1 = expm1Small32(fr(2 * ax));
    t = fr(em1 / fr(em1 + 2));
  } else {
    t = fr(1 - fr(2 / fr(exp32(fr(2 * ax)) + 1)));
  }
  return x < 0 ? -t : t;
}

export function sigmoid32(x: number): number {
  x = fr(x);
  if (x !== x) return NaN;
  if (x >= 0) return fr(1 / fr(1 + exp32(-x)));
  const e = exp32(x);
  return fr(e / fr(1 + e));
}

export function log32(x: number): number {
  x = fr(x);
  if (x !== x || x < 0) return NaN;
  if (x === 0) return -Infinity;
  if (x === Infinity) return Infinity;
  const [m, e] = frexpNorm(x); // m is exact in float32: x's mantissa has 24 bits
  const f = fr(m - 1);
  const s = fr(f / fr(2 + f));
  const z = fr(s * s);
  let p = INV_ODD32[5]!;
  for (let i = 4; i >= 0; i--) p = fr(fr(p * z) + INV_ODD32[i]!);
  const lnm = fr(fr(2 * s) * p);
  return fr(fr(e * LN2_HI_32) + fr(lnm + fr(e * LN2_LO_32)));
}
