/**
 * fma.ts — a correctly rounded fused multiply-add, emulated in binary64: the `fma` kernel
 * profile's oracle (reference-kernels.ts), against which every hardware-FMA kernel is tested.
 *
 * fma32(a, b, c) = RN_float32(a·b + c) for float32 a, b, c: the product is exact in binary64
 * (24 + 24 significant bits ≤ 53, exponents far inside its range), the sum of two doubles is
 * rounded to odd in binary64 (53 ≥ 24 + 2 bits, so the final rounding to float32 is the
 * correct one: Boldo and Melquiond, "Emulation of a FMA and correctly rounded sums: proved
 * algorithms using rounding to odd", IEEE TC 2008).
 * fma64(a, b, c) = RN_float64(a·b + c): the product split exactly into ph + pl (Dekker's
 * product over Veltkamp's splitting), then the correctly rounded sum of ph, pl and c (the same
 * paper's sum of three: two exact 2Sums, the tail rounded to odd, one final rounding). Those
 * steps are exact only away from overflow and underflow, so operands outside [2^-480, 2^480]
 * (and |c| > 2^1000) take an exact BigInt path instead; zeros and non-finite operands follow
 * IEEE 754's rules directly.
 * Not here: array loops (reference-kernels.ts); the hardware fma the tests compare with (native/).
 */

const F = new Float64Array(1);
const U = new Uint32Array(F.buffer);
// the word of a double's low mantissa bits: index 0 on little-endian hosts
const LO = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1;
const HI = 1 - LO;

/**
 * The double nearest s + e rounded to odd, where s = RN(s + e) and e is the exact error of
 * that sum (a 2Sum): s itself when e = 0 or s is odd, else s's neighbour on e's side (which is
 * odd). s is never 0 when e ≠ 0 (a sum that rounds to 0 is exact), and never at the top of the
 * range where it is used.
 */
function toOdd(s: number, e: number): number {
  if (e === 0) return s;
  F[0] = s;
  const lo = U[LO]!;
  if ((lo & 1) !== 0) return s;
  if (s > 0 === e > 0)
    U[LO] = lo + 1; // magnitude up: the low bit was 0, no carry
  else if (lo === 0) {
    U[LO] = 0xffffffff;
    U[HI] = U[HI]! - 1;
  } else U[LO] = lo - 1;
  return F[0]!;
}

/** RN_float32(a·b + c), one rounding, for float32 values a, b, c. */
export function fma32(a: number, b: number, c: number): number {
  const p = a * b; // exact
  const s = p + c;
  if (s - s !== 0) return Math.fround(s); // ±∞ or NaN: no finite float32 inputs overflow binary64
  const z = s - p;
  const e = p - (s - z) + (c - z);
  return Math.fround(toOdd(s, e));
}

const SPLIT = 134217729; // 2^27 + 1
const OP_MIN = 2 ** -480;
const OP_MAX = 2 ** 480;
const ADD_MAX = 2 ** 1000;

/** RN_float64(a·b + c), one rounding. */
export function fma64(a: number, b: number, c: number): number {
  if (a === 0 || b === 0) return a * b + c; // the product is an exact (signed) zero, or NaN
  const ph = a * b;
  if (c === 0) return ph; // a·b ≠ 0 exactly, so a·b ± 0 rounds as a·b
  const aa = Math.abs(a);
  const ab = Math.abs(b);
  if (aa >= OP_MIN && aa <= OP_MAX && ab >= OP_MIN && ab <= OP_MAX && Math.abs(c) <= ADD_MAX) {
    // ph + pl = a·b exactly: no split overflows, no partial product underflows
    let t = SPLIT * a;
    const ahi = t - (t - a);
    const alo = a - ahi;
    t = SPLIT * b;
    const bhi = t - (t - b);
    const blo = b - bhi;
    const pl = alo * blo - (ph - ahi * bhi - alo * bhi - ahi * blo);
    // uh + ul = c + pl, th + tl = ph + uh (2Sum, exact); then RN(th + RO(tl + ul))
    const uh = c + pl;
    let z = uh - c;
    const ul = c - (uh - z) + (pl - z);
    const th = ph + uh;
    z = th - ph;
    const tl = ph - (th - z) + (uh - z);
    const vs = tl + ul;
    z = vs - tl;
    const ve = tl - (vs - z) + (ul - z);
    return th + toOdd(vs, ve);
  }
  if (!Number.isFinite(a) || !Number.isFinite(b)) return ph + c; // ±∞ or NaN times a non-zero
  if (!Number.isFinite(c)) return c; // a·b is finite exactly: ±∞ + finite, or NaN
  return fmaExact(a, b, c);
}

// ---- the exact path: integers, then one round-to-nearest-even ------------------------------------

/** |x| = m·2^e with an integer m, for a finite x; [negative, m, e]. */
function parts(x: number): [boolean, bigint, number] {
  F[0] = x;
  const hi = U[HI]!;
  const ex = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(U[LO]!);
  if (ex !== 0) m |= 1n << 52n;
  return [hi >>> 31 === 1, m, ex === 0 ? -1074 : ex - 1075];
}

/** 2^q exactly for q in [-1074, 1023]; +∞ above. */
function pow2(q: number): number {
  if (q > 1023) return Infinity;
  if (q >= -1022) {
    U[HI] = (q + 1023) << 20;
    U[LO] = 0;
  } else if (q + 1074 >= 32) {
    U[HI] = 2 ** (q + 1074 - 32);
    U[LO] = 0;
  } else {
    U[HI] = 0;
    U[LO] = 2 ** (q + 1074);
  }
  return F[0]!;
}

function bitLength(m: bigint): number {
  return m.toString(2).length;
}

/** RN_float64(a·b + c) for finite, non-zero a and b and finite c, by exact integer arithmetic. */
function fmaExact(a: number, b: number, c: number): number {
  const [na, ma, ea] = parts(a);
  const [nb, mb, eb] = parts(b);
  const [nc, mc, ec] = parts(c);
  const ep = ea + eb;
  const e0 = Math.min(ep, ec);
  const P = (ma * mb) << BigInt(ep - e0);
  const C = mc << BigInt(ec - e0);
  const S = (na !== nb ? -P : P) + (nc ? -C : C);
  if (S === 0n) return 0; // exact cancellation of non-zero terms: +0
  const neg = S < 0n;
  const M = neg ? -S : S;
  // the lowest bit kept: 53 significant bits, or fewer where the result is subnormal
  const q = Math.max(bitLength(M) - 53 + e0, -1074);
  const shift = q - e0;
  let r: bigint;
  if (shift > 0) {
    r = M >> BigInt(shift);
    const rem = M - (r << BigInt(shift));
    const half = 1n << BigInt(shift - 1);
    if (rem > half || (rem === half && (r & 1n) === 1n)) r += 1n;
  } else r = M << BigInt(-shift);
  const v = Number(r) * pow2(q); // exact when finite: r < 2^54 and 2^q is the result's unit
  return neg ? -v : v;
}
