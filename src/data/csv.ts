/**
 * csv.ts — loads a comma-separated file of numbers (plain or gzip) into a Dataset.
 *
 * Format: one example per line, fields separated by ',', lines by '\n' or '\r\n'; a leading
 * UTF-8 byte-order mark and any number of blank trailing lines are ignored. gzip is
 * recognised by its magic bytes (1f 8b), not by the name. Quoting is not supported. A field
 * is a number when Number() gives a finite value and the field is not empty or whitespace
 * only ('abc', '1e999', '' and ' ' are not numbers; ' 2 ' is 2). The first line is a header
 * when `header` is true, never when it is false, and with 'auto' when any of its fields other
 * than the label is not a number — or, when only its label is not a number, when every later
 * line's label is (a header over class indices; a first line whose label is a name among
 * names, `5.1,3.5,setosa`, is data). With label 'none' every field counts.
 *
 * Columns: with label 'last' (default) or 'first' that column is the class, turned into a
 * one-hot row of y; the other columns are features. The class column holds class indices
 * (integers 0..classes-1) or class names, decided for the whole column (labels.ts): once one
 * label is not a number, every label is a name — its text, without the spaces around it — and
 * names are numbered in the order they first appear (Dataset.labelNames). With label 'none'
 * the last `targets` columns are real-valued targets (regression), the rest features.
 * Features are multiplied by `scale`; targets never are.
 *
 * Content hash (see dataset.ts): the file's bytes as on disk, then the JSON of
 *   { format: 'csv', header, label, targets, classes, scale }
 * with header the resolved boolean, targets null unless label is 'none', classes the
 * resolved class count (null for regression), in that key order. (Class names and their
 * order follow from the bytes and these options, so the hash covers them.)
 *
 * Errors are GradsyncError GS_ERR_DATA naming the file and the line (1-based, counting the
 * header) and column (1-based field number). Bad options are TypeError/RangeError naming
 * the option.
 * Not here: which file to load (train/setup.ts), the built-in sets (datasets.ts).
 */

import * as path from 'node:path';
import { Errors } from '../errors';
import { alloc } from '../tensor/dtype';
import { checkLoadOptions, contentHash, type Dataset, type LoadOptions } from './dataset';
import { classLabels, quote } from './labels';
import { readSource } from './source-file';

export interface CsvOptions extends LoadOptions {
  /** Which column is the class label, an index or a name (one-hot y); 'none' for regression. Default 'last'. */
  label?: 'last' | 'first' | 'none';
  /** With label 'none': the last `targets` columns are real-valued targets. Default 1. */
  targets?: number;
  /** Whether the first line is a header; 'auto' (default): when any of its fields is not a number. */
  header?: boolean | 'auto';
  /** Number of classes; default max label + 1. */
  classes?: number;
}

