/**
 * bench-wasm.ts — speed of the WebAssembly SIMD kernels on the benchmark workload's GEMM shapes,
 * and what the copies in and out of linear memory cost.
 *
 * For each float32 shape (a step's GEMMs at 128 and at 16 rows) prints GFLOP/s of: wasm-simd128 as the trainer calls it (copy A and B
 * in, pack B into panels, run, copy C out); the kernel alone on operands already packed in
 * linear memory; the best native kernel and the reference, for scale. Timings are printed, never asserted.
 * Usage: node dist/scripts/bench-wasm.js [seconds per measurement, default 1]
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { alloc, type Float } from '../src/tensor/dtype';
import { referenceKernels } from '../src/tensor/reference-kernels';
import type { KernelSet } from '../src/tensor/kernels';
import { Rng } from '../src/tensor/rng';
import { nativeIsas, nativeKernels } from '../src/tensor/fast/native';
import { wasmKernels } from '../src/tensor/fast/wasm';
import { wasmLoadError } from '../src/tensor/fast/wasm-module';
import { rate } from './bench-common';

const SECONDS = Number(process.argv[2] ?? 1);

type GemmName = 'gemmNT' | 'gemmTN' | 'gemmNN';
/** The GEMMs of one forward + backward of MLP 784-256-128-10 on `rows` examples (model/layers/dense.ts). */
function shapes(rows: number): [GemmName, number, number, number][] {
  return [
    ['gemmNT', rows, 256, 784],
    ['gemmNT', rows, 128, 256],
    ['gemmNT', rows, 10, 128],
    ['gemmTN', 256, 784, rows],
    ['gemmTN', 128, 256, rows],
    ['gemmTN', 10, 128, rows],
    ['gemmNN', rows, 256, 128],
    ['gemmNN', rows, 128, 10],
  ];
}
// the whole batch (bench-kernels.ts's shapes), and the micro-batch npm run bench computes by default
const SHAPES = [...shapes(128), ...shapes(16)];

interface Raw {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  gemm_f32(m: number, n: number, k: number, a: number, abs: number, acs: number, b: number, bps: number, c: number, acc: number): void;
}

/** The module instantiated on its own, to time the kernel without the copies. */
function rawModule(): Raw {
  const bytes = fs.readFileSync(path.join(__dirname, '..', 'wasm', 'kernels.wasm'));
  const W = (
    globalThis as unknown as {
      WebAssembly: { Module: new (b: Uint8Array) => object; Instance: new (m: object, i: object) => { exports: unknown } };
    }
  ).WebAssembly;
  return new W.Instance(new W.Module(bytes), {}).exports as Raw;
}

function main(): void {
  const why = wasmLoadError();
  if (why !== null) {
    console.log(`WebAssembly SIMD kernels unavailable: ${why}`);
    return;
  }
  const raw = rawModule();
  const wasm = wasmKernels('float32');
  const others: KernelSet[] = [
    ...nativeIsas()
      .slice(0, 1)
      .map((isa) => nativeKernels(isa, 'float32')),
    referenceKernels('float32'),
  ];
  const rng = new Rng(1);
  const head = ['GEMM float32, GFLOP/s', 'wasm (with copies)', 'wasm kernel only', 'copy+pack share %', ...others.map((k) => k.id)];
  const rows: string[][] = [];
  for (const [g, m, n, k] of SHAPES) {
    const A = alloc('float32', m * k);
    const B = alloc('float32', n * k);
    const C = alloc('float32', m * n);
    for (const x of [A, B] as Float[]) for (let i = 0; i < x.length; i++) x[i] = rng.uniform(-1, 1);
    const flop = 2 * m * n * k;
    const total = rate(() => wasm[g](m, n, k, A, B, C), SECONDS);
    // the kernel alone, on A and B placed once as it reads them (contents do not change its speed)
    const es = 4;
    const aOff = 256;
    const pOff = aOff + Math.ceil((Math.ceil(m / 4) * 4 * k * es) / 64) * 64;
    const cOff = pOff + Math.ceil(n / 8) * k * 32;
    const need = cOff + m * n * es;
    if (raw.memory.buffer.byteLength < need) raw.memory.grow(Math.ceil((need - raw.memory.buffer.byteLength) / 65536));
    const kernel = rate(() => raw.gemm_f32(m, n, k, aOff, 4 * k * es, 4 * es, pOff, k * 32, cOff, 0), SECONDS);
    const row = [
      `${g} (${m}, ${n}, ${k})`,
      ((flop * total) / 1e9).toFixed(1),
      ((flop * kernel) / 1e9).toFixed(1),
      (100 * (1 - total / kernel)).toFixed(0),
    ];
    for (const ks of others) {
      const perS = rate(() => ks[g](m, n, k, A, B, C), ks.id === 'ref-ts' ? Math.min(SECONDS, 0.5) : SECONDS);
      row.push(((flop * perS) / 1e9).toFixed(1));
    }
    rows.push(row);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

main();
