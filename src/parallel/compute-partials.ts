/**
 * compute-partials.ts — the one function every executor runs: the partial of a tree node.
 *
 * A step's batch is positions [start, end) of the epoch order; leaf j is the micro-batch of
 * positions start + j·mb … min(start + (j+1)·mb, end). A node's partial is computed leaf by
 * leaf and combined in the tree's order (tree.ts), so it is the same bits on the main
 * thread, a pool thread or a remote machine. Buffers come from a small free list: one per
 * tree level at most, allocated once.
 * Not here: who computes which nodes (planner.ts), the transport (pool/remote executors).
 */

import type { Float } from '../tensor/dtype';
import type { KernelSet } from '../tensor/kernels';
import { Model } from '../model/model';
import type { ModelSpec } from '../model/spec';
import { addPartial, addScalars, newPartial, type Partial } from './partial';
import { combineNode, treeOf, type TreeNode } from './tree';

/** The examples, in the model's dtype: x (n, inputs), y (n, outputs). */
export interface ExampleSource {
  x: Float;
  y: Float;
}

/** What a step's batch is. */
export interface BatchRef {
  /** The step the batch belongs to: dropout's masks are drawn for (seed, step, example, layer). */
  step: number;
  /** The epoch's example order. */
  order: Uint32Array;
  /** Positions [start, end) of the order. */
  start: number;
  end: number;
  microBatch: number;
}

export function leavesOf(b: BatchRef): number {
  return Math.ceil((b.end - b.start) / b.microBatch);
}

export class PartialComputer {
  readonly model: Model;
  private readonly data: ExampleSource;
  private readonly free: Partial[] = [];

  /**
   * `slots`: the partials to work in before allocating any (shared-memory slots another
   * thread reads without a copy: a pool thread's own, or the main thread's for a shared
   * tail); with `fixed`, acquire() throws when all are in use instead of allocating.
   */
  constructor(
    spec: ModelSpec,
    kernels: KernelSet,
    data: ExampleSource,
    microBatch: number,
    slots?: Partial[],
    fixed = slots !== undefined,
  ) {
    this.model = new Model(spec, kernels, microBatch);
    this.data = data;
    if (slots !== undefined) this.free.push(...[...slots].reverse());
    this.fixed = fixed;
  }

  private readonly fixed: boolean;
  /** The gradient buffers of every partial this computer has handed out. */
  private readonly mine = new WeakSet<Float>();

  /** Whether `p` is one of this computer's partials. */
  owns(p: Partial): boolean {
    return this.mine.has(p.grads);
  }

  /** A zeroed partial from the free list (or new); give it back with release(). */
  acquire(): Partial {
    if (this.fixed && this.free.length === 0) throw new RangeError('compute-partials: every partial slot is in use');
    const p = this.free.pop() ?? newPartial(this.model.spec.dtype, this.model.layout.size, this.model.statsLayout.size);
    this.mine.add(p.grads);
    p.stats.fill(0);
    p.lossSum = 0;
    p.count = 0;
    p.bad = -1;
    return p;
  }

  release(p: Partial): void {
    this.free.push(p);
  }

  /**
   * Computes node `n` of the batch's tree into a fresh partial (caller releases it). `scan`
   * false: p.bad is left at −1 for the caller to set (a pool thread finds it as it publishes
   * the partial, kernels.copyShared).
   */
  computeNode(params: Float, batch: BatchRef, n: TreeNode, scan = true): Partial {
    const tree = treeOf(leavesOf(batch));
    if (!tree.exists(n)) throw new RangeError(`node ${n.h}:${n.i} is not in a tree of ${tree.leaves} leaves`);
    const k = this.model.kernels;
    // a leaf alone: checked as its GEMMs store it (kernels.gemmTNCheck), no scan after
    if (n.h === 0 && scan) {
      const p = this.leaf(params, batch, n.i, 'local');
      p.bad = this.model.lastBad;
      return p;
    }
    // leaves are computed as the walk reaches them; a right operand's buffer is reused at once.
    // A sum of finite leaves can overflow: the node is scanned whole, by the add that makes it
    // (the walk's last, kernels.addIntoCheck), or after the walk for a node of one leaf
    let bad = -1;
    let added = false;
    const p = combineNode(
      tree,
      n,
      (m) => (m.h === 0 ? this.leaf(params, batch, m.i) : undefined),
      (into, from) => {
        if (scan) {
          bad = k.addIntoCheck(into.grads.length, into.grads, from.grads);
          addScalars(into, from);
          added = true;
        } else addPartial(into, from, k);
        this.release(from);
      },
    );
    if (scan) p.bad = added ? bad : k.firstNonFinite(p.grads.length, p.grads);
    return p;
  }

  /**
   * computeNode with `pause()` awaited before each leaf, so that the caller's event loop runs
   * in between (sockets to remote nodes keep flowing while the main thread computes). The
   * leaves are computed first, in order, then combined by the same walk: the same bits, at
   * the cost of holding the node's leaves at once.
   */
  async computeNodeYielding(params: Float, batch: BatchRef, n: TreeNode, pause: () => Promise<void>): Promise<Partial> {
    const tree = treeOf(leavesOf(batch));
    if (!tree.exists(n)) throw new RangeError(`node ${n.h}:${n.i} is not in a tree of ${tree.leaves} leaves`);
    const [lo, hi] = tree.range(n);
    const leaves = new Map<number, Partial>();
    for (let j = lo; j < hi; j++) {
      await pause();
      leaves.set(j, this.leaf(params, batch, j));
    }
    const k = this.model.kernels;
    const p = combineNode(
      tree,
      n,
      (m) => (m.h === 0 ? leaves.get(m.i) : undefined),
      (into, from) => {
        addPartial(into, from, k);
        this.release(from);
      },
    );
    p.bad = k.firstNonFinite(p.grads.length, p.grads);
    return p;
  }

  /**
   * Leaf node `n` (h = 0) computed straight into `into`, memory another thread reads next (a
   * pool thread's shared slot), through kernels.gemmTNCheck (shared): the same bits as computeNode,
   * with into.bad set, and no copy of the gradients after. `into` is not this computer's.
   */
  computeLeafShared(params: Float, batch: BatchRef, n: TreeNode, into: Partial): void {
    const tree = treeOf(leavesOf(batch));
    if (n.h !== 0 || !tree.exists(n)) throw new RangeError(`node ${n.h}:${n.i} is not a leaf of a tree of ${tree.leaves} leaves`);
    into.stats.fill(0);
    this.leaf(params, batch, n.i, 'shared', into);
    into.bad = this.model.lastBad;
  }

  /** Leaf j into a fresh partial, or into `into`; `check`: Model.backward's (model.lastBad set). */
  private leaf(params: Float, batch: BatchRef, j: number, check?: 'local' | 'shared', into?: Partial): Partial {
    const m = this.model;
    const from = batch.start + j * batch.microBatch;
    const to = Math.min(from + batch.microBatch, batch.end);
    const rows = to - from;
    const nIn = m.spec.inputs;
    const nOut = m.outputs;
    const k = m.kernels;
    k.gatherRows(rows, batch.order, from, nIn, this.data.x, m.input());
    k.gatherRows(rows, batch.order, from, nOut, this.data.y, m.target());
    const p = into ?? this.acquire();
    m.forward(params, rows, { train: { step: batch.step, order: batch.order, from } });
    p.lossSum = m.backward(params, rows, p.grads, p.stats, check);
    p.count = rows;
    return p;
  }
}
