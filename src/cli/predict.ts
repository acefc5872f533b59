/**
 * cli/predict.ts — `gradsync predict --checkpoint F|RUN_DIR [--input FILE]`: one output line
 * per input row (the original's input loop), rows from stdin, a CSV file, or the images of an
 * IDX images file (gzipped or not, recognised by its magic bytes; each image one row, its raw
 * pixels scaled as training scaled them).
 *
 * A run folder means its newest checkpoint that verifies, as `train --resume` picks it. A bad
 * row from stdin is reported on stderr and reading goes on (the exit code is then 2); in a file
 * (--input) it ends the command with exit 2 naming the line. A classifier whose checkpoint has
 * class names (trained on named labels, data/labels.ts) prints the name; otherwise the index.
 */

import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { Errors, GradsyncError } from '../errors';
import { selectKernels } from '../tensor/select';
import { Model } from '../model/model';
import { idxImagesIn } from '../data/idx';
import type { DenseSpec } from '../model/spec';
import { findResumePoint } from '../train/checkpoint';
import { inputScaleOf } from '../train/setup';
import { humanOut, type Io } from './io';

export interface PredictFlags {
  checkpoint?: string;
  input?: string;
  json?: boolean;
}

/** Parses one row of numbers separated by commas and/or white space; names line and field on error. */
export function parseRow(line: string, where: string, expected: number): number[] | null {
  const t = line.trim();
  if (t === '') return null;
  const parts = t.split(/[\s,]+/);
  if (parts.length !== expected)
    throw Errors.data(where, '', `expected ${expected} number${expected === 1 ? '' : 's'}, found ${parts.length}`);
  return parts.map((p, i) => {
    const v = Number(p);
    if (!Number.isFinite(v)) throw Errors.data(where, `field ${i + 1}`, `"${p.slice(0, 40)}" is not a finite number`);
    return v;
  });
}

export async function predictCommand(f: PredictFlags, io: Io): Promise<number> {
  if (!f.checkpoint) throw Errors.usage('predict needs --checkpoint FILE');
  const found = findResumePoint(f.checkpoint);
  for (const sk of found.skipped) io.stderr.write(`gradsync: warning: skipped corrupt checkpoint ${sk.file} (${sk.code}): ${sk.reason}\n`);
  const ck = found.checkpoint;
  const spec = ck.header.spec;
  const scale = inputScaleOf(ck.header.config);
  // the kernel profile the model was trained in, so that its outputs are the run's own bits
  const { kernels } = selectKernels(spec.dtype, 'auto', ck.header.kernelProfile ?? 'portable');
  const model = new Model(spec, kernels, 1);
  const classify = (spec.layers[spec.layers.length - 1] as DenseSpec).activation === 'softmax';
  const json = f.json === true;
  const out = humanOut(io, json);
  const names = ck.header.labelNames ?? null;
  const results: { output: number[]; class?: number; label?: string }[] = [];
  const source = f.input ?? '(stdin)';
  const emit = (y: number[]): void => {
    const r: { output: number[]; class?: number; label?: string } = { output: y };
    if (classify) {
      r.class = y.indexOf(Math.max(...y));
      const name = names?.[r.class];
      if (name !== undefined) r.label = name;
    }
    results.push(r);
    out.write(classify ? `class ${r.label ?? r.class}  (p = ${y[r.class!]!.toFixed(4)})\n` : `${y.join(', ')}\n`);
  };
  const img = f.input ? idxImagesIn(f.input) : null;
  if (f.input && img !== null) {
    const size = img.rows * img.cols;
    if (size !== spec.inputs)
      throw Errors.data(
        f.input,
        'byte 8',
        `images of ${img.rows}×${img.cols} = ${size} pixels, but the model takes ${spec.inputs} inputs${spec.input ? ` (${spec.input.join('×')})` : ''}`,
      );
    const X = model.input();
    for (let i = 0; i < img.n; i++) {
      for (let j = 0; j < size; j++) X[j] = img.pixels[i * size + j]! * scale;
      emit(Array.from(model.forward(ck.params, 1)));
    }
    if (json) io.stdout.write(`${JSON.stringify({ checkpoint: found.file, rows: results.length, results, rejected: [] })}\n`);
    return 0;
  }
  let input: NodeJS.ReadableStream;
  if (f.input) {
    if (!fs.existsSync(f.input)) throw Errors.data(f.input, '', 'no such file');
    input = fs.createReadStream(f.input);
  } else {
    input = io.stdin;
  }
  const rl = readline.createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  const rejected: { line: number; error: string }[] = [];
  for await (const line of rl) {
    lineNo++;
    let row: number[] | null;
    try {
      row = parseRow(line, `${source} line ${lineNo}`, spec.inputs);
    } catch (e) {
      if (f.input || !(e instanceof GradsyncError)) {
        rl.close();
        throw e;
      }
      // a person typing (or a pipe) gets the error for this row and goes on
      rejected.push({ line: lineNo, error: e.message });
      io.stderr.write(`gradsync: error ${e.code}: ${e.message}\n`);
      continue;
    }
    if (row === null) continue;
    const X = model.input();
    for (let i = 0; i < row.length; i++) X[i] = row[i]! * scale;
    emit(Array.from(model.forward(ck.params, 1)));
  }
  if (json) io.stdout.write(`${JSON.stringify({ checkpoint: found.file, rows: results.length, results, rejected })}\n`);
  if (rejected.length > 0) {
    io.stderr.write(
      `gradsync: ${rejected.length} row${rejected.length === 1 ? '' : 's'} rejected (lines ${rejected.map((r) => r.line).join(', ')})\n`,
    );
    return 2;
  }
  return 0;
}
