import assert from 'node:assert/strict';
import { fma32, fma64 } from '../../src/tensor/fma';
import { hardwareFma, nativeIsas } from '../../src/tensor/fast/native';
import { alloc, type DType, type Float } from '../../src/tensor/dtype';
import { hex } from '../helpers/kernel-data';

// fma.ts's emulation against the processor's own fused multiply-add (native/fma-probe.cc), on
// millions of seeded inputs per dtype: workload-like values, cancellations, exact ties,
// subnormal products and results, overflow, and every triple of special values.

/** xorshift128: fast enough to draw millions of bit patterns. */
class Bits {
  private s = new Uint32Array(4);
  constructor(seed: number) {
    this.s.set([seed >>> 0 || 1, 0x9e3779b9, 0x243f6a88, 0xb7e15162]);
    for (let i = 0; i < 16; i++) this.u32();
  }
  u32(): number {
    const s = this.s;
    let t = s[3]!;
    t ^= t << 11;
    t ^= t >>> 8;
    s[3] = s[2]!;
    s[2] = s[1]!;
    s[1] = s[0]!;
    t ^= s[0]! ^ (s[0]! >>> 19);
    s[0] = t;
    return t >>> 0;
  }
  /** Uniform in [0, 1). */
  unit(): number {
    return this.u32() / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.unit() * n);
  }
}

const D = new Float64Array(1);
const DU = new Uint32Array(D.buffer);
const S = new Float32Array(1);
const SU = new Uint32Array(S.buffer);
const LO = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1;

/** A value of `dtype` from raw bits: sign, exponent field (biased) and random mantissa bits (the top `bits` of them). */
function fromBits(dtype: DType, r: Bits, exp: number, bits: number): number {
  const neg = r.u32() & 1;
  if (dtype === 'float32') {
    const keep = bits >= 23 ? 0x7fffff : (0x7fffff >>> (23 - bits)) << (23 - bits);
    SU[0] = (neg << 31) | (exp << 23) | (r.u32() & keep);
    return S[0]!;
  }
  const hiKeep = bits >= 20 ? 0xfffff : (0xfffff >>> (20 - bits)) << (20 - bits);
  const loKeep = bits >= 52 ? 0xffffffff : bits <= 20 ? 0 : ((0xffffffff >>> (52 - bits)) << (52 - bits)) >>> 0;
  DU[1 - LO] = ((neg << 31) | (exp << 20) | (r.u32() & hiKeep)) >>> 0;
  DU[LO] = (r.u32() & loKeep) >>> 0;
  return D[0]!;
}

interface Case {
  a: Float;
  b: Float;
  c: Float;
}

