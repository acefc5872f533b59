/**
 * executors.ts — a run's local executors, and the process-wide scheduling they may use: the
 * main thread, the thread pool, each compute thread pinned to a CPU of its own, the runtime's
 * helper threads at idle priority. Every side effect is made here, and dispose() undoes all of
 * it; a setup that fails halfway undoes what it did before the error goes up.
 * Not here: remote nodes (parallel/coordinator-server.ts), the step (step.ts).
 */

import * as os from 'node:os';
import type pino from 'pino';
import type { KernelSet } from '../tensor/kernels';
import type { ModelSpec } from '../model/spec';
import type { ParamLayout } from '../model/params';
import type { Float } from '../tensor/dtype';
import type { OptimizerSpec } from '../optim/optimizer';
import { toDtype, type Dataset } from '../data/dataset';
import type { Executor } from '../parallel/executor';
import { MainExecutor } from '../parallel/main-executor';
import { ThreadPool } from '../parallel/thread-pool';
import { allowedCpus, idleHelpers, pinPlan, pinThisThread, type IdleHelpers } from '../parallel/affinity';
import { paramTensorsOf } from './setup';

export interface LocalExecutorOptions {
  spec: ModelSpec;
  layout: ParamLayout;
  kernels: KernelSet;
  /** The kernel preference the pool threads select by (each thread loads its own). */
  kernelChoice: 'auto' | 'native' | 'wasm' | 'ref';
  data: Dataset;
  microBatch: number;
  /** Compute threads, the main thread included (config threads, resolved): > 1 starts a pool. */
  threads: number;
  logger: pino.Logger;
  /**
   * Whether this process lets the run change its scheduling (TrainOptions.processControl);
   * pinning and idle helpers happen only when `pinThreads` (the config's wish) is true too.
   */
  processControl: boolean;
  pinThreads: boolean;
  /** Share the step's tail with the pool (config shareTail, no clipping): the optimizer and its shared state buffers. */
  shareTail: { optimizer: OptimizerSpec; state: Float[] } | null;
  /** The caller's executors instead of a pool (TrainOptions.executors); the main thread then only recomputes. */
  custom?: () => Promise<Executor[]>;
}

export interface LocalExecutors {
  /** The main thread's executor: its own share of a step, and the ranges of executors that fail. */
  readonly main: MainExecutor;
  readonly pool: ThreadPool | null;
  /** Every step's executors: the pool's threads, then the main thread (last: the threads get their work first); or the caller's. */
  readonly executors: Executor[];
  /** The CPU of each compute thread (index 0 the main thread, k thread-k) while pinned; null: they float. */
  readonly pinned: number[] | null;
  /** How many of the runtime's helper threads are at idle priority (null: none). */
  readonly helpersIdle: number | null;
  /** Closes the caller's executors and the pool, then gives the main thread its CPUs and the helpers their priority back. Once. */
  dispose(): Promise<void>;
}

/** The executors a run computes its steps with, on this machine. */
export async function setUpExecutors(o: LocalExecutorOptions): Promise<LocalExecutors> {
  if (o.custom !== undefined) {
    const main = new MainExecutor(o.spec, o.kernels, o.data, o.microBatch);
    const extra = await o.custom();
    return local(main, null, extra.length > 0 ? extra : [main], new Placement(o.logger));
  }
  if (o.threads <= 1) {
    const main = new MainExecutor(o.spec, o.kernels, o.data, o.microBatch);
    return local(main, null, [main], new Placement(o.logger));
  }
  return startPool(o);
}

/**
 * The main thread and a pool of threads − 1. Spinning (instead of sleeping) between steps pays
 * only when every compute thread has a core of its own. With a shared tail the main thread
 * computes into shared slots a pool thread can read (train/step.ts).
 */
function startPool(o: LocalExecutorOptions): LocalExecutors {
  const shared = o.data.x.buffer instanceof SharedArrayBuffer ? o.data : toDtype(o.data, o.spec.dtype, true);
  // read before the main thread is pinned: availableParallelism() is the calling thread's CPU count
  const spin = o.threads <= os.availableParallelism();
  const placement = new Placement(o.logger);
  let pool: ThreadPool;
  try {
    if (o.processControl && o.pinThreads) placement.pin(o.threads);
    pool = new ThreadPool({
      cpus: placement.pinned?.slice(1) ?? null,
      threads: o.threads - 1,
      spec: o.spec,
      kernels: o.kernelChoice,
      // the threads select their own kernels, of the main thread's profile
      profile: o.kernels.profile,
      microBatch: o.microBatch,
      x: shared.x,
      y: shared.y,
      logger: o.logger,
      spin,
      ...(o.shareTail !== null
        ? { tail: { tensors: paramTensorsOf(o.layout), optimizer: o.shareTail.optimizer, state: o.shareTail.state } }
        : {}),
    });
  } catch (e) {
    // the main thread's CPUs and the helpers' priority back before the error goes up
    placement.restore();
    throw e;
  }
  const main = new MainExecutor(o.spec, o.kernels, o.data, o.microBatch, pool.mainSlots);
  return local(main, pool, [...pool.executors, main], placement);
}

function local(main: MainExecutor, pool: ThreadPool | null, executors: Executor[], placement: Placement): LocalExecutors {
  let disposed: Promise<void> | null = null;
  const dispose = async (): Promise<void> => {
    try {
      await Promise.all(executors.filter((e) => e !== main).map((e) => e.close()));
      await pool?.close();
    } finally {
      placement.restore();
    }
  };
  return {
    main,
    pool,
    executors,
    pinned: placement.pinned,
    helpersIdle: placement.helpers?.tids.length ?? null,
    dispose: () => (disposed ??= dispose()),
  };
}

/**
 * What pinning changed in this process, and how to put it back (parallel/affinity.ts): the
 * main thread's CPU set, and the runtime's helper threads put at idle priority.
 */
class Placement {
  /** The CPU of each compute thread (index 0 the main thread); null: not pinned. */
  pinned: number[] | null = null;
  helpers: IdleHelpers | null = null;
  /** The main thread's CPUs before it was pinned. */
  private before: number[] | null = null;

  constructor(private readonly log: pino.Logger) {}

  /** Pins the calling (main) thread to its CPU of the plan for `threads`; warns and leaves things as they were when it cannot. */
  pin(threads: number): void {
    const before = allowedCpus();
    const plan = pinPlan(threads, before);
    if (plan === null || before === null) return;
    const why = pinThisThread([plan[0]!]);
    if (why !== null) {
      this.log.warn({ why }, 'compute threads not pinned');
      return;
    }
    this.pinned = plan;
    this.before = before;
    // no CPU left over for the runtime's own threads: they wait for an idle moment
    // (parallel/affinity.ts idleHelpers), instead of preempting a compute thread
    if (plan.length !== before.length) return;
    const helpers = idleHelpers();
    if (typeof helpers === 'string') this.log.warn({ why: helpers }, 'runtime helper threads left at normal priority');
    else this.helpers = helpers;
  }

  /** The main thread's CPUs and the helpers' priority as they were before pin(); warns for what it cannot put back. */
  restore(): void {
    const before = this.before;
    const helpers = this.helpers;
    this.before = null;
    this.helpers = null;
    if (before !== null) {
      const why = pinThisThread(before);
      if (why !== null) this.log.warn({ why }, 'main thread not given its CPUs back');
    }
    if (helpers !== null) {
      const bad = helpers.restore();
      if (bad !== null) this.log.warn({ why: bad }, 'runtime helper threads not restored to normal priority');
    }
  }
}
