/**
 * bench.ts — `npm run bench`: throughput of the project's fixed benchmark workload.
 *
 * Workload (keep it fixed; every issue's figures refer to it): Fashion-MNIST, MLP
 * 784-256-128-10, tanh hidden, softmax cross-entropy averaged over the batch, SGD lr 0.05,
 * batch 128, float32, Glorot-uniform init, 3 epochs. Reports per executor mix: samples/s
 * (median epoch, wall clock from its first step's start to its last step's record), test accuracy after the run, the 2/1
 * scaling ratio, and the per-step time split (compute = gather wall time, of which
 * hand-off = queueing and messages; reduce; update).
 * Flags: --epochs N, --steps N (cap, for a quick look), --threads LIST (default "0,1,2":
 * 0 = the main thread alone), --kernels auto|native|wasm|ref, --batch N, --micro-batch N.
 * Timings are printed, never asserted: this is where speed lives.
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import type { StepRecord } from '../src/observe/schema';
import { train } from '../src/train/loop';
import { epochRates, findData, median, recorder, workloadConfig } from './bench-common';
import { kernelInfo } from '../src/tensor/select';




async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      epochs: { type: 'string', default: '3' },
      steps: { type: 'string' },
      threads: { type: 'string', default: '0,1,2' },
      kernels: { type: 'string', default: 'auto' },
      batch: { type: 'string', default: '128' },
      'micro-batch': { type: 'string', default: '64' },
    },
  });
  const dir = findData();
  if (!dir) {
    process.stderr.write('bench: Fashion-MNIST not found.\nhint: apt-get install dataset-fashion-mnist (dpkg -L dataset-fashion-mnist shows where), or set GRADSYNC_DATA_DIR to a folder holding the four IDX files\n');
    process.exit(1);
  }
  const batch = Number(values.batch);
  const k = kernelInfo();
  process.stdout.write(`gradsync bench — Fashion-MNIST (${dir}), MLP 784-256-128-10 tanh/softmax-CE mean, SGD 0.05, batch ${batch}, micro-batch ${values['micro-batch']}, float32\n`);
  process.stdout.write(`machine: ${os.cpus()[0]?.model ?? '?'} × ${os.availableParallelism()}, node ${process.version}; kernels: ${values.kernels} (available ${k.available.join(', ')})\n\n`);
  const rows: { name: string; threads: number; sps: number; acc: number | null; split: Record<string, number>; kernel: string; sha: string }[] = [];
  for (const t of values.threads!.split(',').map(Number)) {
    const cfg = workloadConfig(dir, {
      batch, microBatch: Number(values['micro-batch']), threads: t, epochs: Number(values.epochs), ...(values.steps ? { steps: Number(values.steps) } : {}),
    });
    // train() logs to its run folder, as a real run does; the records come through onStep
    const { onStep, steps, arrived } = recorder('bench');
    const runDir = fs.mkdtempSync(`${os.tmpdir()}/gradsync-bench-`);
    const s = await train(cfg, { onStep, runDir, kernels: values.kernels as 'auto' });
    fs.rmSync(runDir, { recursive: true, force: true });
    const sps = median(epochRates(steps, arrived));
    const avg = (f: (r: StepRecord) => number): number => steps.reduce((a, r) => a + f(r), 0) / steps.length;
    const split = {
      stepMs: avg((r) => r.stepMs), computeMs: avg((r) => r.split?.computeMs ?? 0), handoffMs: avg((r) => r.split?.handoffMs ?? 0),
      reduceMs: avg((r) => r.split?.reduceMs ?? 0), updateMs: avg((r) => r.split?.updateMs ?? 0),
    };
    const name = t === 0 ? 'main thread alone' : `pool, ${t} thread${t > 1 ? 's' : ''}`;
    rows.push({ name, threads: t, sps, acc: s.accuracy, split, kernel: s.kernel, sha: s.paramsSha256 });
    process.stdout.write(`${name.padEnd(20)} ${Math.round(sps).toString().padStart(8)} samples/s  test acc ${s.accuracy === null ? '-' : s.accuracy.toFixed(4)}  `
      + `step ${split.stepMs.toFixed(2)} ms = compute ${split.computeMs.toFixed(2)} (hand-off ${split.handoffMs.toFixed(3)}) + reduce ${split.reduceMs.toFixed(3)} + update ${split.updateMs.toFixed(3)}  [${s.kernel}, ${s.steps} steps, sha ${s.paramsSha256.slice(0, 12)}]\n`);
  }
  const one = rows.find((r) => r.threads === 0) ?? rows.find((r) => r.threads === 1);
  const two = rows.find((r) => r.threads === 2);
  if (one && two) process.stdout.write(`\n2 threads / 1 thread (${one.name}): ${(two.sps / one.sps).toFixed(2)}×\n`);
  const shas = new Set(rows.map((r) => r.sha));
  process.stdout.write(`final weights identical across mixes: ${shas.size === 1 ? 'yes' : 'NO'}\n`);
  process.stdout.write('encode: none for the pool (buffers are shared or transferred, not serialised)\n');
}

main().catch((e: unknown) => { process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`); process.exit(1); });
