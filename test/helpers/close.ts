/**
 * close.ts — assertClose(actual, expected, {rtol, atol, label}): element-wise closeness with a
 * message naming the label, the index and both values.
 */
import assert from 'node:assert/strict';

export interface CloseOptions {
  rtol?: number;
  atol?: number;
  label?: string;
}

export function assertClose(
  actual: ArrayLike<number> | number,
  expected: ArrayLike<number> | number,
  { rtol = 1e-12, atol = 0, label = 'value' }: CloseOptions = {},
): void {
  const a = typeof actual === 'number' ? [actual] : actual;
  const e = typeof expected === 'number' ? [expected] : expected;
  assert.equal(a.length, e.length, `${label}: length ${a.length} ≠ ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = e[i]!;
    const ok = x === y || Math.abs(x - y) <= atol + rtol * Math.abs(y);
    assert.ok(ok, `${label}[${i}]: ${x} is not close to ${y} (rtol ${rtol}, atol ${atol})`);
  }
}

/** Asserts two typed arrays are equal bit for bit (NaN payloads and the sign of zero included). */
export function assertBitEqual(actual: Float32Array | Float64Array, expected: Float32Array | Float64Array, label = 'array'): void {
  assert.equal(actual.constructor, expected.constructor, `${label}: dtype differs`);
  assert.equal(actual.length, expected.length, `${label}: length ${actual.length} ≠ ${expected.length}`);
  const a = new Uint8Array(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = new Uint8Array(expected.buffer, expected.byteOffset, expected.byteLength);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      const el = Math.floor(i / actual.BYTES_PER_ELEMENT);
      assert.fail(`${label}[${el}]: ${actual[el]} differs from ${expected[el]} in its bits`);
    }
  }
}
