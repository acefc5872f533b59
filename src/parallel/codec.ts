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
 * The remote protocol's other messages (hello, run, need, chunk, ready, step, done, error)
 * go through the same steps: decodeWorkerMessage, decodeCoordinatorMessage.
 * Not here: finiteness (the step checks and names the executor), transport (executors).
 */

import { Packr, Unpackr } from 'msgpackr';
import { Errors } from '../errors';
import { bytesPerElement, type DType, type Float } from '../tensor/dtype';
import { KERNEL_PROFILES, type KernelProfile } from '../tensor/kernels';
import { checkModelSpec, outputsOf, shapesOf, sizeOf, type LayerSpec, type ModelSpec } from '../model/spec';
import { layoutOf } from '../model/params';

/** Largest model (parameters) and workspace (values) a run on the wire may ask a worker for: 2^24. */
export const MAX_RUN_PARAMS = 1 << 24;
import { firstBadIndex } from './partial';
import { PROTOCOL_VERSION, type CoordinatorMessage, type DataDescriptor, type PartialMessage, type WorkerMessage } from './messages';

const packr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true });

/**
 * A peer's value for an error message, at most 20 characters. Never String() of a map: a
 * peer's map may carry a `toString` or `valueOf` key that is not a function, and String()
 * would throw an uncoded TypeError (found by test/parallel/fuzz-codec.test.ts).
 */
