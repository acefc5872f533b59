/**
 * safetensors.ts — the safetensors format (huggingface/safetensors), written and read as bytes.
 *
 * Layout: [0, 8) N, a u64 little-endian; [8, 8+N) a UTF-8 JSON object
 * { name: { dtype, shape, data_offsets: [begin, end] }, …, "__metadata__"?: { string: string } },
 * padded with spaces to a multiple of 8 bytes as the reference writer does; then the data section,
 * each tensor's little-endian elements at [begin, end) relative to byte 8+N. The writer puts
 * __metadata__ first and the tensors contiguously in the order given.
 * The reader checks what the reference reader checks, naming the byte or the tensor: the header
 * length (≤ 100,000,000 bytes and inside the file), UTF-8, a JSON object, each entry's keys,
 * dtype, shape and offsets, byte counts that fit dtype × shape, and offsets that tile the data
 * section exactly (no overlap, no gap, nothing past its end: a truncated file).
 * Not here: file I/O (train/, cli/), tensor names and the model (state-dict.ts).
 */

import { Errors } from '../errors';
import { jsonErrorOffset } from '../json-offset';
import { bytesPerElement, type DType, type Float } from '../tensor/dtype';
import { SAFETENSORS_DTYPE } from './layers';
import { leBytes } from './tensor-bytes';

/** The reference implementation's cap on the header (MAX_HEADER_SIZE). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Bytes per element of every dtype the format defines (a reader must know them to check offsets). */
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

export interface TensorToWrite {
  name: string;
  dtype: DType;
  shape: number[];
  data: Float;
}

/** Serialises `tensors` (in this order) and optional string metadata into one safetensors file. */
export function encodeSafetensors(tensors: TensorToWrite[], metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = metadata;
  let off = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__' || Object.prototype.hasOwnProperty.call(header, t.name))
      throw new RangeError(`safetensors: tensor name "${t.name}" is reserved or repeated`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length)
      throw new RangeError(`safetensors: tensor "${t.name}" has ${t.data.length} elements, shape [${t.shape}] needs ${n}`);
    const bytes = n * bytesPerElement(t.dtype);
    header[t.name] = { dtype: SAFETENSORS_DTYPE[t.dtype], shape: t.shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad > 0) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const pre = Buffer.alloc(8);
  pre.writeBigUInt64LE(BigInt(json.length), 0);
  return Buffer.concat([pre, json, ...tensors.map((t) => leBytes(t.data))]);
}

/** `tensor "name"` for a message: quoted and escaped as JSON, at most 80 characters of a name from the file. */
export function tensorWhere(name: string): string {
  return `tensor ${JSON.stringify(name.length > 80 ? `${name.slice(0, 77)}...` : name)}`;
}

export interface SafeTensor {
  name: string;
  /** The format's dtype name (F32, F64, BF16, …). */
  dtype: string;
  shape: number[];
  /** The tensor's little-endian bytes (a view of the file's buffer). */
  bytes: Uint8Array;
  /** Its byte range in the file, [start, end). */
  fileStart: number;
  fileEnd: number;
}

export interface SafetensorsContents {
  /** Tensors in header order. */
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string> | null;
  /** Byte length of the header JSON (N). */
  headerBytes: number;
}

