/**
 * cos.ts — cos(x) correctly rounded to the nearest double, for the cosine schedule
 * (schedule.ts), from +, −, × and ÷ alone: the same bits on every engine and processor.
 *
 * PyTorch's CosineAnnealingLR calls the platform's libm (glibc on Linux), whose cos is not
 * correctly rounded everywhere and differs between its FMA and non-FMA variants; Math.cos
 * differs again (V8's fdlibm, about 3 % of arguments a last bit away from the nearest). A
 * correctly rounded cos is the one function both sides can agree on: it equals glibc's
 * wherever glibc's is correctly rounded (test/optim/cos.test.ts checks it against mpmath).
 * Method: x = k·π/2 + r, |r| ≤ π/4 + ε, with π/2 in five parts of at most 26 bits (k·part
 * exact for k < 2²⁶, x − k·part₁ exact by Sterbenz); cos r or sin r by Taylor series, all in
 * double-double (≈ 106 bits), rounded once at the end. |x| ≥ 1e8 (k ≥ 2²⁶) falls back to
 * Math.cos. No allocation: the double-double helpers return through H and L.
 * Not here: the schedules themselves (schedule.ts).
 */

// π/2 = P1 + P2 + P3 + P4 + P5 + O(2⁻¹³⁵), each part π/2's next 26 bits (mpmath, truncated)
const P1 = 1.5707963109016418;
const P2 = 1.5893254712295857e-8;
const P3 = 6.123233932053594e-17;
const P4 = 6.368317055225283e-25;
const P5 = 1.0828566716053562e-32;
const TAIL = new Float64Array([P2, P3, P4, P5]);
const TWO_OVER_PI = 0.6366197723675814;
const SPLIT = 134217729; // 2^27 + 1 (Veltkamp)

let H = 0;
let L = 0;

/** H + L = a + b exactly, H = fl(a + b). */
function twoSum(a: number, b: number): void {
  const s = a + b;
  const bb = s - a;
  L = a - (s - bb) + (b - bb);
  H = s;
}

/** H + L = a + b exactly, for |a| ≥ |b|. */
function quickTwoSum(a: number, b: number): void {
  const s = a + b;
  L = b - (s - a);
  H = s;
}

/** H + L = a·b exactly (Dekker's product, no fma). */
function twoProd(a: number, b: number): void {
  const p = a * b;
  let t = SPLIT * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b);
  const bl = b - bh;
  L = ah * bh - p + ah * bl + al * bh + al * bl;
  H = p;
}

/** (H, L) ≈ (ah + al)·(bh + bl). */
function ddMul(ah: number, al: number, bh: number, bl: number): void {
  twoProd(ah, bh);
  const ph = H;
  const pl = L + (ah * bl + al * bh);
  quickTwoSum(ph, pl);
}

/** (H, L) ≈ (ah + al) + (bh + bl), the accurate double-double sum. */
function ddAdd(ah: number, al: number, bh: number, bl: number): void {
  twoSum(ah, bh);
  const sh = H;
  const sl = L;
  twoSum(al, bl);
  const th = H;
  const tl = L;
  quickTwoSum(sh, sl + th);
  const uh = H;
  quickTwoSum(uh, L + tl);
}

/** (H, L) ≈ (ah + al) / b. */
function ddDiv(ah: number, al: number, b: number): void {
  const q1 = ah / b;
  twoProd(q1, b);
  const q2 = (ah - H - L + al) / b;
  quickTwoSum(q1, q2);
}

// 1/n! for n = 0 … 31 as double-double, hi at 2n, lo at 2n + 1
const INV_FACT = new Float64Array(64);
{
  let h = 1;
  let l = 0;
  INV_FACT[0] = 1;
  for (let n = 1; n < 32; n++) {
    ddDiv(h, l, n);
    h = H;
    l = L;
    INV_FACT[2 * n] = h;
    INV_FACT[2 * n + 1] = l;
  }
}

/** (H, L) ≈ Σₙ (−1)ⁿ zⁿ / (2n + odd)! for n = 0 … 15, by Horner: cos r (odd 0) or sin r / r (odd 1), z = r². */
function series(zh: number, zl: number, odd: number): void {
  let ph = INV_FACT[2 * (30 + odd)]!;
  let pl = INV_FACT[2 * (30 + odd) + 1]!;
  for (let n = 14; n >= 0; n--) {
    ddMul(ph, pl, zh, zl);
    const sign = n % 2 === 0 ? 1 : -1;
    ddAdd(H, L, sign * INV_FACT[2 * (2 * n + odd)]!, sign * INV_FACT[2 * (2 * n + odd) + 1]!);
    ph = H;
    pl = L;
  }
  H = ph;
  L = pl;
}

/** cos x, correctly rounded (|x| < 1e8; beyond, Math.cos). */
export function cos(x: number): number {
  if (!Number.isFinite(x)) return NaN;
  const ax = Math.abs(x);
  if (ax >= 1e8) return Math.cos(x);
  const k = Math.round(ax * TWO_OVER_PI);
  // r = ax − k·π/2 in double-double: the first difference is exact, each k·Pi is exact
  let rh = ax - k * P1;
  let rl = 0;
  for (let i = 0; i < TAIL.length; i++) {
    ddAdd(rh, rl, -k * TAIL[i]!, 0);
    rh = H;
    rl = L;
  }
  ddMul(rh, rl, rh, rl);
  const zh = H;
  const zl = L;
  const q = k % 4;
  if (q === 0 || q === 2) {
    series(zh, zl, 0);
    return q === 0 ? H + L : -(H + L);
  }
  series(zh, zl, 1);
  ddMul(H, L, rh, rl);
  // cos(r + π/2) = −sin r, cos(r + 3π/2) = sin r
  return q === 1 ? -(H + L) : H + L;
}