/** The input families, `n` triples each (specials: every triple of the list). */
function families(dtype: DType, n: number, seed: number): Record<string, Case> {
  const f32 = dtype === 'float32';
  const bias = f32 ? 127 : 1023;
  const emax = f32 ? 254 : 2046;
  const P = f32 ? 24 : 53;
  const r = new Bits(seed);
  const make = (count: number, fill: (i: number, a: Float, b: Float, c: Float) => void): Case => {
    const a = alloc(dtype, count);
    const b = alloc(dtype, count);
    const c = alloc(dtype, count);
    for (let i = 0; i < count; i++) fill(i, a, b, c);
    return { a, b, c };
  };
  const round = f32 ? Math.fround : (x: number): number => x;
  const sp = f32
    ? [
        0,
        -0,
        1,
        -1,
        1.5,
        2 ** -149,
        -(2 ** -149),
        2 ** -126,
        3 * 2 ** -149,
        3.4028234663852886e38,
        -3.4028234663852886e38,
        2 ** 64,
        2 ** -64,
      ]
    : [
        0,
        -0,
        1,
        -1,
        1.5,
        5e-324,
        -5e-324,
        2.2250738585072014e-308,
        1.5e-323,
        1.7976931348623157e308,
        -1.7976931348623157e308,
        2 ** 512,
        2 ** -537,
      ];
  const specials = [...sp, Infinity, -Infinity, NaN, round(1 + 2 ** (1 - P)), round(1 - 2 ** -P), round(0.1)];
  const m = specials.length;
  return {
    // activations and weights: exponents within a few binades of 1, every mantissa bit
    workload: make(n, (i, a, b, c) => {
      a[i] = fromBits(dtype, r, bias - 8 + r.int(12), 64);
      b[i] = fromBits(dtype, r, bias - 8 + r.int(12), 64);
      c[i] = fromBits(dtype, r, bias - 10 + r.int(20), 64);
    }),
    // any finite or non-finite bit pattern: the whole exponent range, NaN and ±∞ included
    'random bits': make(n >> 2, (i, a, b, c) => {
      a[i] = fromBits(dtype, r, r.int(emax + 2), 64);
      b[i] = fromBits(dtype, r, r.int(emax + 2), 64);
      c[i] = fromBits(dtype, r, r.int(emax + 2), 64);
    }),
    // c ≈ −a·b: the sum cancels down to the product's low bits (the emulation's hard case)
    cancellation: make(n, (i, a, b, c) => {
      const e = bias - 30 + r.int(60);
      a[i] = fromBits(dtype, r, e, 64);
      b[i] = fromBits(dtype, r, bias - 30 + r.int(60), 64);
      let p = round(-a[i]! * b[i]!);
      for (let s = r.int(4); s > 0; s--) p = round(p + (r.u32() & 1 ? 1 : -1) * Math.abs(p) * 2 ** (1 - P));
      c[i] = p;
    }),
    // short mantissas: a·b + c lands on a rounding midpoint (a tie) often, exactly; or a·b is
    // a midpoint and c a nudge far below it, which a sum rounded twice would lose
    ties: make(n, (i, a, b, c) => {
      const h = (P >> 1) + 1;
      a[i] = fromBits(dtype, r, bias + r.int(4), h);
      b[i] = fromBits(dtype, r, bias + r.int(4), h);
      c[i] = i & 1 ? fromBits(dtype, r, bias - P + r.int(P + 4), r.int(P)) : fromBits(dtype, r, bias - 2 * P - 10 - r.int(P), 64);
    }),
    // products and sums in and around the subnormal range, and below it
    subnormal: make(n >> 1, (i, a, b, c) => {
      a[i] = fromBits(dtype, r, r.int(bias), 64);
      const ua = a[i] === 0 ? 0 : Math.floor(Math.log2(Math.abs(a[i]!)));
      const ub = 1 - bias - ua - r.int(P + 40) + 20; // a·b from 2^20 above the smallest normal to 2^(P+20) below it
      b[i] = fromBits(dtype, r, Math.max(1, Math.min(emax, ub + bias)), 64);
      c[i] = r.u32() & 1 ? fromBits(dtype, r, r.int(P + 2), 64) : 0;
    }),
    // products near and past the largest finite value, some brought back by c
    overflow: make(n >> 2, (i, a, b, c) => {
      a[i] = fromBits(dtype, r, emax - (bias >> 1) + r.int(8) - 4, 64);
      b[i] = fromBits(dtype, r, bias + (bias >> 1) + r.int(8) - 4, 64);
      c[i] = fromBits(dtype, r, emax - r.int(3), 64);
    }),
    specials: make(m * m * m, (i, a, b, c) => {
      a[i] = specials[i % m]!;
      b[i] = specials[Math.floor(i / m) % m]!;
      c[i] = specials[Math.floor(i / (m * m))]!;
    }),
  };
}

/** The first triple where emulation and hardware differ (NaN matches any NaN), or null; and the exact-tie count (float32). */
function compare(dtype: DType, k: Case): { bad: string | null; ties: number } {
  const hw = alloc(dtype, k.a.length);
  hardwareFma(k.a, k.b, k.c, hw);
  const fma = dtype === 'float32' ? fma32 : fma64;
  const got = alloc(dtype, k.a.length);
  let ties = 0;
  for (let i = 0; i < k.a.length; i++) {
    const a = k.a[i]!;
    const b = k.b[i]!;
    const c = k.c[i]!;
    got[i] = fma(a, b, c);
    if (dtype === 'float32') {
      // a tie: x (exact in binary64 for these operands) halfway between two float32 values
      const x = a * b + c;
      const y = Math.fround(x);
      const other = y + 2 * (x - y);
      if (y !== x && Number.isFinite(x) && Math.fround(other) === other) ties++;
    }
  }
  for (let i = 0; i < hw.length; i++) {
    const g = got[i]!;
    const h = hw[i]!;
    if (Object.is(g, h) || (Number.isNaN(g) && Number.isNaN(h))) continue;
    return { bad: `fma(${k.a[i]}, ${k.b[i]}, ${k.c[i]}): emulated ${g} (${hex(got, i)}), hardware ${h} (${hex(hw, i)})`, ties };
  }
  return { bad: null, ties };
}

