/**
 * arrays.ts — a Dataset from arrays in memory (train() called from code with data: { x, y }),
 * checked as a file's rows are and hashed like them.
 *
 * x, the features, is either rows — number[][] or an array of typed arrays, one per example —
 * or one flat Float32Array, Float64Array or number[] in row-major (C) order with `shape`
 * [n, features] (or [n, d1, d2, …]: the features are d1·d2·…, in that order), as a NumPy array
 * or a PyTorch tensor has it.
 * y is one of
 *   - class labels, one per row (when `labels` is true, `classes` is given, or y holds a
 *     string): integer class indices, or class names mapped to indices in first-seen order —
 *     the whole of y is names as soon as one label is a string (labels.ts);
 *   - regression targets: one number per row, number[][] (k per row), or a flat array of n·k.
 * Every value must be a finite number (that fits the dtype); a bad value, a row of the wrong
 * width and a length that does not match is a GradsyncError GS_ERR_DATA naming `data.x` or
 * `data.y` and the row (0-based, the index into x or y) and column.
 *
 * Content hash (dataset.ts): the features as float64 little-endian, row by row, then for labels
 * the class indices as int32 little-endian, for targets the targets as float64 little-endian;
 * then the separator and the JSON of
 *   { format: 'arrays', inputs, targets, classes, labelNames }
 * (targets null for labels; classes and labelNames null for targets). So rows and a flat array
 * of the same values, a Float32Array and the Float64Array of its values, hash alike.
 * Not here: the held-out split (datasets.ts), the config's data fields (config.ts, train/setup.ts).
 */

import { Errors } from '../errors';
import { alloc } from '../tensor/dtype';
import { checkLoadOptions, streamedContentHash, type Dataset, type LoadOptions } from './dataset';
import { classLabels, quote, type RawLabel } from './labels';

/** A flat numeric array: what NumPy's and PyTorch's buffers arrive as in JavaScript. */
export type FlatArray = Float32Array | Float64Array | Int32Array | Uint8Array | readonly number[];

export interface ArrayData {
  /** Features: one array per example, or a flat array with `shape`. */
  x: readonly ArrayLike<number>[] | FlatArray;
  /** x's shape, [n, features] or [n, d1, d2, …], when x is flat. */
  shape?: readonly number[];
  /** Class labels (indices or names), or regression targets; see the header of this file. */
  y: readonly ArrayLike<number>[] | FlatArray | readonly (string | number)[];
  /** Number of classes; default the largest index + 1, or the number of names. */
  classes?: number;
  /** The dataset's name in logs and records. Default 'arrays'. */
  name?: string;
}

export interface ArrayLoadOptions extends LoadOptions {
  /** y holds class labels even when all are numbers and `classes` is not given (a cross-entropy model). */
  labels?: boolean;
}

const CHUNK = 8192;

