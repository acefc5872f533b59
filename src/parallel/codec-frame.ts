/**
 * codec-frame.ts — reading a frame from a peer, before any field is looked at, and what every
 * message of the wire codec (msgpackr) shares. Untrusted input is bounded, then validated, then
 * used (ws receiver.js):
 *  1. the frame's size is capped (the caller's maxBytes);
 *  2. scanMsgpack walks the bytes *before* any decoding: every declared length must fit in
 *     the bytes that remain, nesting depth and item counts are capped, and the extension
 *     and record types msgpackr would interpret are refused — so a 5-byte header cannot
 *     make the decoder allocate gigabytes (msgpackr PR #199/#200) and crafted records
 *     cannot reach its record machinery (CVE-2023-52079);
 *  3. msgpackr decodes the (now small, flat) map into plain objects (decodeMap);
 *  4. every field is checked against an allow-list (codec-partials.ts, codec-messages.ts).
 * Also here: the one Packr, typed arrays as little-endian bins and back, a peer's value shown in an error.
 * Errors are GS_ERR_WIRE with the field or byte offset named.
 */

import { Packr, Unpackr } from 'msgpackr';
import { Errors } from '../errors';
import { bytesPerElement, type DType, type Float } from '../tensor/dtype';

export const packr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true });

/**
 * A peer's value for an error message, at most 20 characters. Never String() of a map: a
 * peer's map may carry a `toString` or `valueOf` key that is not a function, and String()
 * would throw an uncoded TypeError (found by test/parallel/fuzz-codec.test.ts).
 */
export function shown(v: unknown): string {
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : v instanceof Uint8Array ? 'bin' : 'a map';
  return String(v).slice(0, 20);
}

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
  const u16 = (o: number): number => {
    need(o, 2, 'length');
    return (b[o]! << 8) | b[o + 1]!;
  };
  const u32 = (o: number): number => {
    need(o, 4, 'length');
    return ((b[o]! << 24) >>> 0) + (b[o + 1]! << 16) + (b[o + 2]! << 8) + b[o + 3]!;
  };
  const visit = (o: number, depth: number): number => {
    if (depth > limits.maxDepth) throw Errors.wire(`msgpack nesting deeper than ${limits.maxDepth} at byte ${o}`);
    if (++items > limits.maxItems) throw Errors.wire(`msgpack has more than ${limits.maxItems} items (at byte ${o})`);
    need(o, 1, 'type');
    const c = b[o]!;
    const container = (start: number, n: number, perEntry: number): number => {
      // each entry needs at least one byte per element: a length larger than the rest is a lie
      if (n * perEntry > b.length - start)
        throw Errors.wire(`msgpack container at byte ${o} declares ${n} entries, only ${b.length - start} bytes remain`);
      let p = start;
      for (let i = 0; i < n * perEntry; i++) p = visit(p, depth + 1);
      return p;
    };
    const bytes = (start: number, n: number, what: string): number => {
      need(start, n, what);
      return start + n;
    };
    if (c <= 0x7f || c >= 0xe0) return o + 1; // fixint
    if (c >= 0x80 && c <= 0x8f) return container(o + 1, c & 0x0f, 2);
    if (c >= 0x90 && c <= 0x9f) return container(o + 1, c & 0x0f, 1);
    if (c >= 0xa0 && c <= 0xbf) return bytes(o + 1, c & 0x1f, 'str');
    switch (c) {
      case 0xc0:
      case 0xc2:
      case 0xc3:
        return o + 1;
      case 0xc4:
        need(o + 1, 1, 'bin8');
        return bytes(o + 2, b[o + 1]!, 'bin8');
      case 0xc5:
        return bytes(o + 3, u16(o + 1), 'bin16');
      case 0xc6:
        return bytes(o + 5, u32(o + 1), 'bin32');
      case 0xca:
        return bytes(o + 1, 4, 'float32');
      case 0xcb:
        return bytes(o + 1, 8, 'float64');
      case 0xcc:
      case 0xd0:
        return bytes(o + 1, 1, 'int');
      case 0xcd:
      case 0xd1:
        return bytes(o + 1, 2, 'int');
      case 0xce:
      case 0xd2:
        return bytes(o + 1, 4, 'int');
      case 0xcf:
      case 0xd3:
        return bytes(o + 1, 8, 'int');
      case 0xd9:
        need(o + 1, 1, 'str8');
        return bytes(o + 2, b[o + 1]!, 'str8');
      case 0xda:
        return bytes(o + 3, u16(o + 1), 'str16');
      case 0xdb:
        return bytes(o + 5, u32(o + 1), 'str32');
      case 0xdc:
        return container(o + 3, u16(o + 1), 1);
      case 0xdd:
        return container(o + 5, u32(o + 1), 1);
      case 0xde:
        return container(o + 3, u16(o + 1), 2);
      case 0xdf:
        return container(o + 5, u32(o + 1), 2);
      default:
        // 0xc1 (never used), ext and fixext (0xc7–0xc9, 0xd4–0xd8): records, typed arrays, timestamps — not ours
        throw Errors.wire(`msgpack type byte 0x${c.toString(16)} at byte ${o} is not allowed on this wire`);
    }
  };
  const end = visit(0, 0);
  if (end !== b.length) throw Errors.wire(`msgpack value ends at byte ${end} but the frame has ${b.length} bytes`);
  return end;
}

/** Steps 1–3 of the header: size cap, structural scan, decode into a plain map. */
export function decodeMap(frame: Uint8Array, maxBytes: number, scan: ScanLimits): Record<string, unknown> {
  if (frame.length > maxBytes) throw Errors.wire(`frame of ${frame.length} bytes exceeds the limit of ${maxBytes}`);
  scanMsgpack(frame, scan);
  let o: unknown;
  try {
    // a fresh Unpackr per frame: no record structures can carry over (RELIABILITY §2)
    o = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' }).unpack(frame);
  } catch (e) {
    throw Errors.wire(`msgpack does not decode: ${(e as Error).message}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o) || o instanceof Uint8Array)
    throw Errors.wire('a message must be a msgpack map');
  return o as Record<string, unknown>;
}

export function le(a: Float | Float64Array | Uint32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function typedFrom(dtype: DType | 'float64', bin: Uint8Array, n: number): Float {
  const bpe = dtype === 'float64' ? 8 : bytesPerElement(dtype);
  // aligned: a view; unaligned (the bin sits at an odd offset of the frame): one copy
  const aligned = bin.byteOffset % bpe === 0;
  // (Buffer#slice is a view, not a copy: copy explicitly)
  const buf = aligned ? bin.buffer : Uint8Array.prototype.slice.call(bin).buffer;
  const off = aligned ? bin.byteOffset : 0;
  return dtype === 'float32' ? new Float32Array(buf, off, n) : new Float64Array(buf, off, n);
}
