/**
 * bench-kernels.ts — speed of every kernel implementation on the benchmark workload's shapes.
 *
 * Prints (1) GEMM GFLOP/s per KernelSet (native builds, WebAssembly SIMD, reference) for the float32 shapes of one training step of
 * MLP 784-256-128-10 (the calls Model makes) at 16, 64 and 128 rows per call (the micro-batch),
 * with a line per row count for all eight calls together (total flops / total time), and (2) full-step samples/s per KernelSet on one thread
 * (Model forward + backward + SGD lr 0.05 on the batch mean, random data of Fashion-MNIST's
 * shape), side by side with PyTorch on one thread (scripts/bench_torch.py, run with
 * OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset) when a python3 with torch is found, with the BLAS it
 * ran on; no ratio when that is the reference BLAS or cannot be named (scripts/bench-blas.ts).
 * The run starts with the machine header (CPU, Node, kernel ISA); each table's columns or rows are kernel ISAs,
 * the portable profile's builds and then the fma profile's (suffix -fma). After the GEMM table, the limits
 * of this machine for a GEMM's inner loop: scripts/microkernel-limit.cc built here with g++ (CXX) and run,
 * a register tile of C over panels in L1, once with mul then add per term and once with one FMA, on
 * 256-bit and (with AVX-512) 512-bit vectors; skipped, saying why, without g++ or without AVX2 and FMA.
 * Usage: node dist/scripts/bench-kernels.js [seconds per measurement, default 1.5]
 * Timings are printed, never asserted.
 */

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../src/package-root';
import { alloc, type Float } from '../src/tensor/dtype';
import { referenceKernels } from '../src/tensor/reference-kernels';
import type { KernelSet } from '../src/tensor/kernels';
import { Rng } from '../src/tensor/rng';
import { nativeIsas, nativeKernels } from '../src/tensor/fast/native';
import { wasmKernels } from '../src/tensor/fast/wasm';
import { wasmLoadError } from '../src/tensor/fast/wasm-module';
import { Model } from '../src/model/model';
import type { ModelSpec } from '../src/model/spec';
import { blasLine, machineHeader, pyScript, rate, torchPeer, WORKLOAD_LAYERS } from './bench-common';
import { judgeBlas, type BlasVerdict, type TorchBlasProbe } from './bench-blas';

const SECONDS = Number(process.argv[2] ?? 1.5);
const BATCH = 128;
const LR = 0.05;

const GEMM_ROWS = [16, 64, 128];
type GemmName = keyof Pick<KernelSet, 'gemmNT' | 'gemmTN' | 'gemmNN'>;

/** The GEMMs of one Model step on r rows: forward gemmNT(r, nOut, nIn), backward gemmTN(nOut, nIn, r), gemmNN(r, nIn, nOut). */
function stepShapes(r: number): [GemmName, number, number, number][] {
  return [
    ['gemmNT', r, 256, 784],
    ['gemmNT', r, 128, 256],
    ['gemmNT', r, 10, 128],
    ['gemmTN', 256, 784, r],
    ['gemmTN', 128, 256, r],
    ['gemmTN', 10, 128, r],
    ['gemmNN', r, 256, 128],
    ['gemmNN', r, 128, 10],
  ];
}

/**
 * Every implementation that runs here: the native builds, WebAssembly SIMD, the reference (the
 * portable profile), then the native FMA builds (the fma profile; its emulated reference is too
 * slow to time).
 */
function kernelSets(): KernelSet[] {
  return [
    ...nativeIsas().map((isa) => nativeKernels(isa, 'float32')),
    ...(wasmLoadError() === null ? [wasmKernels('float32')] : []),
    referenceKernels('float32'),
    ...nativeIsas('fma').map((isa) => nativeKernels(isa, 'float32')),
  ];
}

function randomFill(a: Float, rng: Rng, lo: number, hi: number): void {
  for (let i = 0; i < a.length; i++) a[i] = rng.uniform(lo, hi);
}

