/**
 * bench-dataflow.ts — the 2-thread/1-thread ratio that the benchmark step's dataflow itself
 * gives on this machine, with no JavaScript at all (npm run bench runs it last).
 *
 * Compiles scripts/dataflow-ceiling.cc — the workload's step with gradsync's own native kernels
 * (native/kernels-impl.h), the flags of the addon's AVX-512 build (or AVX2 on a machine
 * without AVX-512; binding.gyp: -O3, -ffp-contract=off, no FMA) — into build/, and runs it on
 * 1 thread and on 2, interleaved, --rounds times: each round's ratio of median steps, and the
 * median round. What it leaves out (planning, checks, step records, the event loop, waking
 * threads) is what gradsync adds to the step; what it keeps (the kernels, the two leaves,
 * the shared tail's units, the non-temporal stores) is the dataflow's own cost, memory traffic
 * between the cores included. A ratio below 2 here is the machine's and the algorithm's, not
 * the trainer's. Needs g++ (as `npm ci` does for the addon; CXX overrides it); says why and
 * stops when it cannot build or the processor has neither AVX-512 nor AVX2.
 * Flags: --rounds N (default 5), --steps N (default 2000, at least 400).
 */

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../src/package-root';
import { benchArgs, median } from './bench-common';

const USAGE = 'usage: node dist/scripts/bench-dataflow.js [--rounds 5] [--steps 2000]';

interface Result {
  threads: number;
  steps: number;
  medianStepUs: number;
  medianLeafUs: number;
  medianTailUs: number;
}

/** 'avx512', 'avx2', or null: the best build of the addon's this processor runs (Linux: /proc/cpuinfo). */
function isa(): 'avx512' | 'avx2' | null {
  let flags: Set<string>;
  try {
    const line = fs
      .readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'));
    flags = new Set((line ?? '').split(':')[1]?.trim().split(/\s+/) ?? []);
  } catch {
    return null;
  }
  if (['avx512f', 'avx512dq', 'avx512vl', 'avx512bw'].every((f) => flags.has(f))) return 'avx512';
  return flags.has('avx2') ? 'avx2' : null;
}

/** Builds the program for `which`; returns its path, or why not. */
function build(which: 'avx512' | 'avx2'): string | { why: string } {
  const dir = packageRoot();
  if (dir === null) return { why: "gradsync's folder not found above this script" };
  const out = path.join(dir, 'build', `dataflow-ceiling-${which}`);
  const src = path.join(dir, 'scripts', 'dataflow-ceiling.cc');
  const isaFlags =
    which === 'avx512' ? ['-mavx512f', '-mavx512dq', '-mavx512vl', '-mavx512bw', '-DGS_DATAFLOW_AVX512'] : ['-mavx2', '-DGS_DATAFLOW_AVX2'];
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const cxx = process.env.CXX ?? 'g++';
  const r = spawnSync(cxx, ['-std=c++17', '-O3', '-ffp-contract=off', '-fno-fast-math', ...isaFlags, '-pthread', '-o', out, src], {
    encoding: 'utf8',
  });
  if (r.error) return { why: `${cxx} did not run (${r.error.message})` };
  if (r.status !== 0) return { why: `${cxx} failed: ${(r.stderr ?? '').trim().split('\n').slice(0, 5).join(' | ')}` };
  return out;
}

function runOnce(bin: string, threads: number, steps: number): Result {
  const r = spawnSync(bin, [String(threads), String(steps)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${path.basename(bin)} ${threads} ${steps} exited with ${r.status}: ${(r.stderr ?? '').trim()}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Result;
}

function main(): void {
  const values = benchArgs('bench-dataflow', USAGE, {
    rounds: { type: 'string', default: '5' },
    steps: { type: 'string', default: '2000' },
  });
  const rounds = Number(values.rounds);
  const steps = Number(values.steps);
  if (!Number.isInteger(rounds) || rounds < 1) {
    process.stderr.write(`bench-dataflow: --rounds must be a whole number ≥ 1, got "${values.rounds}"\n${USAGE}\n`);
    process.exit(2);
  }
  if (!Number.isInteger(steps) || steps < 400) {
    process.stderr.write(`bench-dataflow: --steps must be a whole number ≥ 400, got "${values.steps}"\n${USAGE}\n`);
    process.exit(2);
  }
  const which = isa();
  if (which === null) {
    process.stdout.write('dataflow ceiling: skipped (the processor has neither AVX-512 nor AVX2, or /proc/cpuinfo is not readable)\n');
    return;
  }
  const bin = build(which);
  if (typeof bin !== 'string') {
    process.stdout.write(`dataflow ceiling: skipped (${bin.why})\n`);
    return;
  }
  process.stdout.write(
    `dataflow ceiling — the workload's step with gradsync's native ${which} kernels and no JavaScript (scripts/dataflow-ceiling.cc), ${steps} steps per run, median step after the first 200:\n`,
  );
  const ratios: number[] = [];
  const us = (x: number): string => `${(x / 1000).toFixed(3)} ms`;
  for (let round = 1; round <= rounds; round++) {
    const one = runOnce(bin, 1, steps);
    const two = runOnce(bin, 2, steps);
    ratios.push(one.medianStepUs / two.medianStepUs);
    process.stdout.write(
      `  round ${round}: 1 thread ${us(one.medianStepUs)} (leaves ${us(one.medianLeafUs)}, tail ${us(one.medianTailUs)}); ` +
        `2 threads ${us(two.medianStepUs)} (leaf ${us(two.medianLeafUs)}, tail ${us(two.medianTailUs)}, its wait for the other leaf included); ${ratios[ratios.length - 1]!.toFixed(2)}×\n`,
    );
  }
  process.stdout.write(
    `dataflow ceiling, 2 threads / 1 thread by median step: ${ratios.map((r) => `${r.toFixed(2)}×`).join(', ')}; median ${median(ratios).toFixed(2)}×\n`,
  );
}

main();
