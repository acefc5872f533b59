/**
 * bench-cnn.ts — `npm run bench:cnn`: throughput of the CNN workload, config/fashion-cnn.json.
 *
 * Workload (fixed): Fashion-MNIST [1, 28, 28], conv 16 5×5 pad 2 relu, maxpool 2, conv 32 5×5
 * pad 2 relu, maxpool 2, flatten, dense 128 relu, dense 10 softmax, cross-entropy averaged over
 * the batch, SGD lr 0.05 momentum 0.9, batch 128, float32 (17.5 MFLOP per example, forward +
 * backward). Each row is one trainer in a fresh process (bench-row.ts with the model and
 * optimizer of config/fashion-cnn.json set over the MLP workload), `--steps` steps (default 60:
 * an epoch is minutes): samples/s over the whole run (its first, slower steps included, as
 * PyTorch's figure includes its own) and the median step of its second half, per kernel and
 * thread count; the ceiling (two 1-thread native trainers at once, summed) and the 2-thread row's
 * share of it; PyTorch on the same workload and steps on 1 and 2 threads
 * (scripts/bench_torch_cnn.py) and gradsync's ratio to it; then GEMM GFLOP/s on the conv shapes
 * of one example (conv2d.ts runs them per example) beside the dense layer's on a micro-batch. Where the CPU has FMA, the native rows and GEMMs
 * run in both kernel profiles (docs/determinism.md#kernel-profiles): rows "native-fma" beside
 * "native", each profile with its own paramsSha256.
 * Flags: --steps N, --micro-batch N (default 32), --kernels LIST (default "native,wasm"), --no-torch,
 * --no-fma.
 * Timings are printed, never asserted.
 */

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectKernels } from '../src/tensor/select';
import type { KernelChoice } from '../src/tensor/select';
import type { KernelProfile } from '../src/tensor/kernels';
import { nativeIsas } from '../src/tensor/fast/native';
import { benchArgs, findData, machineHeader, median, pyScript, torchPeer } from './bench-common';
import { rowRun, type Row, type RowSpec } from './bench-row';

const USAGE = 'usage: node dist/scripts/bench-cnn.js [--steps 60] [--micro-batch 32] [--kernels native,wasm] [--no-torch] [--no-fma]';

function cnnSets(): string[] {
  const cfg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'config', 'fashion-cnn.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  return [`model=${JSON.stringify(cfg.model)}`, `optimizer=${JSON.stringify(cfg.optimizer)}`];
}

/**
 * The conv GEMMs of one example, as conv2d.ts runs them (z = W·cols, dJdW += delta·colsᵀ,
 * dcols = Wᵀ·delta), and the first dense layer's on a micro-batch of `rows`.
 */
function gemmShapes(rows: number): { name: string; op: 'gemmNN' | 'gemmNT' | 'gemmNTAcc' | 'gemmTN'; m: number; n: number; k: number }[] {
  const p1 = 28 * 28;
  const p2 = 14 * 14;
  return [
    { name: 'conv1 forward', op: 'gemmNN', m: 16, n: p1, k: 25 },
    { name: 'conv1 dJdW', op: 'gemmNTAcc', m: 16, n: 25, k: p1 },
    { name: 'conv2 forward', op: 'gemmNN', m: 32, n: p2, k: 400 },
    { name: 'conv2 dJdW', op: 'gemmNTAcc', m: 32, n: 400, k: p2 },
    { name: 'conv2 dcols', op: 'gemmTN', m: 400, n: p2, k: 32 },
    { name: 'dense1 forward', op: 'gemmNT', m: rows, n: 128, k: 1568 },
    { name: 'dense1 dJdW', op: 'gemmTN', m: 128, n: 1568, k: rows },
  ];
}

function gflops(kernels: KernelChoice, rows: number, profile: KernelProfile): string[] {
  const { kernels: k } = selectKernels('float32', kernels, profile);
  return gemmShapes(rows).map((s) => {
    const A = new Float32Array(s.m * s.k).map((_, i) => ((i * 7919) % 13) / 13 - 0.5);
    const B = new Float32Array(s.k * s.n).map((_, i) => ((i * 104729) % 17) / 17 - 0.5);
    const C = new Float32Array(s.m * s.n);
    k[s.op](s.m, s.n, s.k, A, B, C);
    // calls per timing: enough for about 2 ms (an example's GEMM takes microseconds)
    let reps = 1;
    for (let t0 = performance.now(); performance.now() - t0 < 2; reps++) k[s.op](s.m, s.n, s.k, A, B, C);
    const times: number[] = [];
    for (let r = 0; r < 7; r++) {
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) k[s.op](s.m, s.n, s.k, A, B, C);
      times.push((performance.now() - t0) / reps);
    }
    const ms = median(times);
    return (
      `  ${k.id.padEnd(18)} ${s.name.padEnd(15)} ${s.op}(${s.m}, ${s.n}, ${s.k})`.padEnd(64) +
      `${((2 * s.m * s.n * s.k) / ms / 1e6).toFixed(1)} GFLOP/s`
    );
  });
}

