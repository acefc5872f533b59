/**
 * thread-pool.ts — the run's piscina thread pool: one Piscina pool of N threads and its N
 * executors ('thread-1' … 'thread-N', pool-executor.ts), and what they share: the epoch order
 * in one shared buffer, the shared tail's buffers and the main thread's partial slots.
 * Weights, data and the epoch order are SharedArrayBuffer views. A thread that dies outside
 * a task (the pool's own 'error' event) is logged, never thrown.
 * Not here: posting tasks to a thread (pool-executor.ts), the thread's code (workers/pool-task.ts).
 */

import * as path from 'node:path';
import { Piscina } from 'piscina';
import type pino from 'pino';
import type { Float } from '../tensor/dtype';
import type { ModelSpec } from '../model/spec';
import { statsLayoutOf } from '../model/model';
import { layoutOf } from '../model/params';
import { slotBytes, slotPartial, T, type SlotPartial, type TailBuffers } from './pool-protocol';
import { tailUnits } from './tail';
import { poolTaskHook } from './hooks';
import type { OptimizerSpec } from '../optim/optimizer';
import { bytesPerElement } from '../tensor/dtype';
import type { KernelProfile } from '../tensor/kernels';
import type { KernelChoice } from '../tensor/select';
import { isShared, PoolExecutor } from './pool-executor';

export interface PoolOptions {
  threads: number;
  spec: ModelSpec;
  kernels: KernelChoice;
  /** The run's kernel profile, which every thread's kernels follow. Default 'portable'. */
  profile?: KernelProfile;
  microBatch: number;
  /** Shared (SharedArrayBuffer-backed) examples. */
  x: Float;
  y: Float;
  logger?: pino.Logger;
  /**
   * Poll instead of sleeping (SPIN_MS at most) while waiting: the threads for their next
   * task, the coordinator for a result. Only when every compute thread has a core of its own
   * (the coordinator computes its share too). Default false.
   */
  spin?: boolean;
  /**
   * Share the step's tail with the threads (pool-protocol.ts TailBuffers): the parameter
   * tensors' [from, to) ranges, the optimizer and its state buffers (in shared memory).
   * Default: the main thread runs the tail alone.
   */
  tail?: { tensors: { from: number; to: number }[]; optimizer: OptimizerSpec; state: Float[] };
  /** The CPU each pool thread pins itself to (index k − 1 for thread-k; parallel/affinity.ts). Default: they float. */
  cpus?: number[] | null;
}

/** Partial slots in shared memory for the main thread's own partials (a tail operand). */
export const MAIN_SLOTS = 8;

/** The compiled worker module, found beside this file's compiled location (dist/src/parallel → dist/workers). */
export function poolTaskPath(): string {
  return path.resolve(__dirname, '..', '..', 'workers', 'pool-task.js');
}

export class ThreadPool {
  readonly pool: Piscina;
  readonly executors: PoolExecutor[];
  /** The epoch order, in one shared buffer for the run (copied in when the epoch changes). */
  private sharedOrder: { source: Uint32Array | null; copy: Uint32Array } = {
    source: null,
    copy: new Uint32Array(new SharedArrayBuffer(4)),
  };
  readonly statsSize: number;
  readonly paramCount: number;
  /** The shared tail's buffers, and the main thread's slots as partials (null: no shared tail). */
  readonly tail: TailBuffers | null;
  readonly mainSlots: SlotPartial[];

  constructor(readonly opts: PoolOptions) {
    this.statsSize = statsLayoutOf(opts.spec).size;
    this.paramCount = layoutOf(opts.spec).size;
    const dtype = opts.spec.dtype;
    if (opts.tail) {
      const units = tailUnits(opts.tail.tensors);
      const shared = (bytes: number): SharedArrayBuffer => new SharedArrayBuffer(bytes);
      const vector = (): SharedArrayBuffer => shared(this.paramCount * bytesPerElement(dtype));
      const state = opts.tail.state.map((b) => {
        if (!(b.buffer instanceof SharedArrayBuffer) || b.byteOffset !== 0 || b.length !== this.paramCount)
          throw new TypeError('ThreadPool: the optimizer state must be whole SharedArrayBuffer-backed vectors');
        return b.buffer;
      });
      this.tail = {
        units,
        sums: new Float64Array(shared(units.length * 8)),
        f64: new Float64Array(shared(6 * 8)),
        sync: new Int32Array(shared((T.STATE + units.length / 2) * 4)),
        old: vector(),
        optimizer: opts.tail.optimizer,
        state,
        oldState: state.map(() => vector()),
        u: vector(),
        mainSlots: Array.from({ length: MAIN_SLOTS }, () => shared(slotBytes(dtype, this.statsSize, this.paramCount))),
      };
      this.mainSlots = this.tail.mainSlots.map((b) => slotPartial(b, dtype, this.statsSize, this.paramCount));
    } else {
      this.tail = null;
      this.mainSlots = [];
    }
    if (!isShared(opts.x) || !isShared(opts.y))
      throw new TypeError('ThreadPool: x and y must be SharedArrayBuffer-backed (load the data with shared: true)');
    // a test's task module instead of the product's (parallel/hooks.ts; null in every run of the product)
    const hook = poolTaskHook();
    const limit = hook?.maxOldGenerationSizeMb;
    this.pool = new Piscina({
      filename: hook?.file ?? poolTaskPath(),
      ...(hook?.workerData !== undefined ? { workerData: hook.workerData() } : {}),
      minThreads: opts.threads,
      maxThreads: opts.threads,
      // a serve loop holds its thread for the run: never reap it as idle
      idleTimeout: 2 ** 31 - 1,
      // piscina's own atomics are for its task hand-off, which serve loops use once per run
      atomics: 'disabled',
      // piscina's own run/wait histograms: the step records already time every task
      recordTiming: false,
      ...(limit !== undefined ? { resourceLimits: { maxOldGenerationSizeMb: limit } } : {}),
    });
    // a thread that dies outside a task (e.g. replaced after an OOM) must not crash the coordinator
    this.pool.on('error', (e: Error) => opts.logger?.warn({ err: { message: e.message } }, 'pool thread error'));
    this.executors = Array.from({ length: opts.threads }, (_, i) => new PoolExecutor(this, i + 1));
  }

  /**
   * The epoch order in the run's shared order buffer. Copied when the epoch's order changes
   * (between steps, while no thread computes); a longer order needs a new buffer, which
   * makes every serve loop restart with it.
   */
  order(o: Uint32Array): Uint32Array {
    if (this.sharedOrder.source !== o) {
      let copy = this.sharedOrder.copy;
      if (copy.length < o.length) copy = new Uint32Array(new SharedArrayBuffer(o.byteLength));
      copy.set(o);
      this.sharedOrder = { source: o, copy };
    }
    return this.sharedOrder.copy;
  }

  /**
   * Starts every thread's serve loop on `params` and an order buffer of `examples` entries,
   * and resolves once each has its kernels and waits for tasks (or has died: its first step
   * then fails it as any step would). A run calls it before its first step, so that step does
   * not wait for threads that are still starting; it never rejects.
   */
  async prestart(params: Float, examples: number): Promise<void> {
    if (!isShared(params)) return;
    if (this.sharedOrder.copy.length < examples)
      this.sharedOrder = { source: null, copy: new Uint32Array(new SharedArrayBuffer(examples * 4)) };
    await Promise.all(this.executors.map((e) => e.prestart(params, this.sharedOrder.copy)));
  }

  async close(): Promise<void> {
    await Promise.all(this.executors.map((e) => e.stop()));
    await this.pool.destroy();
  }
}
