/**
 * codec-messages.ts — the remote protocol's messages on the wire (messages.ts: hello, run, need,
 * chunk, ready, step, done, error, and the partial among them): encodeMessage writes any of them
 * as one msgpack map; decodeWorkerMessage (what a coordinator accepts) and decodeCoordinatorMessage
 * (what a worker accepts) read a frame through the bounded steps of codec-frame.ts and check every
 * field against an allow-list, a run's spec and data against the limits a worker can hold.
 * Errors are GS_ERR_WIRE with the field named.
 * Not here: the partial's own fields (codec-partials.ts), transport (executors).
 */

import { Errors } from '../errors';
import { bytesPerElement, type DType } from '../tensor/dtype';
import { KERNEL_PROFILES, type KernelProfile } from '../tensor/kernels';
import { checkModelSpec, outputsOf, shapesOf, sizeOf, type LayerSpec, type ModelSpec } from '../model/spec';
import { layoutOf } from '../model/params';
import { PROTOCOL_VERSION, type CoordinatorMessage, type DataDescriptor, type WorkerMessage } from './messages';
import { decodeMap, le, packr, shown, typedFrom } from './codec-frame';
import { encodePartial, partialFields, protocolVersion, type PartialLimits } from './codec-partials';

/** Largest model (parameters) and workspace (values) a run on the wire may ask a worker for: 2^24. */
export const MAX_RUN_PARAMS = 1 << 24;

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
/**
 * A frame's protocol version: not an integer (absent, a string: bytes that happen to decode as
 * a map) is a bad frame (GS_ERR_WIRE, close 1008); another version is GS_ERR_PROTOCOL (4001).
 */
function version(m: Record<string, unknown>, mine: string): void {
  protocolVersion(m.v);
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