function shown(v: unknown): string {
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

function le(a: Float | Float64Array | Uint32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Encodes a partial as one msgpack map (bins for the arrays). */
export function encodePartial(m: PartialMessage): Buffer {
  return packr.pack({
    t: 'partial',
    v: m.v,
    step: m.step,
    node: m.node,
    dtype: m.dtype,
    count: m.count,
    lossSum: m.lossSum,
    stats: le(m.stats),
    grads: le(m.grads),
  });
}

export interface PartialLimits {
  maxBytes: number;
  dtype: DType;
  paramCount: number;
  statsSize: number;
  /** Highest valid tree height, and the step expected. */
  maxHeight: number;
  step: number;
  /**
   * Index of the first non-finite element of the decoded grads, or −1: the kernels' scan
   * (tensor/kernels firstNonFinite, faster on a large partial). Default: the plain loop.
   */
  firstNonFinite?: (g: Float) => number;
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
  const m = decodeMap(frame, lim.maxBytes, { maxDepth: 2, maxItems: 64 });
  return partialFields(m, lim, (step) => {
    if (step !== lim.step) throw Errors.wire(`field "step": ${shown(step)} is not the current step ${lim.step} (stale or replayed)`);
  });
}

/** Steps 1–3 of the header: size cap, structural scan, decode into a plain map. */
function decodeMap(frame: Uint8Array, maxBytes: number, scan: ScanLimits): Record<string, unknown> {
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

function partialFields(m: Record<string, unknown>, lim: Omit<PartialLimits, 'step'>, checkStep: (step: unknown) => void): PartialMessage {
  for (const k of Object.keys(m)) if (!PARTIAL_KEYS.includes(k)) throw Errors.wire(`unknown field "${k.slice(0, 40)}"`);
  if (m.t !== 'partial') throw Errors.wire(`field "t" must be "partial", got ${JSON.stringify(m.t)?.slice(0, 40)}`);
  if (m.v !== PROTOCOL_VERSION)
    throw Errors.protocol(`field "v": protocol version ${shown(m.v)} does not match this coordinator's ${PROTOCOL_VERSION}`);
  checkStep(m.step);
  const node = m.node;
  if (!Array.isArray(node) || node.length !== 2 || !node.every((x) => Number.isInteger(x) && x >= 0) || node[0] > lim.maxHeight) {
    throw Errors.wire(`field "node" must be [h, i] with 0 ≤ h ≤ ${lim.maxHeight}, got ${JSON.stringify(node)?.slice(0, 40)}`);
  }
  if (m.dtype !== lim.dtype) throw Errors.wire(`field "dtype": ${JSON.stringify(m.dtype)?.slice(0, 20)} is not the run's ${lim.dtype}`);
  if (!Number.isInteger(m.count) || (m.count as number) < 1)
    throw Errors.wire(`field "count" must be a positive integer, got ${shown(m.count)}`);
  if (typeof m.lossSum !== 'number') throw Errors.wire('field "lossSum" must be a number');
  const bin = (k: 'stats' | 'grads', n: number, bpe: number): Uint8Array => {
    const v = m[k];
    if (!(v instanceof Uint8Array)) throw Errors.wire(`field "${k}" must be bin`);
    if (v.length !== n * bpe) throw Errors.wire(`field "${k}" has ${v.length} bytes, expected ${n} × ${bpe} = ${n * bpe}`);
    return v;
  };
  const stats = typedFrom('float64', bin('stats', lim.statsSize, 8), lim.statsSize) as Float64Array;
  const grads = typedFrom(lim.dtype, bin('grads', lim.paramCount, bytesPerElement(lim.dtype)), lim.paramCount);
  return {
    t: 'partial',
    v: PROTOCOL_VERSION,
    step: m.step as number,
    node: [node[0], node[1]],
    dtype: lim.dtype,
    count: m.count as number,
    lossSum: m.lossSum,
    stats,
    grads,
    bad: (lim.firstNonFinite ?? firstBadIndex)(grads),
  };
}

// ---- remote worker nodes: the other message types (messages.ts), validated the same way ----

/** Encodes any remote-protocol message as one msgpack map; typed arrays become little-endian bins. */
export function encodeMessage(m: WorkerMessage | CoordinatorMessage): Buffer {
  switch (m.t) {
    case 'partial':
      return encodePartial(m);
    case 'step':
      return packr.pack({ t: 'step', v: m.v, step: m.step, order: le(m.order), nodes: m.nodes, params: le(m.params) });
    default:
      return packr.pack(m);
  }
}

/** What a coordinator accepts from a worker. */
export interface WorkerFrameLimits extends Omit<PartialLimits, 'step'> {
  /** Highest step a partial or done may name (the last step sent); lower ones are the caller's to drop as stale. */
  maxStep: number;
}

const ID_RE = /^[A-Za-z0-9._-]{1,64}$/;
const str = (m: Record<string, unknown>, k: string, max: number): string => {
  const v = m[k];
  if (typeof v !== 'string' || v.length > max) throw Errors.wire(`field "${k}" must be a string of at most ${max} characters`);
  return v;
};
const int = (m: Record<string, unknown>, k: string, min: number, max: number): number => {
  const v = m[k];
  if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max)
    throw Errors.wire(`field "${k}" must be an integer in [${min}, ${max}], got ${shown(v)}`);
  return v as number;
};
function allow(m: Record<string, unknown>, keys: readonly string[], what: string): void {
  for (const k of Object.keys(m)) if (!keys.includes(k)) throw Errors.wire(`unknown field "${k.slice(0, 40)}" in a ${what} message`);
}
function version(m: Record<string, unknown>, mine: string): void {
  if (m.v !== PROTOCOL_VERSION) {
    throw Errors.protocol(
      `protocol version ${shown(m.v)} of the ${mine === 'coordinator' ? 'worker' : 'coordinator'} does not match this ${mine}'s ${PROTOCOL_VERSION}`,
    );
  }
}

/** Decodes and validates a frame from a worker (hello, need, ready, done, partial, error). */
export function decodeWorkerMessage(frame: Uint8Array, lim: WorkerFrameLimits): WorkerMessage {
  const m = decodeMap(frame, lim.maxBytes, { maxDepth: 2, maxItems: 64 });
  version(m, 'coordinator');
  switch (m.t) {
    case 'partial':
      return partialFields(m, lim, (s) => {
        int(m, 'step', 1, lim.maxStep);
        void s;
      });
    case 'hello': {
      allow(m, ['t', 'v', 'id', 'kernelSpec', 'dtypes', 'threads', 'profiles'], 'hello');
      const id = str(m, 'id', 64);
      if (!ID_RE.test(id)) throw Errors.wire('field "id" must match [A-Za-z0-9._-]{1,64}');
      const d = m.dtypes;
      if (!Array.isArray(d) || d.length < 1 || d.length > 2 || !d.every((x) => x === 'float32' || x === 'float64'))
        throw Errors.wire('field "dtypes" must list float32 and/or float64');
      const pr = m.profiles;
      if (pr !== undefined && (!Array.isArray(pr) || pr.length < 1 || pr.length > 2 || !pr.every((x) => KERNEL_PROFILES.includes(x))))
        throw Errors.wire(`field "profiles" must list ${KERNEL_PROFILES.join(' and/or ')}`);
      return {
        t: 'hello',
        v: PROTOCOL_VERSION,
        id,
        kernelSpec: int(m, 'kernelSpec', 0, 1e6),
        dtypes: d as DType[],
        threads: int(m, 'threads', 0, 1024),
        ...(pr !== undefined ? { profiles: pr as KernelProfile[] } : {}),
      };
    }
    case 'need':
    case 'ready':
      allow(m, ['t', 'v'], m.t);
      return { t: m.t, v: PROTOCOL_VERSION };
    case 'done': {
      allow(m, ['t', 'v', 'step', 'computeMs'], 'done');
      const ms = m.computeMs;
      if (typeof ms !== 'number' || !(ms >= 0) || ms > 1e9) throw Errors.wire('field "computeMs" must be a number in [0, 1e9]');
      return { t: 'done', v: PROTOCOL_VERSION, step: int(m, 'step', 1, lim.maxStep), computeMs: ms };
    }
    case 'error':
      allow(m, ['t', 'v', 'code', 'message'], 'error');
      return { t: 'error', v: PROTOCOL_VERSION, code: str(m, 'code', 64), message: str(m, 'message', 1000) };
    default:
      throw Errors.wire(`field "t": ${JSON.stringify(m.t)?.slice(0, 40)} is not a message a worker sends`);
  }
}

/** What a worker accepts from a coordinator; `run` is unset until the run message arrived. */
export interface CoordinatorFrameLimits {
  maxBytes: number;
  /** Largest dataset a worker agrees to hold, bytes. */
  maxDataBytes: number;
  run?: { dtype: DType; paramCount: number; n: number; chunkBytes: number; chunks: number };
}

const HEX64 = /^[0-9a-f]{64}$/;

function hex64(v: unknown, field: string): string {
  if (typeof v !== 'string' || !HEX64.test(v)) throw Errors.wire(`field "${field}" must be 64 lowercase hex digits`);
  return v;
}

/** Every field a layer of a run's spec may carry (model/spec.ts). */
const LAYER_FIELDS = ['type', 'units', 'activation', 'filters', 'kernel', 'stride', 'padding', 'size', 'rate', 'seed'];

/**
 * Values a worker's model holds per example: every layer's output, and a convolution's z beside
 * it (its im2col matrices are one example's, held once; model/layers/conv2d.ts).
 */
function workspacePerExample(ms: ModelSpec): number {
  const shapes = shapesOf(ms);
  let units = ms.inputs;
  for (let i = 0; i < ms.layers.length; i++) {
    const out = sizeOf(shapes[i + 1]!);
    units += ms.layers[i]!.type === 'conv2d' ? 2 * out : out;
  }
  return units;
}

/** Decodes and validates a frame from the coordinator (run, chunk, step, error). */
export function decodeCoordinatorMessage(frame: Uint8Array, lim: CoordinatorFrameLimits): CoordinatorMessage {
  const m = decodeMap(frame, lim.maxBytes, { maxDepth: 4, maxItems: 4096 });
  version(m, 'worker');
  switch (m.t) {
    case 'run': {
      allow(m, ['t', 'v', 'run', 'executor', 'spec', 'profile', 'microBatch', 'data', 'serverProof'], 'run');
      if (m.profile !== undefined && !KERNEL_PROFILES.includes(m.profile as KernelProfile))
        throw Errors.wire(`field "profile" must be one of ${KERNEL_PROFILES.join(', ')}`);
      const spec = m.spec as Record<string, unknown>;
      if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw Errors.wire('field "spec" must be a map');
      allow(spec, ['inputs', 'input', 'layers', 'loss', 'dtype'], 'run.spec');
      if (!Array.isArray(spec.layers) || spec.layers.length > 64)
        throw Errors.wire('field "spec.layers" must be an array of at most 64 layers');
      if (spec.input !== undefined && (!Array.isArray(spec.input) || spec.input.length > 3))
        throw Errors.wire('field "spec.input" must be an array of at most 3 integers');
      const layers = (spec.layers as unknown[]).map((l, i) => {
        if (typeof l !== 'object' || l === null || Array.isArray(l)) throw Errors.wire(`field "spec.layers[${i}]" must be a map`);
        const lm = l as Record<string, unknown>;
        allow(lm, LAYER_FIELDS, 'run.spec.layers');
        // only the fields present are copied: checkModelSpec below checks each kind's
        const out: Record<string, unknown> = {};
        for (const k of LAYER_FIELDS) if (lm[k] !== undefined) out[k] = lm[k];
        return out as unknown as LayerSpec;
      });
      const ms: ModelSpec = {
        inputs: spec.inputs as number,
        ...(spec.input !== undefined ? { input: [...(spec.input as number[])] } : {}),
        layers,
        loss: spec.loss as ModelSpec['loss'],
        dtype: spec.dtype as DType,
      };
      try {
        checkModelSpec(ms);
      } catch (e) {
        throw Errors.wire(`field "spec": ${(e as Error).message}`);
      }
      // a run the worker could never hold is refused before it allocates anything
      const params = layoutOf(ms).size;
      if (params > MAX_RUN_PARAMS) throw Errors.wire(`field "spec": ${params} parameters exceed the wire's limit of ${MAX_RUN_PARAMS}`);
      const microBatch = int(m, 'microBatch', 1, 1 << 20);
      const units = workspacePerExample(ms);
      if (microBatch * units > MAX_RUN_PARAMS)
        throw Errors.wire(`fields "microBatch" × units (${microBatch} × ${units}) exceed the workspace limit of ${MAX_RUN_PARAMS} values`);
      const d = m.data as Record<string, unknown>;
      if (typeof d !== 'object' || d === null || Array.isArray(d)) throw Errors.wire('field "data" must be a map');
      allow(d, ['name', 'sha256', 'payloadSha256', 'n', 'inputs', 'outputs', 'bytes', 'chunkBytes'], 'run.data');
      const data: DataDescriptor = {
        name: str(d, 'name', 200),
        sha256: str(d, 'sha256', 64),
        payloadSha256: str(d, 'payloadSha256', 64),
        n: int(d, 'n', 1, 2 ** 32 - 1),
        inputs: int(d, 'inputs', 1, 1 << 24),
        outputs: int(d, 'outputs', 1, 1 << 24),
        bytes: int(d, 'bytes', 1, lim.maxDataBytes),
        chunkBytes: int(d, 'chunkBytes', 1024, 64 << 20),
      };
      if (!HEX64.test(data.sha256) || !HEX64.test(data.payloadSha256))
        throw Errors.wire('fields "data.sha256" and "data.payloadSha256" must be 64 lowercase hex digits');
      if (
        data.inputs !== ms.inputs ||
        data.outputs !== outputsOf(ms) ||
        data.bytes !== data.n * (data.inputs + data.outputs) * bytesPerElement(ms.dtype)
      ) {
        throw Errors.wire('field "data": n, inputs, outputs and bytes do not agree with the model spec');
      }
      return {
        t: 'run',
        v: PROTOCOL_VERSION,
        run: str(m, 'run', 200),
        executor: str(m, 'executor', 80),
        spec: ms,
        ...(m.profile !== undefined ? { profile: m.profile as KernelProfile } : {}),
        microBatch,
        data,
        ...(m.serverProof !== undefined ? { serverProof: hex64(m.serverProof, 'serverProof') } : {}),
      };
    }
    case 'chunk': {
      allow(m, ['t', 'v', 'seq', 'bytes'], 'chunk');
      if (!lim.run) throw Errors.wire('a chunk before the run');
      const seq = int(m, 'seq', 0, lim.run.chunks - 1);
      const b = m.bytes;
      if (!(b instanceof Uint8Array) || b.length < 1 || b.length > lim.run.chunkBytes)
        throw Errors.wire(`field "bytes" must be bin of 1 … ${lim.run.chunkBytes} bytes`);
      return { t: 'chunk', v: PROTOCOL_VERSION, seq, bytes: b };
    }
    case 'step': {
      allow(m, ['t', 'v', 'step', 'order', 'nodes', 'params'], 'step');
      const r = lim.run;
      if (!r) throw Errors.wire('a step before the run');
      const step = int(m, 'step', 1, Number.MAX_SAFE_INTEGER);
      const ob = m.order;
      if (!(ob instanceof Uint8Array) || ob.length < 4 || ob.length % 4 !== 0) throw Errors.wire('field "order" must be bin of uint32s');
      const order = new Uint32Array(Uint8Array.prototype.slice.call(ob).buffer);
      for (let i = 0; i < order.length; i++)
        if (order[i]! >= r.n) throw Errors.wire(`field "order": element ${i} is ${order[i]}, not a row of ${r.n}`);
      const nodes = m.nodes;
      if (
        !Array.isArray(nodes) ||
        nodes.length < 1 ||
        nodes.length > 128 ||
        !nodes.every((x) => Array.isArray(x) && x.length === 2 && x.every((y) => Number.isInteger(y) && y >= 0 && y < 2 ** 32))
      ) {
        throw Errors.wire('field "nodes" must be 1 … 128 pairs [h, i] of integers');
      }
      const pb = m.params;
      const bpe = bytesPerElement(r.dtype);
      if (!(pb instanceof Uint8Array) || pb.length !== r.paramCount * bpe)
        throw Errors.wire(`field "params" must be bin of ${r.paramCount} × ${bpe} bytes`);
      return {
        t: 'step',
        v: PROTOCOL_VERSION,
        step,
        order,
        nodes: nodes as [number, number][],
        params: typedFrom(r.dtype, pb, r.paramCount),
      };
    }
    case 'error':
      allow(m, ['t', 'v', 'code', 'message'], 'error');
      return { t: 'error', v: PROTOCOL_VERSION, code: str(m, 'code', 64), message: str(m, 'message', 1000) };
    default:
      throw Errors.wire(`field "t": ${JSON.stringify(m.t)?.slice(0, 40)} is not a message a coordinator sends`);
  }
}
