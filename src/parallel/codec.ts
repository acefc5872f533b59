/**
 * codec.ts — msgpack encoding of wire messages, and the bounded validation of what arrives.
 *
 * Untrusted input is bounded, then validated, then used (ws receiver.js):
 *  1. the frame's size is capped (the caller's maxBytes);
 *  2. scanMsgpack walks the bytes *before* any decoding: every declared length must fit in
 *     the bytes that remain, nesting depth and item counts are capped, and the extension
 *     and record types msgpackr would interpret are refused — so a 5-byte header cannot
 *     make the decoder allocate gigabytes (msgpackr PR #199/#200) and crafted records
 *     cannot reach its record machinery (CVE-2023-52079);
 *  3. msgpackr decodes the (now small, flat) map into plain objects;
 *  4. every field is checked against an allow-list: type, version, step, node, dtype,
 *     shapes against the run's, lengths in bytes.
 * Errors are GS_ERR_WIRE with the field or byte offset named.
 * Not here: finiteness (the step checks and names the executor), transport (executors).
 */

import { Packr, Unpackr } from 'msgpackr';
import { Errors } from '../errors';
import { bytesPerElement, type DType, type Float } from '../tensor/dtype';
import { PROTOCOL_VERSION, type PartialMessage } from './messages';

const packr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true });

export interface ScanLimits {
  maxDepth: number;
  maxItems: number;
}

/**
 * Walks a msgpack value structurally without building it. Throws GS_ERR_WIRE naming the
 * byte offset of the first violation. Returns the offset after the value.
 */
export function scanMsgpack(b: Uint8Array, limits: ScanLimits = { maxDepth: 4, maxItems: 4096 }): number {
  let items = 0;
  const need = (off: number, n: number, what: string): void => {
    if (n > b.length - off) throw Errors.wire(`msgpack ${what} at byte ${off} declares ${n} bytes, only ${b.length - off} remain`);
  };
  const u16 = (o: number): number => { need(o, 2, 'length'); return (b[o]! << 8) | b[o + 1]!; };
  const u32 = (o: number): number => { need(o, 4, 'length'); return ((b[o]! << 24) >>> 0) + (b[o + 1]! << 16) + (b[o + 2]! << 8) + b[o + 3]!; };
  const visit = (o: number, depth: number): number => {
    if (depth > limits.maxDepth) throw Errors.wire(`msgpack nesting deeper than ${limits.maxDepth} at byte ${o}`);
    if (++items > limits.maxItems) throw Errors.wire(`msgpack has more than ${limits.maxItems} items (at byte ${o})`);
    need(o, 1, 'type');
    const c = b[o]!;
    const container = (start: number, n: number, perEntry: number): number => {
      // each entry needs at least one byte per element: a length larger than the rest is a lie
      if (n * perEntry > b.length - start) throw Errors.wire(`msgpack container at byte ${o} declares ${n} entries, only ${b.length - start} bytes remain`);
      let p = start;
      for (let i = 0; i < n * perEntry; i++) p = visit(p, depth + 1);
      return p;
    };
    const bytes = (start: number, n: number, what: string): number => { need(start, n, what); return start + n; };
    if (c <= 0x7f || c >= 0xe0) return o + 1; // fixint
    if (c >= 0x80 && c <= 0x8f) return container(o + 1, c & 0x0f, 2);
    if (c >= 0x90 && c <= 0x9f) return container(o + 1, c & 0x0f, 1);
    if (c >= 0xa0 && c <= 0xbf) return bytes(o + 1, c & 0x1f, 'str');
    switch (c) {
      case 0xc0: case 0xc2: case 0xc3: return o + 1;
      case 0xc4: need(o + 1, 1, 'bin8'); return bytes(o + 2, b[o + 1]!, 'bin8');
      case 0xc5: return bytes(o + 3, u16(o + 1), 'bin16');
      case 0xc6: return bytes(o + 5, u32(o + 1), 'bin32');
      case 0xca: return bytes(o + 1, 4, 'float32');
      case 0xcb: return bytes(o + 1, 8, 'float64');
      case 0xcc: case 0xd0: return bytes(o + 1, 1, 'int');
      case 0xcd: case 0xd1: return bytes(o + 1, 2, 'int');
      case 0xce: case 0xd2: return bytes(o + 1, 4, 'int');
      case 0xcf: case 0xd3: return bytes(o + 1, 8, 'int');
      case 0xd9: need(o + 1, 1, 'str8'); return bytes(o + 2, b[o + 1]!, 'str8');
      case 0xda: return bytes(o + 3, u16(o + 1), 'str16');
      case 0xdb: return bytes(o + 5, u32(o + 1), 'str32');
      case 0xdc: return container(o + 3, u16(o + 1), 1);
      case 0xdd: return container(o + 5, u32(o + 1), 1);
      case 0xde: return container(o + 3, u16(o + 1), 2);
      case 0xdf: return container(o + 5, u32(o + 1), 2);
      default:
        // 0xc1 (never used), ext and fixext (0xc7–0xc9, 0xd4–0xd8): records, typed arrays, timestamps — not ours
        throw Errors.wire(`msgpack type byte 0x${c.toString(16)} at byte ${o} is not allowed on this wire`);
    }
  };
  const end = visit(0, 0);
  if (end !== b.length) throw Errors.wire(`msgpack value ends at byte ${end} but the frame has ${b.length} bytes`);
  return end;
}

