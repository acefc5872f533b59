/**
 * pool-task.ts — the piscina entry: one serve loop per thread for the whole run.
 * Waits on the control block (Atomics.wait), computes the posted tree nodes into its shared
 * partial slots with compute-partials.ts (a leaf straight into its slot, a larger node by a
 * copy) — or takes units of the step's tail (parallel/tail.ts) — and signals DONE. No logic
 * of its own beyond that; pool-protocol.ts describes the block. serveWith is the same loop
 * with test hooks (parallel/hooks.ts), for the fixture task modules of test/fixtures/.
 */

import { PartialComputer, type BatchRef } from '../src/parallel/compute-partials';
import type { TreeNode } from '../src/parallel/tree';
import {
  C,
  claim,
  pollUntil,
  publishScalars,
  slotPartial,
  T,
  TASK_TAIL,
  writeError,
  type ServeResult,
  type ServeTask,
  type SlotPartial,
} from '../src/parallel/pool-protocol';
import { runTailShare, UnitViews } from '../src/parallel/tail';
import { pinThisThread } from '../src/parallel/affinity';
import { NO_SERVE_HOOKS, type ServeHooks } from '../src/parallel/hooks';
import { view, type Float } from '../src/tensor/dtype';
import type { Partial } from '../src/parallel/partial';
import type { KernelSet } from '../src/tensor/kernels';
import type { OptimizerState, StepScalars } from '../src/optim/optimizer';
import { selectKernels } from '../src/tensor/select';

/**
 * Moves a partial computed in this thread's own memory (a node of more than one leaf: its
 * leaves are summed there) into a free shared slot, and gives the private buffer back to the
 * computer. Why not compute straight into the slot with plain stores: the main thread read
 * the slot's lines in the previous step, and a plain store to a line another core holds must
 * first take it back (scripts/bench-xcore.ts measures what that costs); copyShared's
 * non-temporal stores need not.
 */
function publish(k: KernelSet, computer: PartialComputer, p: Partial, free: SlotPartial[]): SlotPartial {
  const s = free.pop();
  if (s === undefined) throw new Error('pool thread: every partial slot is in use');
  // the partial's check (its first non-finite gradient) in the same pass as the copy
  s.bad = k.copyShared(p.grads.length, p.grads, s.grads);
  s.stats.set(p.stats);
  s.lossSum = p.lossSum;
  s.count = p.count;
  computer.release(p);
  publishScalars(s);
  return s;
}

/**
 * A leaf computed straight into a free shared slot (computer.computeLeafShared): its dJdW
 * leave the GEMMs by non-temporal stores (kernels.gemmTNCheck), checked as they are stored,
 * so the leaf needs neither a private buffer nor publish()'s copy, a read and a streamed write
 * of the whole partial. A node of more leaves sums them first, in this thread's own memory,
 * and is published.
 */
function computeInSlot(computer: PartialComputer, params: Float, batch: BatchRef, node: TreeNode, free: SlotPartial[]): SlotPartial {
  const s = free.pop();
  if (s === undefined) throw new Error('pool thread: every partial slot is in use');
  computer.computeLeafShared(params, batch, node, s);
  publishScalars(s);
  return s;
}

/** What a tail task works on, made once per serve loop (views of the shared buffers). */
interface TailContext {
  mainSlots: SlotPartial[];
  old: Float;
  views: UnitViews;
  state: OptimizerState;
  oldState: Float[];
  u: Float;
  sc: StepScalars;
}

function tailContext(t: ServeTask): TailContext {
  const tb = t.tail;
  if (tb === null) throw new Error('a tail task, but this serve loop has no tail buffers');
  const vec = (b: SharedArrayBuffer): Float => view(t.spec.dtype, b, 0, t.paramCount);
  return {
    mainSlots: tb.mainSlots.map((b) => slotPartial(b, t.spec.dtype, t.statsSize, t.paramCount)),
    old: vec(tb.old),
    views: new UnitViews(tb.units),
    // the buffers only: the thread never reads the state's scalars (the step's come in f64)
    state: { kind: tb.optimizer.kind, t: 0, beta1Pow: 1, beta2Pow: 1, buffers: tb.state.map(vec) },
    oldState: tb.oldState.map(vec),
    u: vec(tb.u),
    sc: { lr: 0, first: false, b1p: 1, b2p: 1, c1: 1, c2: 1 },
  };
}

