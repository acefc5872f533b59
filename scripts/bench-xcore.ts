/**
 * bench-xcore.ts — what moving one parameter vector between two cores costs here, the price a
 * 2-thread step pays on top of its arithmetic (npm run bench runs it last).
 *
 * Two threads pinned to two CPUs (parallel/affinity.ts; they float when pinning is not
 * available) share a float32 vector the size of the benchmark model (235,146 values, 0.94 MB),
 * and time, with the active kernels, median of ROUNDS:
 *   - the SGD update (kernels.sgdUpdate) of weights the other core has just read (as the main
 *     thread's update after a pool thread's compute), and the same update again, lines local;
 *   - the same update of weights the other core has just read with kernels.sgdUpdateShared
 *     (non-temporal stores: what the trainer runs when pool threads read its weights);
 *   - a read pass (kernels.firstNonFinite) over a vector the other core has just written (as
 *     reading a pool thread's partial), and the same pass again, lines local.
 * A 2-thread step pays the first kind two or three times (weights read by the pool thread and
 * rewritten by the update, its partial read by the main thread), a 1-thread step never.
 * Flags: --rounds N (default 200).
 */

import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { allowedCpus, pinThisThread } from '../src/parallel/affinity';
import { selectKernels } from '../src/tensor/select';
import { benchArgs, median } from './bench-common';

const N = 235_146;
const USAGE = 'usage: node dist/scripts/bench-xcore.js [--rounds 200]';

interface Shared {
  sync: Int32Array;
  p: Float32Array;
  g: Float32Array;
  u: Float32Array;
  cpu: number | null;
}

/** The other core: waits for a request in sync[0] (1: read p, 2: write p), does it, answers in sync[1]. */
function helper(d: Shared): void {
  if (d.cpu !== null) pinThisThread([d.cpu]);
  const k = selectKernels('float32', 'auto').kernels;
  for (let seq = 1; ; seq++) {
    Atomics.wait(d.sync, 2, seq - 1);
    const op = Atomics.load(d.sync, 0);
    if (op === 0) return;
    if (op === 1) k.firstNonFinite(N, d.p);
    else k.sgdUpdate(N, 1e-9, d.g, d.p, d.u);
    Atomics.store(d.sync, 1, seq);
    Atomics.notify(d.sync, 1);
  }
}

async function main(): Promise<void> {
  const values = benchArgs('bench-xcore', USAGE, { rounds: { type: 'string', default: '200' } });
  const rounds = Number(values.rounds);
  const cpus = allowedCpus();
  const pinned = cpus !== null && cpus.length >= 2;
  const before = cpus;
  if (pinned) pinThisThread([cpus[0]!]);
  const vec = (): Float32Array => new Float32Array(new SharedArrayBuffer(N * 4)).fill(0.5);
  const d: Shared = { sync: new Int32Array(new SharedArrayBuffer(12)), p: vec(), g: vec(), u: vec(), cpu: pinned ? cpus[1]! : null };
  const w = new Worker(__filename, { workerData: d });
  const k = selectKernels('float32', 'auto').kernels;
  let seq = 0;
  // asks the other core to read (1) or write (2) p, and waits for it (spinning: no wake-up in the timing)
  const other = (op: number): void => {
    Atomics.store(d.sync, 0, op);
    Atomics.store(d.sync, 2, ++seq);
    Atomics.notify(d.sync, 2);
    while (Atomics.load(d.sync, 1) !== seq) {
      /* spin */
    }
  };
  const time = (f: () => void): number => {
    const t = performance.now();
    f();
    return performance.now() - t;
  };
  const upd = (): void => k.sgdUpdate(N, 1e-9, d.g, d.p, d.u);
  const updShared = (): void => k.sgdUpdateShared(N, 1e-9, d.g, d.p, d.u);
  const read = (): void => {
    k.firstNonFinite(N, d.p);
  };
  const remoteUpd: number[] = [];
  const remoteShared: number[] = [];
  const localUpd: number[] = [];
  const remoteRead: number[] = [];
  const localRead: number[] = [];
  for (let r = 0; r < rounds; r++) {
    other(1);
    remoteUpd.push(time(upd));
    localUpd.push(time(upd));
    other(1);
    remoteShared.push(time(updShared));
    other(2);
    remoteRead.push(time(read));
    localRead.push(time(read));
  }
  Atomics.store(d.sync, 0, 0);
  Atomics.store(d.sync, 2, ++seq);
  Atomics.notify(d.sync, 2);
  await new Promise((r) => w.once('exit', r));
  if (pinned) pinThisThread(before!);
  const f = (xs: number[]): string => `${median(xs).toFixed(3)} ms`;
  process.stdout.write(
    `cross-core cost of one parameter vector (${N} float32, ${((N * 4) / 1e6).toFixed(2)} MB; ${k.id}; ${pinned ? `threads pinned to CPUs ${cpus[0]} and ${cpus[1]}` : 'threads not pinned'}; median of ${rounds}):\n` +
      `  update of weights the other core has just read: ${f(remoteUpd)}   (lines local: ${f(localUpd)}; streamed stores, sgdUpdateShared: ${f(remoteShared)})\n` +
      `  read of a vector the other core has just written: ${f(remoteRead)}   (lines local: ${f(localRead)})\n`,
  );
}

if (isMainThread)
  main().catch((e: unknown) => {
    process.stderr.write(`bench-xcore: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
else helper(workerData as Shared);
