/**
 * pool-task.ts — the piscina entry: decode the task → computePartials → transfer back.
 * No logic of its own: compute-partials.ts does the work, pool-protocol.ts the layout.
 * The model and its workspace are built once per run (runKey) and kept by the thread.
 */

import { move, transferableSymbol, valueSymbol } from 'piscina';
import { PartialComputer } from '../src/parallel/compute-partials';
import { resultBytes, writePartial, type PoolResult, type PoolTask } from '../src/parallel/pool-protocol';
import { selectKernels } from '../src/tensor/select';

let cached: { key: string; computer: PartialComputer; kernel: string } | null = null;

function injectFault(t: PoolTask): void {
  const f = t.fault;
  if (!f || f.executor !== t.executor || f.step !== t.step) return;
  if (f.mode === 'throw') throw new Error(`injected fault: executor ${t.executor} throws at step ${t.step}`);
  if (f.mode === 'exit') process.exit(1);
  // 'oom': grow the heap until the thread's resourceLimits end it
  const hog: number[][] = [];
  for (;;) hog.push(new Array(1 << 20).fill(Math.random()));
}

export default function poolTask(t: PoolTask): unknown {
  injectFault(t);
  const t0 = performance.now();
  if (cached === null || cached.key !== t.runKey) {
    const { kernels } = selectKernels(t.spec.dtype, t.kernels);
    cached = { key: t.runKey, computer: new PartialComputer(t.spec, kernels, { x: t.x, y: t.y }, t.microBatch), kernel: kernels.id };
  }
  const c = cached.computer;
  const need = resultBytes(t.spec.dtype, t.nodes.length, t.statsSize, t.paramCount);
  const buffer = t.out !== null && t.out.byteLength === need ? t.out : new ArrayBuffer(need);
  const batch = { order: t.order, start: t.start, end: t.end, microBatch: t.microBatch };
  t.nodes.forEach((n, k) => {
    const p = c.computeNode(t.params, batch, n);
    writePartial(buffer, t.spec.dtype, t.nodes.length, k, p);
    c.release(p);
  });
  const result: PoolResult = { buffer, nodes: t.nodes.length, computeMs: performance.now() - t0, kernel: cached.kernel };
  // the result buffer is transferred, not cloned
  return move({ [transferableSymbol]: [buffer], [valueSymbol]: result } as never);
}