/** Loads `file` (see the header of this file for the format, the options and the hash). */
export function loadCsv(file: string, opts: CsvOptions): Dataset {
  const { dtype, shared, scale } = checkLoadOptions('loadCsv', opts);
  const label = opts.label ?? 'last';
  if (label !== 'last' && label !== 'first' && label !== 'none') {
    throw new TypeError(`loadCsv: label must be 'last', 'first' or 'none', got ${JSON.stringify(label)}`);
  }
  const headerOpt = opts.header ?? 'auto';
  if (headerOpt !== true && headerOpt !== false && headerOpt !== 'auto') {
    throw new TypeError(`loadCsv: header must be true, false or 'auto', got ${JSON.stringify(headerOpt)}`);
  }
  const targets = opts.targets ?? 1;
  if (!Number.isInteger(targets) || targets < 1)
    throw new RangeError(`loadCsv: targets must be an integer ≥ 1, got ${String(opts.targets)}`);
  if (opts.classes !== undefined && (!Number.isInteger(opts.classes) || opts.classes < 1)) {
    throw new RangeError(`loadCsv: classes must be an integer ≥ 1, got ${String(opts.classes)}`);
  }

  const src = readSource(file, 'CSV file');
  let text = src.bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);

  // 1. Line boundaries [starts[i], ends[i]) without the line break; blank trailing lines dropped.
  const starts: number[] = [];
  const ends: number[] = [];
  for (let pos = 0; pos <= text.length;) {
    let nl = text.indexOf('\n', pos);
    if (nl === -1) nl = text.length;
    starts.push(pos);
    ends.push(nl > pos && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl);
    pos = nl + 1;
  }
  let lines = starts.length;
  while (lines > 0 && text.slice(starts[lines - 1]!, ends[lines - 1]!).trim() === '') lines--;
  if (lines === 0) throw Errors.data(file, '', 'the CSV file is empty (no non-blank line)');

  // 2. The first line fixes the column count and, with 'auto', whether it is a header.
  const first = text.slice(starts[0]!, ends[0]!).split(',');
  const cols = first.length;
  const labelCol = label === 'first' ? 0 : label === 'last' ? cols - 1 : -1; // 0-based
  const header = headerOpt === 'auto' ? autoHeader(text, starts, ends, lines, first, labelCol) : headerOpt;
  const firstData = header ? 1 : 0;
  const n = lines - firstData;
  if (n === 0) throw Errors.data(file, 'line 1', 'the CSV file has a header line but no data rows');
  const need = label === 'none' ? targets + 1 : 2;
  if (cols < need) {
    const why =
      label === 'none' ? `at least one feature and ${targets} target${targets === 1 ? '' : 's'}` : 'at least one feature and the label';
    throw Errors.data(file, 'line 1', `found ${cols} column${cols === 1 ? '' : 's'}, need ${need} (${why})`);
  }
  const inputs = label === 'none' ? cols - targets : cols - 1;

  // 3. One pass over the data lines: features into x, targets as they come, label fields kept as text.
  const x = alloc(dtype, n * inputs, shared); // (n, inputs)
  const labelText: string[] | null = label === 'none' ? null : new Array<string>(n);
  const yReg = label === 'none' ? alloc(dtype, n * targets, shared) : null; // (n, targets)
  for (let r = 0; r < n; r++) {
    const li = firstData + r;
    const lineNo = li + 1;
    const end = ends[li]!;
    let pos = starts[li]!;
    let xk = r * inputs;
    let tk = r * targets;
    if (pos === end || (text.charCodeAt(pos) <= 32 && text.slice(pos, end).trim() === '')) {
      throw wrongCount(file, text, pos, end, lineNo, cols, header); // a blank line inside the data
    }
    for (let c = 0; c < cols; c++) {
      if (pos > end) throw wrongCount(file, text, starts[li]!, end, lineNo, cols, header);
      let comma = text.indexOf(',', pos);
      if (comma === -1 || comma > end) comma = end;
      const field = text.slice(pos, comma);
      pos = comma + 1;
      if (c === labelCol) {
        labelText![r] = field;
        continue;
      }
      const v = Number(field);
      if (!Number.isFinite(v) || (v === 0 && field.trim() === '')) {
        throw Errors.data(file, `line ${lineNo}, column ${c + 1}`, `field ${quote(field)} is not a number`);
      }
      if (yReg && c >= inputs) {
        yReg[tk] = v;
        if (!Number.isFinite(yReg[tk]!))
          throw Errors.data(file, `line ${lineNo}, column ${c + 1}`, `target ${quote(field)} does not fit in ${dtype}`);
        tk++;
      } else {
        x[xk] = v * scale;
        if (!Number.isFinite(x[xk]!))
          throw Errors.data(
            file,
            `line ${lineNo}, column ${c + 1}`,
            `feature ${quote(field)} times scale ${scale} does not fit in ${dtype}`,
          );
        xk++;
      }
    }
    if (pos <= end) throw wrongCount(file, text, starts[li]!, end, lineNo, cols, header);
  }

  // 4. Classification: the label column as indices or names (labels.ts), then one-hot y.
  let classes: number | null = null;
  let labels: Int32Array | null = null;
  let labelNames: string[] | null = null;
  let y = yReg;
  if (labelText) {
    const where = (r: number): string => `line ${firstData + r + 1}, column ${labelCol + 1}`;
    const raw = (r: number): { text: string; value: number | null } => {
      const f = labelText[r]!;
      return { text: f.trim(), value: isNumber(f) ? Number(f) : null };
    };
    const resolved = classLabels(n, raw, opts.classes, shared, (r, msg) => Errors.data(file, where(r), msg));
    ({ labels, classes } = resolved);
    labelNames = resolved.names;
    y = alloc(dtype, n * classes, shared); // (n, classes)
    for (let r = 0; r < n; r++) y[r * classes + labels[r]!] = 1;
  }

  const sha256 = contentHash([src.raw], {
    format: 'csv',
    header,
    label,
    targets: label === 'none' ? targets : null,
    classes,
    scale,
  });
  return {
    name: path.basename(file),
    dtype,
    n,
    inputs,
    outputs: classes ?? targets,
    x,
    y: y!,
    labels,
    classes,
    ...(labelNames ? { labelNames } : {}),
    sha256,
  };
}

/**
 * Whether the first line is a header under 'auto' (see the header of this file): any field
 * but the label not a number; or only the label not a number while every later line's label
 * (its first or last field) is one.
 */
function autoHeader(text: string, starts: number[], ends: number[], lines: number, first: string[], labelCol: number): boolean {
  if (first.some((f, c) => c !== labelCol && !isNumber(f))) return true;
  if (labelCol < 0 || isNumber(first[labelCol]!) || lines < 2) return false;
  for (let li = 1; li < lines; li++) {
    const line = text.slice(starts[li]!, ends[li]!);
    const comma = labelCol === 0 ? line.indexOf(',') : -1;
    const field = labelCol === 0 ? line.slice(0, comma < 0 ? line.length : comma) : line.slice(line.lastIndexOf(',') + 1);
    if (!isNumber(field)) return false;
  }
  return true;
}

/** Whether a CSV field is a number in the sense of this loader. */
function isNumber(field: string): boolean {
  const v = Number(field);
  return Number.isFinite(v) && !(v === 0 && field.trim() === '');
}

function wrongCount(file: string, text: string, start: number, end: number, lineNo: number, cols: number, header: boolean): Error {
  const line = text.slice(start, end);
  const found = line.split(',').length;
  const blank = line.trim() === '' ? ' (the line is blank)' : '';
  return Errors.data(
    file,
    `line ${lineNo}`,
    `expected ${cols} fields (as on line 1${header ? ', the header' : ''}), found ${line.trim() === '' ? 0 : found}${blank}`,
  );
}
