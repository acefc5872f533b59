/**
 * dataset.ts — the Dataset type every loader returns, its content hash, and the row copies
 * (subset, toDtype) built on it.
 *
 * A Dataset is n examples as two dense row-major buffers: x (n, inputs) and y (n, outputs),
 * both in the run's dtype, optionally over SharedArrayBuffer so pool threads read them
 * without a copy. Classification sets also carry the class index of each row (`labels`) and
 * one-hot rows in y.
 *
 * The content hash (`sha256`, lowercase hex) names the data, not its representation:
 *   - a file-backed set hashes, in one SHA-256 stream,
 *       1. the bytes of each source file exactly as on disk (compressed if the file is gzip),
 *          the files in the order the loader documents (IDX: images file, then labels file);
 *       2. the separator "\0gradsync-data-v1\0" (ASCII);
 *       3. the JSON of the load options that change the values, with their defaults resolved,
 *          keys in the fixed order the loader writes them (see csv.ts and idx.ts);
 *   - the synthetic doubling set hashes its own float64 arrays the same way (datasets.ts), and
 *     in-memory arrays their values as float64 (arrays.ts);
 *   - a subset hashes the 64 ASCII hex characters of its parent's hash, then its indices as
 *     little-endian uint32.
 * dtype and shared are not part of the hash: they change how the rows are stored, not which
 * rows they are (a float32 load is the float64 load rounded element by element, and
 * toDtype keeps the hash). So two loads of the same file with the same options hash alike.
 *
 * Not here: reading files (csv.ts, idx.ts), in-memory arrays (arrays.ts), the built-in sets
 * and the held-out split (datasets.ts), the data order of an epoch (batching.ts).
 */

import * as crypto from 'node:crypto';
import { alloc, type DType, type Float } from '../tensor/dtype';

export interface Dataset {
  /** 'digits', 'doubling', 'fashion-mnist-train', or the file's base name. */
  name: string;
  dtype: DType;
  /** Examples. */
  n: number;
  /** Features per example. */
  inputs: number;
  /** Target width; for classification the number of classes (one-hot targets). */
  outputs: number;
  /** (n, inputs) row-major, in dtype. */
  x: Float;
  /** (n, outputs) row-major, in dtype; one-hot rows for classification. */
  y: Float;
  /** Class index per example (classification), else null. */
  labels: Int32Array | null;
  classes: number | null;
  /**
   * Class names by index, when the labels were names (a CSV column of strings, in-memory string
   * labels: labels.ts); absent or null when they were indices.
   */
  labelNames?: readonly string[] | null;
  /** Content hash, lowercase hex; see the header of this file for its exact definition. */
  sha256: string;
}

export interface LoadOptions {
  dtype: DType;
  /** Allocate x, y (and labels) over SharedArrayBuffer. Default false. */
  shared?: boolean;
  /** Multiply every feature (x, never y) by this. Default 1. */
  scale?: number;
}

/** The separator between the source bytes and the options in a content hash. */
const HASH_SEPARATOR = '\0gradsync-data-v1\0';

/**
 * The content hash of a dataset read from `sources` (in that order) with the value-changing
 * `options` (their JSON, keys in insertion order, is hashed after the separator).
 */
export function contentHash(sources: readonly Uint8Array[], options: Record<string, unknown>): string {
  const h = crypto.createHash('sha256');
  for (const s of sources) h.update(s);
  h.update(HASH_SEPARATOR, 'latin1');
  h.update(JSON.stringify(options), 'utf8');
  return h.digest('hex');
}

/**
 * contentHash over sources too large to copy at once: `feed` passes the source bytes, in
 * order, to the update it is given; then the separator and the options, as contentHash does.
 */
export function streamedContentHash(feed: (update: (bytes: Uint8Array) => void) => void, options: Record<string, unknown>): string {
  const h = crypto.createHash('sha256');
  feed((b) => h.update(b));
  h.update(HASH_SEPARATOR, 'latin1');
  h.update(JSON.stringify(options), 'utf8');
  return h.digest('hex');
}