/** Parses and checks a safetensors file's bytes; every failure is GS_ERR_WEIGHTS naming `file` and the byte or tensor. */
export function decodeSafetensors(bytes: Uint8Array, file: string): SafetensorsContents {
  const fail = (where: string, msg: string, hint?: string): never => {
    throw Errors.weights(file, where, msg, hint);
  };
  const size = bytes.byteLength;
  if (size < 8)
    fail('bytes 0–7', `the file is ${size} byte${size === 1 ? '' : 's'} long: too short for the 8-byte header length (truncated?)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES))
    fail('bytes 0–7', `header length ${n64} is over the format's limit of ${MAX_HEADER_BYTES} bytes`, 'is this a safetensors file?');
  const n = Number(n64);
  if (8 + n > size)
    fail(
      'bytes 0–7',
      `header length ${n} runs past the end of the file (${size} bytes: the header would end at byte ${8 + n})`,
      'the file is truncated, or not a safetensors file',
    );
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    const at = firstInvalidUtf8(bytes.subarray(8, 8 + n));
    return fail(`byte ${8 + at}`, 'the header is not valid UTF-8');
  }
  if (!text.startsWith('{'))
    fail('byte 8', `the header must be a JSON object starting with "{", found ${JSON.stringify(text.slice(0, 10))}`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    const at = 8 + Buffer.byteLength(text.slice(0, jsonErrorOffset(text)), 'utf8');
    fail(`byte ${at}`, `the header is not valid JSON: ${(e as Error).message.slice(0, 120)}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return fail('byte 8', 'the header must be a JSON object');
  const dataStart = 8 + n;
  const dataLen = size - dataStart;
  let metadata: Record<string, string> | null = null;
  const tensors = new Map<string, SafeTensor>();
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = checkMetadata(v, fail);
      continue;
    }
    const where = tensorWhere(name);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(where, 'must be an object {dtype, shape, data_offsets}');
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o))
      if (!['dtype', 'shape', 'data_offsets'].includes(k)) fail(where, `unknown key "${k}" (allowed: dtype, shape, data_offsets)`);
    const dtype = o.dtype;
    if (typeof dtype !== 'string' || !Object.prototype.hasOwnProperty.call(DTYPE_BYTES, dtype))
      fail(where, `dtype ${JSON.stringify(dtype)} is not a safetensors dtype (${Object.keys(DTYPE_BYTES).join(', ')})`);
    const shape = o.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0))
      fail(where, `shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    const offs = o.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && (d as number) >= 0))
      fail(where, `data_offsets must be [begin, end] of non-negative integers, got ${JSON.stringify(offs)}`);
    const [begin, end] = offs as [number, number];
    if (end < begin) fail(where, `data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLen)
      fail(
        where,
        `data_offsets [${begin}, ${end}] run past the data section's ${dataLen} bytes (file bytes ${dataStart}–${size - 1}): its data would end at file byte ${dataStart + end}`,
        'the file is truncated, or its header is wrong',
      );
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const need = count * DTYPE_BYTES[dtype as string]!;
    if (end - begin !== need)
      fail(
        where,
        `shape [${(shape as number[]).join(', ')}] of ${dtype as string} needs ${need} bytes, data_offsets [${begin}, ${end}] hold ${end - begin}`,
      );
    tensors.set(name, {
      name,
      dtype: dtype as string,
      shape: shape as number[],
      bytes: bytes.subarray(dataStart + begin, dataStart + end),
      fileStart: dataStart + begin,
      fileEnd: dataStart + end,
    });
  }
  checkTiling([...tensors.values()], dataStart, size, fail);
  return { tensors, metadata, headerBytes: n };
}

function checkMetadata(v: unknown, fail: (where: string, msg: string) => never): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail('__metadata__', 'must be an object of strings');
  for (const [k, s] of Object.entries(v as Record<string, unknown>))
    if (typeof s !== 'string') fail(`__metadata__."${k}"`, `must be a string, got ${JSON.stringify(s)?.slice(0, 40)}`);
  return v as Record<string, string>;
}

/** The tensors' byte ranges must cover the data section exactly, as the reference reader requires. */
function checkTiling(ts: SafeTensor[], dataStart: number, size: number, fail: (where: string, msg: string) => never): void {
  const sorted = [...ts].sort((a, b) => a.fileStart - b.fileStart || a.fileEnd - b.fileEnd);
  let at = dataStart;
  let prev: SafeTensor | null = null;
  for (const t of sorted) {
    if (t.fileStart < at)
      fail(
        tensorWhere(t.name),
        `its bytes ${t.fileStart}–${t.fileEnd - 1} overlap those of ${tensorWhere(prev!.name)} (${prev!.fileStart}–${prev!.fileEnd - 1})`,
      );
    if (t.fileStart > at) fail(`bytes ${at}–${t.fileStart - 1}`, `belong to no tensor (a gap before ${tensorWhere(t.name)})`);
    at = t.fileEnd;
    prev = t;
  }
  if (at < size) fail(`bytes ${at}–${size - 1}`, `belong to no tensor (${size - at} bytes after the last tensor's data)`);
}

/** The first byte that does not begin a well-formed UTF-8 sequence (lead byte and continuation bytes; 0 if none is found). */
function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length;) {
    const c = b[i]!;
    const len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len === 0 || i + len > b.length) return i;
    for (let j = 1; j < len; j++) if ((b[i + j]! & 0xc0) !== 0x80) return i;
    i += len;
  }
  return 0;
}
