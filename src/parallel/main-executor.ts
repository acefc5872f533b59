/**
 * main-executor.ts — the coordinator's own thread as an executor (and the fallback that
 * recomputes a range whose executor failed). Runs compute-partials.ts synchronously.
 * Not here: threads (pool-executor.ts).
 */

import type { KernelSet } from '../tensor/kernels';
import type { ModelSpec } from '../model/spec';
import { PartialComputer, type ExampleSource } from './compute-partials';
import type { Executor, StepTask } from './executor';
import type { Partial } from './partial';
import type { TreeNode } from './tree';

export class MainExecutor implements Executor {
  readonly id = 'main';
  readonly kind = 'main' as const;
  private readonly computer: PartialComputer;

  /** `slots`: shared-memory partials to compute into first (a pool's main slots, for a shared tail). */
  constructor(spec: ModelSpec, kernels: KernelSet, data: ExampleSource, microBatch: number, slots?: Partial[]) {
    this.computer = new PartialComputer(spec, kernels, data, microBatch, slots, false);
  }

  /** Whether `p` is one of this thread's own partials (in its cache, not another thread's slot). */
  owns(p: Partial): boolean {
    return this.computer.owns(p);
  }

  /** Synchronous form, for callers that do not need a promise. */
  computeSync(task: StepTask, nodes: TreeNode[]): Partial[] {
    // a loop, not map(): every executor's result array has one shape (train/step.ts run())
    const out: Partial[] = [];
    for (let i = 0; i < nodes.length; i++) out.push(this.computer.computeNode(task.params, task.batch, nodes[i]!));
    return out;
  }

  /**
   * Set by the step when remote nodes take part: compute() then lets the event loop run before
   * each leaf, so the weights reach the nodes and their partials come in while this thread
   * computes its own share (a blocked loop would hold a node's 1 MB step frame until the end).
   */
  yielding = false;

  /**
   * The last compute()'s own time (ms): the synchronous computation, without the wait for the
   * other executors that follows it before the step reads the result (when yielding, its
   * wall time). The planner's measure of this thread's speed.
   */
  lastThreadMs?: number;

  compute(task: StepTask, nodes: TreeNode[]): Promise<Partial[]> {
    if (this.yielding) return this.computeYielding(task, nodes);
    try {
      const s = performance.now();
      const out = this.computeSync(task, nodes);
      this.lastThreadMs = performance.now() - s;
      return Promise.resolve(out);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private async computeYielding(task: StepTask, nodes: TreeNode[]): Promise<Partial[]> {
    const out: Partial[] = [];
    const s = performance.now();
    for (const n of nodes) out.push(await this.computer.computeNodeYielding(task.params, task.batch, n, pause));
    // the event loop's turns count: they serve the remote nodes' frames, work this thread
    // must do in the step (without it the plan gives this thread too many leaves)
    this.lastThreadMs = performance.now() - s;
    return out;
  }

  recycle(partials: Partial[]): void {
    for (let i = 0; i < partials.length; i++) this.computer.release(partials[i]!);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

const pause = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