/** The Dataset of `data` in opts.dtype (see the header of this file). */
export function fromArrays(data: ArrayData, opts: ArrayLoadOptions): Dataset {
  const { dtype, shared } = checkLoadOptions('fromArrays', { ...opts, scale: 1 });
  if (typeof data !== 'object' || data === null) throw Errors.data('data', '', 'must be an object { x, y }');
  const fx = features(data);
  const { n, inputs } = fx;
  const x = alloc(dtype, n * inputs, shared); // (n, inputs)
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < inputs; c++) {
      const v = fx.at(r, c);
      if (typeof v !== 'number') throw Errors.data('data.x', `row ${r}, column ${c}`, `${describe(v)} is not a number`);
      const k = r * inputs + c;
      x[k] = v;
      if (!Number.isFinite(x[k]!))
        throw Errors.data(
          'data.x',
          `row ${r}, column ${c}`,
          Number.isFinite(v) ? `${v} does not fit in ${dtype}` : `${v} is not a finite number`,
        );
    }
  }

  const ys = data.y;
  if (!isArrayLike(ys)) throw Errors.data('data.y', '', `must be an array or a typed array, got ${describe(ys)}`);
  if (data.classes !== undefined && (!Number.isInteger(data.classes) || data.classes < 1))
    throw Errors.data('data.classes', '', `must be an integer ≥ 1, got ${describe(data.classes)}`);
  const named = Array.isArray(ys) && ys.some((v) => typeof v === 'string');
  const asLabels = opts.labels === true || data.classes !== undefined || named;
  const name = data.name ?? 'arrays';
  if (asLabels) {
    if (ys.length !== n) throw Errors.data('data.y', '', `has ${ys.length} labels, data.x has ${n} rows: give one class label per row`);
    const raw = (r: number): RawLabel => {
      const v = (ys as ArrayLike<unknown>)[r];
      if (typeof v === 'string') return { text: v, value: null };
      if (typeof v === 'number') return { text: String(v), value: named ? null : v };
      if (isArrayLike(v))
        throw Errors.data(
          'data.y',
          `row ${r}`,
          `is an array, not a class label: give each row's class index (of one-hot rows, the argmax)`,
        );
      throw Errors.data('data.y', `row ${r}`, `${describe(v)} is not a class label (an integer class index or a name)`);
    };
    const { labels, classes, names } = classLabels(n, raw, data.classes, shared, (r, msg) => Errors.data('data.y', `row ${r}`, msg));
    const y = alloc(dtype, n * classes, shared); // (n, classes)
    for (let r = 0; r < n; r++) y[r * classes + labels[r]!] = 1;
    const sha256 = streamedContentHash(
      (update) => {
        hashFloat64(update, fx);
        for (let r = 0; r < n; r += CHUNK) update(littleEndianI32(labels.subarray(r, Math.min(n, r + CHUNK))));
      },
      { format: 'arrays', inputs, targets: null, classes, labelNames: names },
    );
    return { name, dtype, n, inputs, outputs: classes, x, y, labels, classes, ...(names ? { labelNames: names } : {}), sha256 };
  }

  const t = targetsOf(ys, n);
  const y = alloc(dtype, n * t.width, shared); // (n, targets)
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < t.width; c++) {
      const v = t.at(r, c);
      const where = t.width === 1 && !t.rows ? `row ${r}` : `row ${r}, column ${c}`;
      if (typeof v !== 'number') throw Errors.data('data.y', where, `${describe(v)} is not a number (a regression target)`);
      const k = r * t.width + c;
      y[k] = v;
      if (!Number.isFinite(y[k]!))
        throw Errors.data('data.y', where, Number.isFinite(v) ? `${v} does not fit in ${dtype}` : `${v} is not a finite number`);
    }
  }
  const sha256 = streamedContentHash(
    (update) => {
      hashFloat64(update, fx);
      hashFloat64(update, t);
    },
    { format: 'arrays', inputs, targets: t.width, classes: null, labelNames: null },
  );
  return { name, dtype, n, inputs, outputs: t.width, x, y, labels: null, classes: null, sha256 };
}

/** A 2-D view of x or y: n rows of `width`, element (r, c) as given (not yet checked). */
interface Rows {
  n: number;
  width: number;
  rows: boolean;
  /** The given value at (r, c), as given: for hashing, the float64 before any dtype rounding. */
  at(r: number, c: number): unknown;
}

function features(data: ArrayData): Rows & { inputs: number } {
  const xs = data.x as unknown;
  if (!isArrayLike(xs))
    throw Errors.data('data.x', '', `must be an array of rows or a flat typed array with data.shape, got ${describe(xs)}`);
  const shape = data.shape;
  if (xs.length === 0) throw Errors.data('data.x', '', 'has no rows');
  if (isRows(xs)) {
    const n = xs.length;
    const inputs = rowLength('data.x', xs, 0);
    for (let r = 1; r < n; r++) {
      const w = rowLength('data.x', xs, r);
      if (w !== inputs)
        throw Errors.data('data.x', `row ${r}`, `has ${w} values, row 0 has ${inputs}: every row must have the same number of features`);
    }
    if (shape !== undefined && (shape.length !== 2 || shape[0] !== n || shape[1] !== inputs))
      throw Errors.data('data.shape', '', `is ${showShape(shape)}, but data.x is ${n} rows of ${inputs}`);
    if (inputs === 0) throw Errors.data('data.x', 'row 0', 'is empty: an example needs at least one feature');
    return { n, width: inputs, inputs, rows: true, at: (r, c) => (xs[r] as ArrayLike<unknown>)[c] };
  }
  if (shape === undefined)
    throw Errors.data(
      'data.x',
      '',
      `is a flat array of ${xs.length} values: give data.shape [n, features] (e.g. [${xs.length}, 1]), or x as one array per row`,
    );
  if (!Array.isArray(shape) || shape.length < 2 || !shape.every((d) => Number.isInteger(d) && d >= 1))
    throw Errors.data('data.shape', '', `must be [n, features] (or [n, d1, d2, …]) of integers ≥ 1, got ${showShape(shape)}`);
  const n = shape[0]!;
  const inputs = shape.slice(1).reduce((a, b) => a * b, 1);
  if (n * inputs !== xs.length)
    throw Errors.data('data.x', '', `has ${xs.length} values, data.shape ${showShape(shape)} needs ${n} × ${inputs} = ${n * inputs}`);
  return { n, width: inputs, inputs, rows: false, at: (r, c) => (xs as ArrayLike<unknown>)[r * inputs + c] };
}

