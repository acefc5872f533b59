/**
 * pool-executor.ts — executors backed by a piscina thread pool.
 *
 * One Piscina pool of N threads; N executors ('thread-1' … 'thread-N') submit to it, so a
 * step's N ranges run in parallel. Weights, data and the epoch order are SharedArrayBuffer
 * views: a task carries references, not copies. Results come back in one transferred
 * ArrayBuffer per task that the executor hands back with its next task (no allocation in
 * the steady state).
 * A task that throws, a thread that exits or runs out of memory rejects its run(); the
 * step recomputes that range on the main thread (train/step.ts) and piscina starts a new
 * thread. The pool's own 'error' event (a thread dying with no task) is logged, never thrown.
 * Not here: the thread's code (workers/pool-task.ts), planning (planner.ts).
 */

import * as path from 'node:path';
import { Piscina } from 'piscina';
import type pino from 'pino';
import type { Float } from '../tensor/dtype';
import type { ModelSpec } from '../model/spec';
import { statsLayoutOf } from '../model/mlp';
import { layoutOf } from '../model/params';
import { Errors } from '../errors';
import type { Executor, StepTask } from './executor';
import type { Partial } from './partial';
import { readPartial, resultBytes, type FaultSpec, type PoolResult, type PoolTask } from './pool-protocol';
import type { TreeNode } from './tree';

export interface PoolOptions {
  threads: number;
  spec: ModelSpec;
  kernels: 'auto' | 'native' | 'wasm' | 'ref';
  microBatch: number;
  /** Shared (SharedArrayBuffer-backed) examples. */
  x: Float;
  y: Float;
  logger?: pino.Logger;
  /** Test-only fault injection (GRADSYNC_FAULT); null in normal runs. */
  fault?: FaultSpec | null;
  /** Heap limit per thread (MB); default none. The 'oom' fault sets one. */
  maxOldGenerationSizeMb?: number;
}

/** The compiled worker module, found beside this file's compiled location (dist/src/parallel → dist/workers). */
export function poolTaskPath(): string {
  return path.resolve(__dirname, '..', '..', 'workers', 'pool-task.js');
}

function isShared(a: Float | Uint32Array): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer;
}

export class ThreadPool {
  readonly pool: Piscina;
  readonly executors: PoolExecutor[];
  private readonly runKey = `${process.pid}-${Date.now()}-${Math.random()}`;
  private sharedOrder: { source: Uint32Array; copy: Uint32Array } | null = null;

  constructor(readonly opts: PoolOptions) {
    this.statsSize = statsLayoutOf(opts.spec).size;
    this.paramCount = layoutOf(opts.spec).size;
    if (!isShared(opts.x) || !isShared(opts.y)) throw new TypeError('ThreadPool: x and y must be SharedArrayBuffer-backed (load the data with shared: true)');
    const limit = opts.maxOldGenerationSizeMb ?? (opts.fault?.mode === 'oom' ? 64 : undefined);
    this.pool = new Piscina({
      filename: poolTaskPath(),
      minThreads: opts.threads,
      maxThreads: opts.threads,
      idleTimeout: 60_000,
      // 'disabled': threads wait on their message port, not in Atomics.wait, so their timers run
      // (RELIABILITY §3). The hand-off measured the same either way here (0.35–0.55 ms per step).
      atomics: 'disabled',
      // piscina's own run/wait histograms: the step records already time every task
      recordTiming: false,
      ...(limit !== undefined ? { resourceLimits: { maxOldGenerationSizeMb: limit } } : {}),
    });
    // a thread that dies outside a task (e.g. replaced after an OOM) must not crash the coordinator
    this.pool.on('error', (e: Error) => opts.logger?.warn({ err: { message: e.message } }, 'pool thread error'));
    this.executors = Array.from({ length: opts.threads }, (_, i) => new PoolExecutor(this, i + 1));
  }

  /** The epoch order in shared memory (copied once per epoch when it is not shared already). */
  order(o: Uint32Array): Uint32Array {
    if (isShared(o)) return o;
    if (this.sharedOrder?.source !== o) {
      const copy = new Uint32Array(new SharedArrayBuffer(o.byteLength));
      copy.set(o);
      this.sharedOrder = { source: o, copy };
    }
    return this.sharedOrder.copy;
  }

  private readonly statsSize: number;
  private readonly paramCount: number;

  taskFor(exec: number, t: StepTask, nodes: TreeNode[], out: ArrayBuffer | null): PoolTask {
    if (!isShared(t.params)) throw new TypeError('ThreadPool: params must be SharedArrayBuffer-backed');
    const o = this.opts;
    return {
      runKey: this.runKey, spec: o.spec, kernels: o.kernels, microBatch: o.microBatch, x: o.x, y: o.y, params: t.params,
      order: this.order(t.batch.order), start: t.batch.start, end: t.batch.end, step: t.step, nodes, executor: exec,
      statsSize: this.statsSize, paramCount: this.paramCount, out, fault: o.fault ?? null,
    };
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

export class PoolExecutor implements Executor {
  readonly id: string;
  readonly kind = 'thread' as const;
  private spare: ArrayBuffer | null = null;
  private readonly statsSize: number;
  private readonly paramCount: number;
  /** Wall time inside the thread of the last task (ms): the rest of computeMs is hand-off. */
  lastThreadMs = 0;

  constructor(private readonly owner: ThreadPool, private readonly index: number) {
    this.id = `thread-${index}`;
    this.statsSize = statsLayoutOf(owner.opts.spec).size;
    this.paramCount = layoutOf(owner.opts.spec).size;
  }

  async compute(task: StepTask, nodes: TreeNode[]): Promise<Partial[]> {
    const dtype = this.owner.opts.spec.dtype;
    const need = resultBytes(dtype, nodes.length, this.statsSize, this.paramCount);
    const out = this.spare !== null && this.spare.byteLength === need ? this.spare : null;
    this.spare = null;
    const t = this.owner.taskFor(this.index, task, nodes, out);
    const r = (await this.owner.pool.run(t, out ? { transferList: [out] } : {})) as PoolResult;
    if (!(r && r.buffer instanceof ArrayBuffer) || r.nodes !== nodes.length || r.buffer.byteLength !== need) {
      throw Errors.executor(`${this.id}: malformed result from the pool thread`);
    }
    this.lastThreadMs = r.computeMs;
    return nodes.map((_, k) => readPartial(r.buffer, dtype, nodes.length, k, this.statsSize, this.paramCount));
  }

  recycle(partials: Partial[]): void {
    const b = partials[0]?.grads.buffer;
    if (b instanceof ArrayBuffer) this.spare = b;
  }

  async close(): Promise<void> {
    // the pool is shared by all its executors: ThreadPool.close() ends it
  }
}
