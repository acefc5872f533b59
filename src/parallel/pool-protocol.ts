/**
 * pool-protocol.ts — what a pool task carries to a piscina thread and back.
 *
 * In: the run's shared buffers (SharedArrayBuffer-backed typed arrays: structured clone
 * passes the memory, not a copy), the step's batch reference and tree nodes, and a result
 * buffer to fill (transferred, reused step after step).
 * Out: that buffer, transferred back, holding one partial per node:
 *   Float64 region: per node [lossSum, count, bad, stats…]  (3 + S values)
 *   then, 8-byte aligned, per node the grads in the dtype   (P values)
 * The remote wire carries the same fields as PartialMessage (messages.ts), msgpack-encoded.
 * Not here: the thread's code (workers/pool-task.ts), the executor (pool-executor.ts).
 */

import { bytesPerElement, view, type DType, type Float } from '../tensor/dtype';
import type { ModelSpec } from '../model/spec';
import type { Partial } from './partial';
import type { TreeNode } from './tree';

/** A test-only fault: the task of executor `executor` at step `step` fails as `mode`. */
export interface FaultSpec {
  executor: number;
  step: number;
  mode: 'throw' | 'exit' | 'oom';
}

export interface PoolTask {
  /** Identifies the run's buffers; a thread rebuilds its model when it changes. */
  runKey: string;
  spec: ModelSpec;
  kernels: 'auto' | 'native' | 'wasm' | 'ref';
  microBatch: number;
  x: Float;
  y: Float;
  params: Float;
  order: Uint32Array;
  start: number;
  end: number;
  step: number;
  nodes: TreeNode[];
  executor: number;
  statsSize: number;
  paramCount: number;
  /** Buffer to write the result into (may be too small or absent: the thread allocates). */
  out: ArrayBuffer | null;
  fault: FaultSpec | null;
}

export interface PoolResult {
  buffer: ArrayBuffer;
  nodes: number;
  computeMs: number;
  kernel: string;
}

export function resultBytes(dtype: DType, nodes: number, statsSize: number, paramCount: number): number {
  const meta = nodes * (3 + statsSize) * 8;
  return meta + nodes * paramCount * bytesPerElement(dtype);
}

/** Views of node k's partial inside a result buffer (no copy). */
export function partialView(buf: ArrayBuffer, dtype: DType, nodes: number, k: number, statsSize: number, paramCount: number): { meta: Float64Array; grads: Float } {
  const metaLen = 3 + statsSize;
  const meta = new Float64Array(buf, k * metaLen * 8, metaLen);
  const gradsOff = nodes * metaLen * 8 + k * paramCount * bytesPerElement(dtype);
  return { meta, grads: view(dtype, buf, gradsOff, paramCount) };
}

/** Writes a partial into node slot k of a result buffer. */
export function writePartial(buf: ArrayBuffer, dtype: DType, nodes: number, k: number, p: Partial): void {
  const v = partialView(buf, dtype, nodes, k, p.stats.length, p.grads.length);
  v.meta[0] = p.lossSum;
  v.meta[1] = p.count;
  v.meta[2] = p.bad;
  v.meta.set(p.stats, 3);
  v.grads.set(p.grads);
}

/** Node k of a result buffer as a Partial whose arrays view the buffer. */
export function readPartial(buf: ArrayBuffer, dtype: DType, nodes: number, k: number, statsSize: number, paramCount: number): Partial {
  const v = partialView(buf, dtype, nodes, k, statsSize, paramCount);
  return { grads: v.grads, stats: v.meta.subarray(3), lossSum: v.meta[0]!, count: v.meta[1]!, bad: v.meta[2]! };
}
