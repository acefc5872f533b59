/**
 * idx.ts — loads an MNIST-style IDX split (Fashion-MNIST, MNIST): an unsigned-byte images
 * file (magic 00 00 08 03, dims n, rows, cols, big-endian uint32) and an unsigned-byte
 * labels file (magic 00 00 08 01, dim n), each plain or gzip (recognised by the magic
 * bytes 1f 8b, not by the name).
 *
 * Pixels become features 0..255 times `scale` (the caller passes 1/255 for [0, 1]), one pass
 * over the buffer through a 256-entry table in the dtype; labels 0..9 become one-hot rows of
 * y over 10 classes.
 *
 * Byte offsets in errors count the decompressed IDX bytes (the file itself when it is not
 * gzip). A file must hold exactly what its header promises: fewer bytes is "truncated",
 * more is an error too.
 *
 * Content hash (see dataset.ts): the images file's bytes as on disk, then the labels file's
 * bytes as on disk, then the JSON of { format: 'idx', classes: 10, scale }.
 *
 * Not here: choosing the folder (train/setup.ts reads the config; this layer reads no env),
 * the held-out split (the IDX test split is the held-out set).
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Errors } from '../errors';
import { alloc } from '../tensor/dtype';
import { allocLabels, checkLoadOptions, contentHash, type Dataset, type LoadOptions } from './dataset';
import { readHead, readSource, type SourceFile } from './source-file';

const CLASSES = 10;
const UBYTE = 0x08;
const INSTALL_HINT = 'apt-get install dataset-fashion-mnist (dpkg -L dataset-fashion-mnist shows where)';

/** The folders the Debian package dataset-fashion-mnist installs the four files into. */
export function defaultIdxDirs(): string[] {
  return ['/usr/share/datasets/fashion-mnist'];
}

/**
 * The images and labels files of `split` in `dir`: {train,t10k}-images-idx3-ubyte and
 * {train,t10k}-labels-idx1-ubyte, each preferred as .gz, else uncompressed.
 */
export function findIdxFiles(dir: string, split: 'train' | 'test'): { images: string; labels: string } {
  if (split !== 'train' && split !== 'test')
    throw new TypeError(`findIdxFiles: split must be 'train' or 'test', got ${JSON.stringify(split)}`);
  const prefix = split === 'train' ? 'train' : 't10k';
  const wanted = [`${prefix}-images-idx3-ubyte`, `${prefix}-labels-idx1-ubyte`];
  const found = wanted.map((base) => [`${base}.gz`, base].map((f) => path.join(dir, f)).find(isFile));
  if (found[0] !== undefined && found[1] !== undefined) return { images: found[0], labels: found[1] };
  const looked = wanted.map((b) => `${b}.gz or ${b}`).join(', and ');
  const dirNote = isDir(dir) ? '' : ' (the folder does not exist)';
  throw Errors.data(dir, '', `no IDX ${split} split here${dirNote}: looked for ${looked}`, INSTALL_HINT);
}

/** Loads the `split` of the IDX files in `dir` (see the header of this file). */
export function loadIdx(dir: string, split: 'train' | 'test', opts: LoadOptions): Dataset {
  const { dtype, shared, scale } = checkLoadOptions('loadIdx', opts);
  const files = findIdxFiles(dir, split);
  const img = readSource(files.images, 'IDX images file', true);
  const lab = readSource(files.labels, 'IDX labels file', true);
  const [n, rows, cols] = parseHeader(files.images, img, 3);
  const [nLabels] = parseHeader(files.labels, lab, 1);
  const inputs = rows! * cols!;
  const imgStart = 16;
  const labStart = 8;
  checkLength(files.images, img, imgStart, n! * inputs, `${n} images of ${rows}×${cols}`);
  checkLength(files.labels, lab, labStart, nLabels!, `${nLabels} labels`);
  if (nLabels !== n) {
    throw Errors.data(
      files.labels,
      '',
      `has ${nLabels} labels but ${path.basename(files.images)} has ${n} images`,
      'the two files must be of the same split',
    );
  }

  // Labels first (small): range check, one-hot rows.
  const labels = allocLabels(n!, shared);
  const y = alloc(dtype, n! * CLASSES, shared); // (n, 10)
  const lb = lab.bytes;
  for (let i = 0; i < n!; i++) {
    const v = lb[labStart + i]!;
    if (v >= CLASSES)
      throw Errors.data(files.labels, where(lab, labStart + i), `label ${v} of example ${i} is out of range 0..${CLASSES - 1}`);
    labels[i] = v;
    y[i * CLASSES + v] = 1;
  }

  // Pixels: one pass through a table of the 256 possible values, already rounded to dtype.
  const table = alloc(dtype, 256);
  for (let v = 0; v < 256; v++) table[v] = v * scale;
  const total = n! * inputs;
  const x = alloc(dtype, total, shared); // (n, rows·cols)
  const px = img.bytes;
  for (let i = 0; i < total; i++) x[i] = table[px[imgStart + i]!]!;

  const sha256 = contentHash([img.raw, lab.raw], { format: 'idx', classes: CLASSES, scale });
  return {
    name: `${path.basename(path.resolve(dir))}-${split}`,
    dtype,
    n: n!,
    inputs,
    outputs: CLASSES,
    x,
    y,
    labels,
    classes: CLASSES,
    sha256,
  };
}

