/**
 * tensor-bytes.ts — a parameter tensor as the little-endian bytes that safetensors and ONNX's
 * raw_data store, and back, on any host byte order.
 * Not here: the file formats (safetensors.ts, onnx.ts).
 */

import { alloc, bytesPerElement, type DType, type Float } from '../tensor/dtype';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The elements of `data` as little-endian bytes (a view where the host is little-endian, else a copy). */
export function leBytes(data: Float): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const dv = new DataView(out.buffer);
  const f32 = data instanceof Float32Array;
  for (let i = 0; i < data.length; i++) {
    if (f32) dv.setFloat32(i * 4, data[i]!, true);
    else dv.setFloat64(i * 8, data[i]!, true);
  }
  return out;
}

/**
 * Reads `bytes` (little-endian elements of `from`) into a new array of `to`: the same bits when
 * the dtypes match; float32 → float64 widens exactly. float64 → float32 is refused by the caller.
 */
export function fromLeBytes(bytes: Uint8Array, from: DType, to: DType): Float {
  const n = bytes.byteLength / bytesPerElement(from);
  const out = alloc(to, n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (from === 'float32') for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  else for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
  return out;
}