/** The tail task: units of the step's tail, as long as any is left (pool-protocol.ts TailBuffers). */
function tailTask(
  t: ServeTask,
  k: KernelSet,
  ctl: Int32Array,
  slots: SlotPartial[],
  c: TailContext,
  inTail: (() => void) | undefined,
): void {
  const tb = t.tail!;
  const operand = (code: number): Float => {
    const set = code >> 16;
    const i = code & 0xffff;
    const p = set === 0 ? slots[i] : c.mainSlots[i];
    if (p === undefined) throw new Error(`tail operand ${set}:${i} is not a slot`);
    return p.grads;
  };
  c.sc.first = tb.f64[3] === 1;
  c.sc.lr = tb.f64[2]!;
  c.sc.c1 = tb.f64[4]!;
  c.sc.c2 = tb.f64[5]!;
  runTailShare(
    k,
    c.views,
    {
      a: operand(ctl[C.A]!),
      b: operand(ctl[C.B]!),
      params: t.params,
      old: c.old,
      divisor: tb.f64[0]!,
      lambda: tb.f64[1]!,
      lr: tb.f64[2]!,
      sums: tb.sums,
      sync: tb.sync,
      optimizer: tb.optimizer,
      state: c.state,
      oldState: c.oldState,
      u: c.u,
      sc: c.sc,
      // this thread's own slot, where SGD's fused pass leaves the old weights (else b: units are disjoint either way)
      mine: ctl[C.A]! >> 16 === 0 ? 'a' : 'b',
    },
    inTail,
  );
}

export default function serve(t: ServeTask): ServeResult {
  return serveWith(t, NO_SERVE_HOOKS);
}

/** The serve loop, calling `hooks` at its points (parallel/hooks.ts ServeHooks). */
export function serveWith(t: ServeTask, hooks: ServeHooks): ServeResult {
  const { beforeClaim, beforeCompute, inTail } = hooks;
  if (t.cpu !== null) t.control[C.PIN] = pinThisThread([t.cpu]) === null ? t.cpu + 1 : -1;
  const { kernels } = selectKernels(t.spec.dtype, t.kernels, t.profile);
  const slots = t.slots.map((b) => slotPartial(b, t.spec.dtype, t.statsSize, t.paramCount));
  const slotOf = new Map<SlotPartial, number>(slots.map((p, i) => [p, i]));
  // a leaf is computed straight into a shared slot (computeInSlot); a node of more leaves in
  // this thread's own memory, then copied into a slot (publish)
  const fresh = (): PartialComputer => new PartialComputer(t.spec, kernels, { x: t.x, y: t.y }, t.microBatch);
  let free = [...slots].reverse();
  let computer = fresh();
  const ctl = t.control;
  // tasks are numbered from 1; the first may be posted before this loop starts
  let seen = 0;
  let lent: SlotPartial[] = [];
  let tasks = 0;
  let tail: TailContext | undefined;
  Atomics.store(ctl, C.READY, 1);
  Atomics.notify(ctl, C.READY);
  for (;;) {
    if (t.spin) {
      pollUntil(() => Atomics.load(ctl, C.SEQ) !== seen);
    }
    Atomics.wait(ctl, C.SEQ, seen);
    const seq = Atomics.load(ctl, C.SEQ);
    if (seq === seen) continue;
    seen = seq;
    if (Atomics.load(ctl, C.STOP) !== 0) return { kernel: kernels.id, tasks };
    if (beforeClaim !== undefined) beforeClaim(ctl[C.KIND]!, ctl[C.STEP]!);
    // claim the task before reading it: one the coordinator withdrew meanwhile is skipped
    if (!claim(ctl, seq)) continue;
    const t0 = performance.now();
    const step = ctl[C.STEP]!;
    if (ctl[C.KIND] === TASK_TAIL) {
      // the step's partials are still in use: its tail adds them
      try {
        tailTask(t, kernels, ctl, slots, (tail ??= tailContext(t)), inTail !== undefined ? () => inTail(step) : undefined);
        ctl[C.STATUS] = 0;
      } catch (e) {
        // the units it took and did not finish: the main thread sees FAILED (after the message) and puts their weights back
        writeError(ctl, t.error, (e as Error).message ?? String(e));
        ctl[C.STATUS] = 1;
        Atomics.store(t.tail!.sync, T.FAILED, 1);
        Atomics.notify(t.tail!.sync, T.DONE);
      }
    } else {
      // the coordinator is done with the previous step's partials
      free.push(...lent);
      lent = [];
      try {
        if (beforeCompute !== undefined) beforeCompute(step);
        const batch = { step, order: t.order, start: ctl[C.START]!, end: ctl[C.END]!, microBatch: t.microBatch };
        const n = ctl[C.NODES]!;
        for (let k = 0; k < n; k++) {
          const node = { h: ctl[C.NODE_LIST + 2 * k]!, i: ctl[C.NODE_LIST + 2 * k + 1]! };
          const p =
            node.h === 0
              ? computeInSlot(computer, t.params, batch, node, free)
              : publish(kernels, computer, computer.computeNode(t.params, batch, node, false), free);
          lent.push(p);
          ctl[C.RESULT_SLOTS + k] = slotOf.get(p)!;
        }
        ctl[C.STATUS] = 0;
      } catch (e) {
        // slots taken by the failed computation are lost to its free list: start over with all
        lent = [];
        computer = fresh();
        free = [...slots].reverse();
        writeError(ctl, t.error, (e as Error).message ?? String(e));
        ctl[C.STATUS] = 1;
      }
    }
    ctl[C.COMPUTE_US] = Math.round((performance.now() - t0) * 1000);
    tasks++;
    Atomics.store(ctl, C.DONE, seq);
    Atomics.notify(ctl, C.DONE);
  }
}
