/**
 * dtype.ts — the two element types gradsync computes in, and typed-array allocation.
 *
 * A buffer is a Float64Array or a Float32Array; `shared` allocates it over a
 * SharedArrayBuffer so that pool threads can read it without a copy.
 * Not here: arithmetic (reference-kernels.ts, spec-math.ts, fast/).
 */

export type DType = 'float64' | 'float32';
export type Float = Float64Array | Float32Array;

export const DTYPES: readonly DType[] = ['float64', 'float32'];

export function bytesPerElement(dtype: DType): number {
  return dtype === 'float64' ? 8 : 4;
}

export function dtypeOf(a: Float): DType {
  return a instanceof Float64Array ? 'float64' : 'float32';
}

/** A zero-filled buffer of `n` elements; over a SharedArrayBuffer when `shared`. */
export function alloc(dtype: DType, n: number, shared = false): Float {
  const bytes = n * bytesPerElement(dtype);
  const buf = shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  return dtype === 'float64' ? new Float64Array(buf) : new Float32Array(buf);
}

/** A view of `n` elements of `dtype` over `buffer` from byte `byteOffset`. */
export function view(dtype: DType, buffer: ArrayBufferLike, byteOffset: number, n: number): Float {
  return dtype === 'float64' ? new Float64Array(buffer, byteOffset, n) : new Float32Array(buffer, byteOffset, n);
}
