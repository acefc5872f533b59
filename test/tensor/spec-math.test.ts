import assert from 'node:assert/strict';
import { exp32, exp64, log32, log64, sigmoid32, sigmoid64, tanh32, tanh64 } from '../../src/tensor/spec-math';
import { Rng } from '../../src/tensor/rng';

const ulp64 = (a: number, b: number): number => (a === b ? 0 : Math.abs(a - b) / (Math.abs(b) * 2 ** -52));
const ulp32 = (a: number, b: number): number => (a === b ? 0 : Math.abs(a - b) / (Math.abs(b) * 2 ** -23));

function worst(
  f: (x: number) => number,
  ref: (x: number) => number,
  xs: number[],
  ulp: (a: number, b: number) => number,
): { err: number; at: number } {
  let err = 0;
  let at = NaN;
  for (const x of xs) {
    const e = ulp(f(x), ref(x));
    if (e > err) {
      err = e;
      at = x;
    }
  }
  return { err, at };
}

describe("spec-math: the kernel spec's own element-wise functions", () => {
  const rng = new Rng(42);
  const grid = (lo: number, hi: number, n: number): number[] => Array.from({ length: n }, () => rng.uniform(lo, hi));
  const wide = [...grid(-700, 700, 20000), ...grid(-20, 20, 20000), ...grid(-1e-3, 1e-3, 5000), ...grid(-1e-300, 1e-300, 100)];

  it('exp64 is within 2 ulp of Math.exp on [-700, 700]', () => {
    const r = worst(exp64, Math.exp, wide, ulp64);
    assert.ok(r.err <= 2, `exp64: ${r.err} ulp at ${r.at}`);
  });
  it('tanh64 is within 4 ulp of Math.tanh, including near 0', () => {
    const r = worst(
      tanh64,
      Math.tanh,
      wide.filter((x) => x !== 0),
      ulp64,
    );
    assert.ok(r.err <= 4, `tanh64: ${r.err} ulp at ${r.at}`);
  });
  it('sigmoid64 is within 4 ulp of 1/(1+exp(-x))', () => {
    const r = worst(sigmoid64, (x) => 1 / (1 + Math.exp(-x)), grid(-30, 30, 20000), ulp64);
    assert.ok(r.err <= 4, `sigmoid64: ${r.err} ulp at ${r.at}`);
  });
  it('log64 is within 2 ulp of Math.log from subnormals to 1e300', () => {
    const xs = [...grid(0, 10, 20000).map((x) => x + 1e-300), ...grid(-300, 300, 20000).map((e) => 10 ** e), 5e-324, 1e-310, 1];
    const r = worst(
      log64,
      Math.log,
      xs.filter((x) => x !== 1),
      ulp64,
    );
    assert.ok(r.err <= 2, `log64: ${r.err} ulp at ${r.at}`);
    assert.equal(log64(1), 0);
  });
  it('float32 functions are within 4 float32 ulp of the exact value rounded', () => {
    const xs = grid(-80, 80, 20000).map(Math.fround);
    assert.ok(worst(exp32, (x) => Math.fround(Math.exp(x)), xs, ulp32).err <= 4);
    assert.ok(
      worst(
        tanh32,
        (x) => Math.fround(Math.tanh(x)),
        grid(-10, 10, 20000)
          .map(Math.fround)
          .filter((x) => x !== 0),
        ulp32,
      ).err <= 4,
    );
    assert.ok(worst(sigmoid32, (x) => Math.fround(1 / (1 + Math.exp(-x))), grid(-15, 15, 20000).map(Math.fround), ulp32).err <= 4);
    const pos = grid(-30, 30, 20000)
      .map((e) => Math.fround(10 ** e))
      .filter((x) => x !== 1);
    assert.ok(worst(log32, (x) => Math.fround(Math.log(x)), pos, ulp32).err <= 4);
  });
  it('float32 results are float32 values', () => {
    for (const x of grid(-20, 20, 1000)) {
      for (const f of [exp32, tanh32, sigmoid32]) assert.equal(f(x), Math.fround(f(x)));
      assert.equal(log32(Math.abs(x) + 1), Math.fround(log32(Math.abs(x) + 1)));
    }
  });
  it('handles the special values: NaN, ±Infinity, ±0, overflow and underflow', () => {
    for (const f of [exp64, exp32, tanh64, tanh32, sigmoid64, sigmoid32, log64, log32]) assert.ok(Number.isNaN(f(NaN)));
    assert.equal(exp64(1000), Infinity);
    assert.equal(exp64(-1000), 0);
    assert.equal(exp32(100), Infinity);
    assert.equal(exp32(-110), 0);
    assert.equal(tanh64(Infinity), 1);
    assert.equal(tanh64(-Infinity), -1);
    assert.ok(Object.is(tanh64(-0), -0));
    assert.equal(sigmoid64(-Infinity), 0);
    assert.equal(sigmoid64(Infinity), 1);
    assert.equal(log64(0), -Infinity);
    assert.ok(Number.isNaN(log64(-1)));
    assert.equal(log64(Infinity), Infinity);
    assert.equal(exp64(0), 1);
  });
  it('exp64 is finite and accurate just below overflow, where 2^k is 2^1024 (spec v2)', () => {
    for (const x of [709.44, 709.5, 709.7, 709.78]) assert.ok(ulp64(exp64(x), Math.exp(x)) <= 2, `exp64(${x}) = ${exp64(x)}`);
  });
  it('is odd (tanh) and monotone on a fine grid', () => {
    let prev = -Infinity;
    for (let x = -10; x <= 10; x += 0.001) {
      assert.equal(tanh64(-x), -tanh64(x));
      const t = tanh64(x);
      assert.ok(t >= prev, `tanh64 not monotone at ${x}`);
      prev = t;
    }
  });
});