function le(a: Float | Float64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Encodes a partial as one msgpack map (bins for the arrays). */
export function encodePartial(m: PartialMessage): Buffer {
  return packr.pack({ t: 'partial', v: m.v, step: m.step, node: m.node, dtype: m.dtype, count: m.count, lossSum: m.lossSum, stats: le(m.stats), grads: le(m.grads) });
}

export interface PartialLimits {
  maxBytes: number;
  dtype: DType;
  paramCount: number;
  statsSize: number;
  /** Highest valid tree height, and the step expected. */
  maxHeight: number;
  step: number;
}

const PARTIAL_KEYS = ['t', 'v', 'step', 'node', 'dtype', 'count', 'lossSum', 'stats', 'grads'];

function typedFrom(dtype: DType | 'float64', bin: Uint8Array, n: number): Float {
  const bpe = dtype === 'float64' ? 8 : bytesPerElement(dtype);
  // aligned: a view; unaligned (the bin sits at an odd offset of the frame): one copy
  const aligned = bin.byteOffset % bpe === 0;
  // (Buffer#slice is a view, not a copy: copy explicitly)
  const buf = aligned ? bin.buffer : Uint8Array.prototype.slice.call(bin).buffer;
  const off = aligned ? bin.byteOffset : 0;
  return dtype === 'float32' ? new Float32Array(buf, off, n) : new Float64Array(buf, off, n);
}

/** Decodes and validates a partial frame from a peer; throws GS_ERR_WIRE naming the field. */
export function decodePartial(frame: Uint8Array, lim: PartialLimits): PartialMessage {
  if (frame.length > lim.maxBytes) throw Errors.wire(`frame of ${frame.length} bytes exceeds the limit of ${lim.maxBytes}`);
  scanMsgpack(frame, { maxDepth: 2, maxItems: 64 });
  let o: unknown;
  try {
    o = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' }).unpack(frame);
  } catch (e) {
    throw Errors.wire(`msgpack does not decode: ${(e as Error).message}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw Errors.wire('a message must be a msgpack map');
  const m = o as Record<string, unknown>;
  for (const k of Object.keys(m)) if (!PARTIAL_KEYS.includes(k)) throw Errors.wire(`unknown field "${k.slice(0, 40)}"`);
  if (m.t !== 'partial') throw Errors.wire(`field "t" must be "partial", got ${JSON.stringify(m.t)?.slice(0, 40)}`);
  if (m.v !== PROTOCOL_VERSION) throw Errors.protocol(`field "v": protocol version ${String(m.v).slice(0, 20)} does not match this coordinator's ${PROTOCOL_VERSION}`);
  if (m.step !== lim.step) throw Errors.wire(`field "step": ${String(m.step).slice(0, 20)} is not the current step ${lim.step} (stale or replayed)`);
  const node = m.node;
  if (!Array.isArray(node) || node.length !== 2 || !node.every((x) => Number.isInteger(x) && x >= 0) || node[0] > lim.maxHeight) {
    throw Errors.wire(`field "node" must be [h, i] with 0 ≤ h ≤ ${lim.maxHeight}, got ${JSON.stringify(node)?.slice(0, 40)}`);
  }
  if (m.dtype !== lim.dtype) throw Errors.wire(`field "dtype": ${JSON.stringify(m.dtype)?.slice(0, 20)} is not the run's ${lim.dtype}`);
  if (!Number.isInteger(m.count) || (m.count as number) < 1) throw Errors.wire(`field "count" must be a positive integer, got ${String(m.count).slice(0, 20)}`);
  if (typeof m.lossSum !== 'number') throw Errors.wire('field "lossSum" must be a number');
  const bin = (k: 'stats' | 'grads', n: number, bpe: number): Uint8Array => {
    const v = m[k];
    if (!(v instanceof Uint8Array)) throw Errors.wire(`field "${k}" must be bin`);
    if (v.length !== n * bpe) throw Errors.wire(`field "${k}" has ${v.length} bytes, expected ${n} × ${bpe} = ${n * bpe}`);
    return v;
  };
  const stats = typedFrom('float64', bin('stats', lim.statsSize, 8), lim.statsSize) as Float64Array;
  const grads = typedFrom(lim.dtype, bin('grads', lim.paramCount, bytesPerElement(lim.dtype)), lim.paramCount);
  return { t: 'partial', v: PROTOCOL_VERSION, step: m.step as number, node: [node[0], node[1]], dtype: lim.dtype, count: m.count as number, lossSum: m.lossSum, stats, grads };
}