/** Checks LoadOptions fields shared by every loader; throws TypeError/RangeError naming the field. */
export function checkLoadOptions(where: string, opts: LoadOptions): { dtype: DType; shared: boolean; scale: number } {
  if (opts.dtype !== 'float64' && opts.dtype !== 'float32') {
    throw new TypeError(`${where}: dtype must be 'float64' or 'float32', got ${JSON.stringify(opts.dtype)}`);
  }
  const scale = opts.scale ?? 1;
  if (typeof scale !== 'number' || !Number.isFinite(scale)) {
    throw new RangeError(`${where}: scale must be a finite number, got ${String(scale)}`);
  }
  return { dtype: opts.dtype, shared: opts.shared === true, scale };
}

/** A zero-filled Int32Array of n elements, over a SharedArrayBuffer when `shared`. */
export function allocLabels(n: number, shared: boolean): Int32Array {
  return shared ? new Int32Array(new SharedArrayBuffer(n * 4)) : new Int32Array(n);
}

/**
 * A new dataset holding rows `indices` of `ds`, in that order (repeats allowed).
 * sha256 = sha256(parent's hex hash ‖ indices as uint32 little-endian).
 */
export function subset(ds: Dataset, indices: ArrayLike<number>, name?: string, shared = false): Dataset {
  const m = indices.length;
  const idx = new Uint32Array(m);
  for (let k = 0; k < m; k++) {
    const i = indices[k]!;
    if (!Number.isInteger(i) || i < 0 || i >= ds.n) {
      throw new RangeError(`subset: indices[${k}] must be an integer row index in [0, ${ds.n}), got ${i}`);
    }
    idx[k] = i;
  }
  const { inputs, outputs } = ds;
  const x = alloc(ds.dtype, m * inputs, shared); // (m, inputs)
  const y = alloc(ds.dtype, m * outputs, shared); // (m, outputs)
  const labels = ds.labels ? allocLabels(m, shared) : null;
  for (let k = 0; k < m; k++) {
    const i = idx[k]!;
    x.set(ds.x.subarray(i * inputs, (i + 1) * inputs), k * inputs);
    y.set(ds.y.subarray(i * outputs, (i + 1) * outputs), k * outputs);
    if (labels) labels[k] = ds.labels![i]!;
  }
  const h = crypto.createHash('sha256');
  h.update(ds.sha256, 'latin1');
  h.update(new Uint8Array(littleEndianU32(idx)));
  return {
    name: name ?? `${ds.name}-subset`,
    dtype: ds.dtype,
    n: m,
    inputs,
    outputs,
    x,
    y,
    labels,
    classes: ds.classes,
    ...(ds.labelNames ? { labelNames: ds.labelNames } : {}),
    sha256: h.digest('hex'),
  };
}

/** The same rows in `dtype` (float64 → float32 rounds to nearest), optionally in shared memory. Keeps the hash. */
export function toDtype(ds: Dataset, dtype: DType, shared = false): Dataset {
  if (dtype !== 'float64' && dtype !== 'float32')
    throw new TypeError(`toDtype: dtype must be 'float64' or 'float32', got ${JSON.stringify(dtype)}`);
  const x = alloc(dtype, ds.x.length, shared);
  const y = alloc(dtype, ds.y.length, shared);
  x.set(ds.x);
  y.set(ds.y);
  let labels: Int32Array | null = null;
  if (ds.labels) {
    labels = allocLabels(ds.labels.length, shared);
    labels.set(ds.labels);
  }
  return { ...ds, dtype, x, y, labels };
}

/** Min and max over every element of y; an empty set gives { min: Infinity, max: -Infinity }. */
export function targetRange(ds: Dataset): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  const y = ds.y;
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/** The bytes of `a` as little-endian uint32, whatever the machine's byte order. */
function littleEndianU32(a: Uint32Array): ArrayBuffer {
  const out = new ArrayBuffer(a.length * 4);
  const dv = new DataView(out);
  for (let i = 0; i < a.length; i++) dv.setUint32(i * 4, a[i]!, true);
  return out;
}
