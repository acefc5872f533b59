/**
 * export-run.ts — what the export tests share: the gradsync CLI in a real process, a small
 * trained checkpoint per model shape, seeded raw input rows, and predict's outputs for them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../../src/tensor/rng';
import { repoRoot, tempDir } from './paths';

export function cli(args: string[], input?: string, cwd = tempDir()): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(repoRoot(), 'bin', 'gradsync.js'), ...args], {
    cwd,
    input,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A model shape trained briefly for the export tests: a config (data, layers, dtype) and the raw rows predict reads. */
export interface ExportCase {
  name: string;
  config: Record<string, unknown>;
  /** Width of a raw input row, and the largest raw feature value (rows are seeded integers or reals in [0, max]). */
  inputs: number;
  max: number;
}

const digits = (dtype: string, layers: object[]): Record<string, unknown> => ({
  dtype,
  data: { source: 'digits', heldOut: 0.2, shuffle: true },
  model: { layers, loss: 'cross-entropy' },
  optimizer: { kind: 'momentum', lr: 0.1, momentum: 0.9 },
  batch: 32,
  microBatch: 16,
  steps: 40,
  seed: 3,
  threads: 1,
});

/** A small CNN on the digits as images ([1, 8, 8]). */
const cnnDigits = (dtype: string, layers: object[]): Record<string, unknown> => {
  const c = digits(dtype, []);
  return { ...c, model: { input: [1, 8, 8], layers, loss: 'cross-entropy' } };
};

/** Every activation in both dtypes, a scaled input (digits: 1/16), an identity layer between two others, a regression output. */
export const EXPORT_CASES: ExportCase[] = [
  {
    name: 'float32 digits relu-sigmoid-tanh-softmax',
    config: digits('float32', [
      { units: 24, activation: 'relu' },
      { units: 16, activation: 'sigmoid' },
      { units: 12, activation: 'tanh' },
      { units: 10, activation: 'softmax' },
    ]),
    inputs: 64,
    max: 16,
  },
  {
    name: 'float64 digits linear-relu-sigmoid-tanh-softmax',
    config: digits('float64', [
      { units: 16, activation: 'linear' },
      { units: 16, activation: 'relu' },
      { units: 12, activation: 'sigmoid' },
      { units: 12, activation: 'tanh' },
      { units: 10, activation: 'softmax' },
    ]),
    inputs: 64,
    max: 16,
  },
  {
    name: 'float32 sine regression tanh-linear',
    config: {
      dtype: 'float32',
      data: {
        source: 'csv',
        path: path.join(repoRoot(), 'config', 'examples', 'data', 'sine.csv'),
        label: 'none',
        targets: 1,
        heldOut: 0.2,
      },
      model: {
        layers: [
          { units: 16, activation: 'tanh' },
          { units: 1, activation: 'linear' },
        ],
        loss: 'half-sse',
      },
      optimizer: { kind: 'adam', lr: 0.01 },
      batch: 32,
      microBatch: 8,
      steps: 60,
      seed: 1,
      threads: 1,
    },
    inputs: 1,
    max: 3,
  },
  {
    name: 'float32 digits CNN conv(stride 2, pad 1)-maxpool-conv-avgpool-flatten-dropout-dense',
    config: cnnDigits('float32', [
      { type: 'conv2d', filters: 6, kernel: 3, stride: 2, padding: 1, activation: 'tanh' },
      { type: 'maxpool2d', size: 2 },
      { type: 'conv2d', filters: 4, kernel: 1, activation: 'relu' },
      { type: 'avgpool2d', size: 2 },
      { type: 'flatten' },
      { type: 'dropout', rate: 0.2 },
      { units: 10, activation: 'softmax' },
    ]),
    inputs: 64,
    max: 16,
  },
  {
    name: 'float64 digits CNN conv(pad 1)-avgpool(stride 1)-flatten-dense-dense',
    config: cnnDigits('float64', [
      { type: 'conv2d', filters: 3, kernel: 3, padding: 1, activation: 'sigmoid' },
      { type: 'avgpool2d', size: 2, stride: 1 },
      { type: 'flatten' },
      { units: 12, activation: 'relu' },
      { units: 10, activation: 'softmax' },
    ]),
    inputs: 64,
    max: 16,
  },
];

/** Trains `c` in a temp folder; returns the folder and the final checkpoint's path. */
export function trainCase(c: ExportCase): { dir: string; checkpoint: string } {
  const dir = tempDir('gradsync-export-');
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(c.config));
  const r = cli(['train', path.join(dir, 'config.json'), '--run-dir', path.join(dir, 'run'), '--json', '--no-progress'], undefined, dir);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as { checkpoint: string };
  return { dir, checkpoint: summary.checkpoint };
}

/** `n` seeded raw rows of `c`'s width, written as a CSV file in `dir`. */
export function rowsFor(c: ExportCase, n: number, dir: string, seed = 11): { rows: number[][]; file: string } {
  const rng = new Rng(seed);
  const rows = Array.from({ length: n }, () =>
    Array.from({ length: c.inputs }, () => (c.max === 16 ? rng.nextInt(17) : rng.uniform(-c.max, c.max))),
  );
  const file = path.join(dir, 'rows.csv');
  fs.writeFileSync(file, rows.map((r) => r.join(',')).join('\n') + '\n');
  return { rows, file };
}

/** `gradsync predict --input FILE --json`: one output vector per row. */
export function predictOutputs(checkpoint: string, rowsFile: string): number[][] {
  const r = cli(['predict', '--checkpoint', checkpoint, '--input', rowsFile, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { results: { output: number[] }[] }).results.map((x) => x.output);
}