describe('fma emulation (fma.ts) against the processor’s fused multiply-add', function () {
  this.timeout(60000);

  const hasFma = (): boolean => nativeIsas('fma').length > 0;

  for (const dtype of ['float32', 'float64'] as DType[]) {
    it(`${dtype}: every input family matches bit for bit (millions of seeded triples)`, function () {
      if (!hasFma()) this.skip();
      const fam = families(dtype, 1_000_000, dtype === 'float32' ? 32 : 64);
      let total = 0;
      for (const [name, k] of Object.entries(fam)) {
        const { bad, ties } = compare(dtype, k);
        assert.equal(bad, null, `${dtype} ${name}: ${bad}`);
        if (dtype === 'float32' && name === 'ties') assert.ok(ties > 100, `only ${ties} exact ties among the tie cases`);
        total += k.a.length;
      }
      assert.ok(total > 3_000_000, `${total} triples`);
    });
  }

  it('known cases: one rounding, not two (double rounding, a product rounded first, ties to even)', () => {
    // 0.1·10 − 1: the product's rounding error survives the fused add
    assert.equal(fma64(0.1, 10, -1), 5.551115123125783e-17);
    assert.equal(0.1 * 10 - 1, 0);
    // (1 + 2^-52)² − 1 = 2^-51 + 2^-104: the product rounded first would lose 2^-104
    assert.equal(fma64(1 + 2 ** -52, 1 + 2 ** -52, -1), 2 ** -51 + 2 ** -104);
    // float32: (1 + 2^-23)·(1 − 2^-24) + 0 is 1 + 2^-24 − 2^-47, just below a midpoint: a
    // double rounding (to double, then to float32) would land on the tie and round to even
    const x = Math.fround(1 + 2 ** -23);
    const y = Math.fround(1 - 2 ** -24);
    assert.equal(fma32(x, y, 0), 1);
    assert.equal(fma32(x, y, Math.fround(2 ** -46)), Math.fround(1 + 2 ** -23));
    // signed zeros: −0 only where IEEE 754 says (both terms −0, or a product underflowing negative)
    assert.ok(Object.is(fma64(-0, 1, -0), -0));
    assert.ok(Object.is(fma64(1, -1, 1), 0));
    assert.ok(Object.is(fma64(-(2 ** -600), 2 ** -600, 0), -0));
    assert.ok(Object.is(fma32(Math.fround(-(2 ** -100)), Math.fround(2 ** -100), 0), -0));
    // a product past the range that c brings back: finite
    assert.equal(fma64(2 ** 512, 2 ** 512, -1.7976931348623157e308), 2 ** 971); // 2^1024 − (2^1024 − 2^971)
    assert.equal(fma64(2 ** 600, 2 ** 600, -Infinity), -Infinity);
    assert.ok(Number.isNaN(fma64(Infinity, 0, 1)));
  });
});

describe('hardwareFma (the native test helper)', () => {
  it('rejects arrays of mixed dtypes or too short', function () {
    if (nativeIsas('fma').length === 0) this.skip();
    const a = new Float64Array(4);
    assert.throws(() => hardwareFma(a, a, new Float32Array(4) as unknown as Float64Array, a), {
      name: 'RangeError',
      message: /c must be a Float64Array/,
    });
    assert.throws(() => hardwareFma(a, a, new Float64Array(3), a), { name: 'RangeError', message: /c has 3 elements, needs 4/ });
  });
});