function gemmTable(sets: KernelSet[]): void {
  const rng = new Rng(1);
  const rows: string[][] = [];
  const gemmSeconds = SECONDS / 3;
  for (const r of GEMM_ROWS) {
    const total = sets.map(() => ({ flops: 0, seconds: 0 }));
    for (const [g, m, n, k] of stepShapes(r)) {
      const A = alloc('float32', m * k);
      const B = alloc('float32', n * k);
      const C = alloc('float32', m * n);
      randomFill(A, rng, -1, 1);
      randomFill(B, rng, -1, 1);
      const row = [`${g} (${m}, ${n}, ${k})`];
      sets.forEach((ks, s) => {
        const perS = rate(() => ks[g](m, n, k, A, B, C), ks.id === 'ref-ts' ? Math.min(gemmSeconds, 0.2) : gemmSeconds);
        total[s]!.flops += 2 * m * n * k;
        total[s]!.seconds += 1 / perS;
        row.push(((2 * m * n * k * perS) / 1e9).toFixed(1));
      });
      rows.push(row);
    }
    rows.push([`all 8 above, ${r} rows`, ...total.map((t) => (t.flops / t.seconds / 1e9).toFixed(1))]);
    if (r !== GEMM_ROWS[GEMM_ROWS.length - 1]) rows.push(sets.map(() => '').concat(['']));
  }
  printTable(['GEMM float32, GFLOP/s', ...sets.map((s) => s.id)], rows);
}

/** Samples/s of forward + backward + SGD on one thread. */
function stepRate(ks: KernelSet): number {
  const spec: ModelSpec = {
    inputs: 784,
    layers: WORKLOAD_LAYERS,
    loss: 'cross-entropy',
    dtype: 'float32',
  };
  const mlp = new Model(spec, ks, BATCH);
  const rng = new Rng(2);
  const params = alloc('float32', mlp.layout.size);
  randomFill(params, rng, -0.05, 0.05);
  const grads = alloc('float32', mlp.layout.size);
  const data = alloc('float32', 16 * BATCH * 784); // 16 random batches, cycled
  for (let i = 0; i < data.length; i++) data[i] = rng.nextFloat();
  const labels = Array.from({ length: 16 * BATCH }, () => rng.nextInt(10));
  const x = mlp.input();
  const y = mlp.target();
  const scale = Math.fround(LR / BATCH); // mean over the batch
  let b = 0;
  const step = (): void => {
    x.set(data.subarray(b * BATCH * 784, (b + 1) * BATCH * 784));
    y.fill(0);
    for (let r = 0; r < BATCH; r++) y[r * 10 + labels[b * BATCH + r]!] = 1;
    b = (b + 1) % 16;
    mlp.forward(params, BATCH);
    mlp.backward(params, BATCH, grads);
    for (let i = 0; i < params.length; i++) params[i] -= scale * grads[i]!;
  };
  return rate(step, ks.id === 'ref-ts' ? Math.min(SECONDS, 1) : SECONDS * 2) * BATCH;
}

/** PyTorch's samples/s on one thread, or why it was not measured. */
function torchRate(): { rate: number; version: string; blas: BlasVerdict } | string {
  const t = torchPeer();
  if (typeof t === 'string') return t;
  const r = spawnSync(t.py, [pyScript('bench_torch.py'), String(Math.max(3, SECONDS * 2))], { encoding: 'utf8', env: t.env });
  if (r.status !== 0) return `bench_torch.py failed: ${(r.stderr || '').trim().split('\n').pop()}`;
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { samples_per_s: number; torch: string; blas: TorchBlasProbe };
  return { rate: out.samples_per_s, version: out.torch, blas: judgeBlas(out.blas) };
}

/** The CPU's flags (Linux: /proc/cpuinfo), empty where they cannot be read. */
function cpuFlags(): Set<string> {
  try {
    const line = fs
      .readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'));
    return new Set((line ?? '').split(':')[1]?.trim().split(/\s+/) ?? []);
  } catch {
    return new Set();
  }
}