function torchCnn(dir: string, threads: number, steps: number): { sps: number; version: string } | string {
  const t = torchPeer();
  if (typeof t === 'string') return t;
  const r = spawnSync(t.py, [pyScript('bench_torch_cnn.py'), dir, '--threads', String(threads), '--steps', String(steps)], {
    encoding: 'utf8',
    env: { ...t.env, PYTHONPATH: path.dirname(pyScript('bench_torch_cnn.py')) },
  });
  if (r.status !== 0) return `bench_torch_cnn.py failed: ${(r.stderr || '').trim().split('\n').pop()}`;
  const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as { epochs: number[]; torch: string };
  return { sps: o.epochs[0]!, version: o.torch };
}

async function main(): Promise<void> {
  const v = benchArgs('bench-cnn', USAGE, {
    steps: { type: 'string', default: '60' },
    'micro-batch': { type: 'string', default: '32' },
    kernels: { type: 'string', default: 'native,wasm' },
    'no-torch': { type: 'boolean', default: false },
    'no-fma': { type: 'boolean', default: false },
  });
  const dir = findData();
  if (!dir) throw new Error('Fashion-MNIST not found (apt-get install dataset-fashion-mnist, or GRADSYNC_DATA_DIR)');
  const steps = Number(v.steps);
  const microBatch = Number(v['micro-batch']);
  const sets = [...cnnSets(), `microBatch=${microBatch}`];
  process.stdout.write(`${machineHeader(v['no-torch'] ? undefined : torchPeer())}\n`);
  process.stdout.write(
    `gradsync bench:cnn — Fashion-MNIST (${dir}), config/fashion-cnn.json: conv16-pool-conv32-pool-128-10, SGD 0.05 momentum 0.9, batch 128, micro-batch ${microBatch}, float32, ${steps} steps\n`,
  );
  const spec = (kernels: string, threads: number): RowSpec => ({ kernels, threads, batch: 128, microBatch, epochs: 1, steps, sets });
  const rows: Row[] = [];
  const withFma = !v['no-fma'] && nativeIsas('fma').length > 0;
  const kinds = v.kernels!.split(',').flatMap((k) => (k === 'native' && withFma ? ['native', 'native-fma'] : [k]));
  for (const kernels of kinds) {
    for (const threads of [1, 2]) {
      const r = await rowRun(spec(kernels, threads));
      rows.push(r);
      process.stdout.write(
        `  ${r.kernel.padEnd(18)} ${r.name.padEnd(26)} ${Math.round(r.sps)} samples/s   median step ${r.medianStepMs.toFixed(1)} ms   sha ${r.sha.slice(0, 12)}\n`,
      );
    }
  }
  const one = rows.find((r) => r.kernels === 'native' && r.threads === 1);
  const two = rows.find((r) => r.kernels === 'native' && r.threads === 2);
  if (one && two) {
    const pair = (await Promise.all([0, 1].map(() => rowRun(spec('native', 1))))).map((r) => r.sps);
    const ceiling = pair[0]! + pair[1]!;
    process.stdout.write(
      `  ceiling: two 1-thread native trainers at once ${Math.round(pair[0]!)} + ${Math.round(pair[1]!)} = ${Math.round(ceiling)} samples/s; 2 threads reach ${(two.sps / ceiling).toFixed(2)} of it\n`,
    );
  }
  if (!v['no-torch']) {
    for (const threads of [1, 2]) {
      const t = torchCnn(dir, threads, steps);
      if (typeof t === 'string') {
        process.stdout.write(`  PyTorch: not measured (${t})\n`);
        break;
      }
      const ratios = ['native', 'native-fma'].flatMap((kind) => {
        const mine = rows.find((r) => r.kernels === kind && r.threads === threads);
        return mine ? [`gradsync ${kind} ${threads} thread${threads > 1 ? 's' : ''}: ${(mine.sps / t.sps).toFixed(2)}×`] : [];
      });
      process.stdout.write(
        `  PyTorch ${t.version} ${threads} thread${threads > 1 ? 's' : ' '}       ${Math.round(t.sps)} samples/s${ratios.length > 0 ? `   ${ratios.join('   ')}` : ''}\n`,
      );
    }
  }
  process.stdout.write(`GEMM GFLOP/s: the conv layers' on one example, the dense layer's on one micro-batch (${microBatch} examples):\n`);
  for (const kind of kinds) {
    const profile: KernelProfile = kind === 'native-fma' ? 'fma' : 'portable';
    const choice = (kind === 'native-fma' ? 'native' : kind) as KernelChoice;
    process.stdout.write(`${gflops(choice, microBatch, profile).join('\n')}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench-cnn: ${(e as Error).message}\n`);
  process.exit(1);
});