/** An IDX images file's pixels as stored (unsigned bytes, n × rows × cols, row-major). */
export interface IdxImages {
  n: number;
  rows: number;
  cols: number;
  /** The pixels after the 16-byte header: image i is bytes [i·rows·cols, (i + 1)·rows·cols). */
  pixels: Uint8Array;
}

/**
 * `file` as an IDX images file (gzipped or not, known by its magic 00 00 08 03), with the checks
 * loadIdx makes (errors name the file and byte); null when it does not start as one, or cannot be
 * read (the caller's own reader then says why). The file is read once.
 */
export function idxImagesIn(file: string): IdxImages | null {
  let img: SourceFile;
  try {
    // the first 4 bytes tell a plain file (a CSV is not read whole here); gzip needs its contents
    const head = readHead(file, 4);
    const gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
    if (!gzip && !(head.length === 4 && head[0] === 0 && head[1] === 0 && head[2] === UBYTE && head[3] === 3)) return null;
    img = readSource(file, 'IDX images file', true);
  } catch {
    return null;
  }
  const b = img.bytes;
  if (!(b.length >= 4 && b[0] === 0 && b[1] === 0 && b[2] === UBYTE && b[3] === 3)) return null;
  const [n, rows, cols] = parseHeader(file, img, 3);
  checkLength(file, img, 16, n! * rows! * cols!, `${n} images of ${rows}×${cols}`);
  return { n: n!, rows: rows!, cols: cols!, pixels: b.subarray(16) };
}

/** Checks magic and element type; returns the `ndims` dimensions. */
function parseHeader(file: string, src: SourceFile, ndims: number): number[] {
  const b = src.bytes;
  const headerBytes = 4 + 4 * ndims;
  if (b.length >= 4) {
    const expected = `00 00 08 0${ndims}`;
    const found = hex(b.subarray(0, 4));
    const kind = ndims === 3 ? 'images' : 'labels';
    if (b[0] !== 0 || b[1] !== 0 || b[3] !== ndims) {
      const looksGz = b[0] === 0x1f && b[1] === 0x8b ? ' (a gzip header inside the gzip data: gzipped twice?)' : '';
      throw Errors.data(
        file,
        where(src, 0),
        `bad magic: found ${found}, expected ${expected} (IDX ${kind}, unsigned bytes, ${ndims} dimension${ndims === 1 ? '' : 's'})${looksGz}`,
        'is this an IDX file of the right kind (images-idx3 / labels-idx1)?',
      );
    }
    if (b[2] !== UBYTE) {
      throw Errors.data(
        file,
        where(src, 2),
        `element type code 0x${hex(b.subarray(2, 3))} (${TYPE_NAMES[b[2]!] ?? 'unknown'}) is not supported; expected 0x08 (unsigned byte)`,
      );
    }
  }
  if (b.length < headerBytes) truncated(file, src, headerBytes, 'the header');
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) {
    const v = b.readUInt32BE(4 + 4 * d);
    if (v === 0) throw Errors.data(file, where(src, 4 + 4 * d), `dimension ${d} is 0 (an empty data set)`);
    dims.push(v);
  }
  return dims;
}

/** The data after the header must be exactly `count` bytes, and a cut gzip stream is an error. */
function checkLength(file: string, src: SourceFile, start: number, count: number, what: string): void {
  const expected = start + count;
  if (src.bytes.length < expected) truncated(file, src, expected, `the header (${what})`);
  if (src.bytes.length > expected) {
    throw Errors.data(
      file,
      where(src, expected),
      `${src.bytes.length - expected} bytes after the data; the header (${what}) says it ends at byte ${expected}`,
    );
  }
  if (src.cut) throw Errors.data(file, 'gzip', 'the gzip stream ends before its trailer (cut file?)', 're-download or re-create the file');
}

function truncated(file: string, src: SourceFile, expected: number, what: string): never {
  const len = src.bytes.length;
  const gz = src.cut ? ' (the gzip stream is cut short)' : '';
  throw Errors.data(
    file,
    where(src, len),
    `truncated: the data ends at byte ${len}${gz}, but ${what} needs ${expected} bytes (${expected - len} missing)`,
    're-download or re-create the file',
  );
}

function where(src: SourceFile, offset: number): string {
  return src.gzip ? `byte ${offset} of the decompressed data` : `byte ${offset}`;
}

function hex(b: Uint8Array): string {
  return Array.from(b, (v) => v.toString(16).padStart(2, '0')).join(' ');
}

const TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
