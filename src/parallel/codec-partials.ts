/**
 * codec-partials.ts — a partial on the wire: encodePartial writes it as one msgpack map (bins
 * for the arrays); decodePartial reads a frame from a peer through the bounded steps of
 * codec-frame.ts and checks every field against an allow-list: type, version, step, node, dtype,
 * lengths in bytes against the run's shapes. Errors are GS_ERR_WIRE with the field named.
 * Not here: finiteness (the step checks and names the executor; `bad` only locates it),
 * the other messages (codec-messages.ts), transport (executors).
 */

import { Errors } from '../errors';
import { bytesPerElement, type DType, type Float } from '../tensor/dtype';
import { firstBadIndex } from './partial';
import { PROTOCOL_VERSION, type PartialMessage } from './messages';
import { decodeMap, le, packr, shown, typedFrom } from './codec-frame';

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

/** Decodes and validates a partial frame from a peer; throws GS_ERR_WIRE naming the field. */
export function decodePartial(frame: Uint8Array, lim: PartialLimits): PartialMessage {
  const m = decodeMap(frame, lim.maxBytes, { maxDepth: 2, maxItems: 64 });
  return partialFields(m, lim, (step) => {
    if (step !== lim.step) throw Errors.wire(`field "step": ${shown(step)} is not the current step ${lim.step} (stale or replayed)`);
  });
}

/** A message's field "v" that is not an integer: a bad frame, not another protocol version (GS_ERR_WIRE). */
export function protocolVersion(v: unknown): void {
  if (!Number.isSafeInteger(v))
    throw Errors.wire(
      `field "v" must be the protocol version, an integer; got ${typeof v === 'string' ? JSON.stringify(v.slice(0, 20)) : shown(v)}`,
    );
}

export function partialFields(
  m: Record<string, unknown>,
  lim: Omit<PartialLimits, 'step'>,
  checkStep: (step: unknown) => void,
): PartialMessage {
  for (const k of Object.keys(m)) if (!PARTIAL_KEYS.includes(k)) throw Errors.wire(`unknown field "${k.slice(0, 40)}"`);
  if (m.t !== 'partial') throw Errors.wire(`field "t" must be "partial", got ${JSON.stringify(m.t)?.slice(0, 40)}`);
  protocolVersion(m.v);
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