/** GFLOP/s of scripts/microkernel-limit.cc per vector width, mul+add and fma; or why not measured. */
function microkernelLimits(): { vector: number; mulAdd: number; fma: number }[] | string {
  const flags = cpuFlags();
  if (!flags.has('avx2') || !flags.has('fma')) return 'this CPU has no AVX2 and FMA (or /proc/cpuinfo cannot be read)';
  const dir = packageRoot();
  if (dir === null) return "gradsync's folder not found above this script";
  const cxx = process.env.CXX ?? 'g++';
  const out: { vector: number; mulAdd: number; fma: number }[] = [];
  for (const zmm of flags.has('avx512f') ? [false, true] : [false]) {
    const bin = path.join(dir, 'build', `microkernel-limit-${zmm ? 512 : 256}`);
    fs.mkdirSync(path.dirname(bin), { recursive: true });
    const args = ['-std=c++17', '-O3', '-ffp-contract=off', '-mavx2', '-mfma', ...(zmm ? ['-mavx512f', '-DGS_ZMM'] : [])];
    const b = spawnSync(cxx, [...args, '-o', bin, path.join(dir, 'scripts', 'microkernel-limit.cc')], { encoding: 'utf8' });
    if (b.error) return `${cxx} did not run (${b.error.message})`;
    if (b.status !== 0) return `${cxx} failed: ${(b.stderr ?? '').trim().split('\n').slice(0, 3).join(' | ')}`;
    const r = spawnSync(bin, [], { encoding: 'utf8' });
    if (r.status !== 0) return `${path.basename(bin)} exited with ${r.status}`;
    out.push(JSON.parse(r.stdout.trim()) as { vector: number; mulAdd: number; fma: number });
  }
  return out;
}

function printTable(head: string[], rows: string[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  console.log(line(head));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const r of rows) console.log(line(r));
  console.log('');
}

function main(): void {
  const sets = kernelSets();
  process.stdout.write(machineHeader(torchPeer()));
  console.log(`kernels: ${sets.map((s) => s.id).join(', ')}; 1 thread; ${SECONDS}s per measurement\n`);
  gemmTable(sets);
  const limits = microkernelLimits();
  if (typeof limits === 'string') console.log(`GEMM micro-kernel limits: not measured: ${limits}\n`);
  else {
    console.log('GEMM micro-kernel limits of this machine (scripts/microkernel-limit.cc: 6 × 2-vector tile of C, panels in L1), GFLOP/s:');
    for (const l of limits)
      console.log(
        `  ${l.vector}-bit vectors: mul then add ${l.mulAdd.toFixed(1)}, fused multiply-add ${l.fma.toFixed(1)} (${(l.fma / l.mulAdd).toFixed(2)}×)`,
      );
    console.log('');
  }
  const torch = torchRate();
  const rows: string[][] = [];
  // a ratio only against an optimised BLAS (bench-blas.ts)
  const torchSps = typeof torch === 'string' || torch.blas.verdict === 'refused' ? null : torch.rate;
  for (const ks of sets) {
    const sps = stepRate(ks);
    rows.push([ks.id, sps.toFixed(0), torchSps === null ? '-' : (sps / torchSps).toFixed(2)]);
  }
  if (typeof torch === 'string') rows.push(['pytorch', torch, '-']);
  else
    rows.push([
      `pytorch ${torch.version} (1 thread, OPENBLAS_CORETYPE/L2_SIZE unset; BLAS ${torch.blas.blas})`,
      torch.rate.toFixed(0),
      torchSps === null ? '-' : '1.00',
    ]);
  printTable(['MLP 784-256-128-10 step, batch 128, float32', 'samples/s', 'x PyTorch'], rows);
  if (typeof torch !== 'string') console.log(`pytorch's ${blasLine(torch.blas)}`);
}

main();
