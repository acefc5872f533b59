/**
 * messages.ts — the wire's message types and PROTOCOL_VERSION. Types only (horovod message.h).
 *
 * Every message is one msgpack map with a type tag `t` and the protocol version `v`.
 * Typed arrays travel as msgpack `bin` holding their little-endian bytes, described by the
 * message's own fields (dtype, lengths known from the run) — not as msgpackr's typed-array
 * extension, whose default pack() was seen to corrupt Float32Array/Float64Array here.
 * Not here: encoding and validation (codec.ts).
 */

import type { DType, Float } from '../tensor/dtype';

export const PROTOCOL_VERSION = 1;

/** One tree node's partial: what a pool thread or a remote worker returns per node. */
export interface PartialMessage {
  t: 'partial';
  v: number;
  /** The step the partial belongs to (a stale step is dropped). */
  step: number;
  /** Tree node [h, i]. */
  node: [number, number];
  dtype: DType;
  /** Examples summed. */
  count: number;
  /** Σ per-example loss, float64. */
  lossSum: number;
  /** Activation counts (model/mlp.ts StatsLayout). */
  stats: Float64Array;
  /** Σ dJdW, Σ dJdWb of every layer, in the parameter layout. */
  grads: Float;
}