function targetsOf(ys: ArrayLike<unknown>, n: number): Rows {
  if (isRows(ys)) {
    if (ys.length !== n) throw Errors.data('data.y', '', `has ${ys.length} rows, data.x has ${n}: give one row of targets per example`);
    const width = rowLength('data.y', ys, 0);
    for (let r = 1; r < n; r++) {
      const w = rowLength('data.y', ys, r);
      if (w !== width) throw Errors.data('data.y', `row ${r}`, `has ${w} targets, row 0 has ${width}`);
    }
    if (width === 0) throw Errors.data('data.y', 'row 0', 'is empty: an example needs at least one target');
    return { n, width, rows: true, at: (r, c) => (ys[r] as ArrayLike<unknown>)[c] };
  }
  if (ys.length === 0 || ys.length % n !== 0)
    throw Errors.data(
      'data.y',
      '',
      `has ${ys.length} values for the ${n} rows of data.x: give one target per row, or k per row (a flat array of ${n}·k, or one array per row)`,
    );
  const width = ys.length / n;
  return { n, width, rows: false, at: (r, c) => ys[r * width + c] };
}

function isArrayLike(v: unknown): v is ArrayLike<unknown> {
  return Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
}

/** Rows: a plain array whose first element is itself an array or a typed array. */
function isRows(v: ArrayLike<unknown>): v is readonly ArrayLike<unknown>[] {
  return Array.isArray(v) && v.length > 0 && isArrayLike(v[0]);
}

function rowLength(what: string, rows: readonly ArrayLike<unknown>[], r: number): number {
  const row = rows[r];
  if (!isArrayLike(row)) throw Errors.data(what, `row ${r}`, `${describe(row)} is not an array of numbers`);
  return row.length;
}

/** A value as a message shows it. */
function describe(v: unknown): string {
  if (typeof v === 'string') return `the string ${quote(v)}`;
  if (v === null) return 'null';
  if (v === undefined) return 'undefined (a hole or a missing value)';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${String(v)}`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return typeof v === 'object' ? `an object (${Object.prototype.toString.call(v).slice(8, -1)})` : typeof v;
}

function showShape(s: unknown): string {
  return Array.isArray(s) ? `[${s.map((d) => String(d)).join(', ')}]` : describe(s);
}

/** Feeds the given values of `rows` (already checked to be finite numbers) as float64 little-endian, row by row. */
function hashFloat64(update: (b: Uint8Array) => void, rows: Rows): void {
  const total = rows.n * rows.width;
  const buf = new Uint8Array(Math.min(CHUNK, total) * 8);
  const dv = new DataView(buf.buffer);
  let k = 0;
  for (let r = 0; r < rows.n; r++) {
    for (let c = 0; c < rows.width; c++) {
      dv.setFloat64(k * 8, rows.at(r, c) as number, true);
      if (++k === CHUNK) {
        update(buf);
        k = 0;
      }
    }
  }
  if (k > 0) update(buf.subarray(0, k * 8));
}

function littleEndianI32(a: Int32Array): Uint8Array {
  const out = new Uint8Array(a.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) dv.setInt32(i * 4, a[i]!, true);
  return out;
}
