/**
 * idx.test.ts — findIdxFiles, loadIdx and defaultIdxDirs on small IDX fixtures (raw and gzip,
 * whole and cut; written by helpers/idx-files.ts), plus the real Fashion-MNIST files when they
 * are installed.
 */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { defaultIdxDirs, findIdxFiles, loadIdx } from '../../src/data/idx';
import { Rng } from '../../src/tensor/rng';
import { idxImages, idxLabels } from '../helpers/idx-files';
import { assertDataError } from './data-error';

const N = 12;
const ROWS = 3;
const COLS = 2;
const LABELS = Array.from({ length: N }, (_, i) => (i * 7) % 10);
const pixelOf = (i: number): number => (i * 37 + 11) % 256;

describe('data/idx', () => {
  let root: string;
  let seq = 0;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-idx-'));
  });
  after(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });
  /** A new folder holding `files` (name → bytes). */
  function folder(files: Record<string, Buffer>, name = `d${++seq}`): string {
    const dir = path.join(root, name);
    fs.mkdirSync(dir);
    for (const [f, b] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), b);
    return dir;
  }
  const images = idxImages(N, ROWS, COLS, pixelOf);
  const labels = idxLabels(LABELS);
  const rawTrain = (): Record<string, Buffer> => ({ 'train-images-idx3-ubyte': images, 'train-labels-idx1-ubyte': labels });
  const gzTrain = (): Record<string, Buffer> => ({
    'train-images-idx3-ubyte.gz': zlib.gzipSync(images),
    'train-labels-idx1-ubyte.gz': zlib.gzipSync(labels),
  });

  describe('defaultIdxDirs', () => {
    it('lists the folder of the Debian package dataset-fashion-mnist', () => {
      assert.deepEqual(defaultIdxDirs(), ['/usr/share/datasets/fashion-mnist']);
    });
  });

  describe('findIdxFiles', () => {
    it('finds the train files and the t10k files of the test split', () => {
      const dir = folder({ ...rawTrain(), 't10k-images-idx3-ubyte.gz': Buffer.alloc(1), 't10k-labels-idx1-ubyte.gz': Buffer.alloc(1) });
      assert.deepEqual(findIdxFiles(dir, 'train'), {
        images: path.join(dir, 'train-images-idx3-ubyte'),
        labels: path.join(dir, 'train-labels-idx1-ubyte'),
      });
      assert.deepEqual(findIdxFiles(dir, 'test'), {
        images: path.join(dir, 't10k-images-idx3-ubyte.gz'),
        labels: path.join(dir, 't10k-labels-idx1-ubyte.gz'),
      });
    });
    it('prefers the .gz file when both are there', () => {
      const dir = folder({ ...rawTrain(), ...gzTrain() });
      assert.equal(findIdxFiles(dir, 'train').images, path.join(dir, 'train-images-idx3-ubyte.gz'));
    });
    it('lists every name it looked for, with the install hint, when a file is missing', () => {
      const dir = folder({ 'train-images-idx3-ubyte.gz': Buffer.alloc(1) });
      const e = assertDataError(
        () => findIdxFiles(dir, 'train'),
        dir,
        'train-images-idx3-ubyte.gz or train-images-idx3-ubyte',
        'train-labels-idx1-ubyte.gz or train-labels-idx1-ubyte',
      );
      assert.equal(e.hint, 'apt-get install dataset-fashion-mnist (dpkg -L dataset-fashion-mnist shows where)');
    });
    it('says when the folder does not exist', () => {
      const dir = path.join(root, 'no-such-folder');
      assertDataError(() => findIdxFiles(dir, 'test'), dir, 'does not exist', 't10k-images-idx3-ubyte');
    });
  });

  describe('loadIdx', () => {
    it('loads pixels times scale as x and labels as one-hot rows over 10 classes', () => {
      const dir = folder(rawTrain(), 'fixture-raw');
      const ds = loadIdx(dir, 'train', { dtype: 'float64', scale: 1 / 255 });
      assert.equal(ds.name, 'fixture-raw-train');
      assert.equal(ds.n, N);
      assert.equal(ds.inputs, ROWS * COLS);
      assert.equal(ds.outputs, 10);
      assert.equal(ds.classes, 10);
      assert.deepEqual(Array.from(ds.labels!), LABELS);
      assert.deepEqual(
        Array.from(ds.x),
        Array.from({ length: N * ROWS * COLS }, (_, i) => pixelOf(i) * (1 / 255)),
      );
      for (let i = 0; i < N; i++) {
        const row = Array.from(ds.y.subarray(i * 10, (i + 1) * 10));
        assert.deepEqual(
          row,
          Array.from({ length: 10 }, (_, c) => (c === LABELS[i] ? 1 : 0)),
        );
      }
    });
    it('keeps pixels as 0..255 with the default scale 1', () => {
      const ds = loadIdx(folder(rawTrain()), 'train', { dtype: 'float32' });
      assert.equal(ds.x[0], pixelOf(0));
      assert.ok(ds.x.every((v) => Number.isInteger(v) && v >= 0 && v <= 255));
    });
    it('loads the gzip files to the same arrays as the raw files', () => {
      const a = loadIdx(folder(rawTrain()), 'train', { dtype: 'float32', scale: 1 / 255 });
      const b = loadIdx(folder(gzTrain()), 'train', { dtype: 'float32', scale: 1 / 255 });
      assert.deepEqual(b.x, a.x);
      assert.deepEqual(b.y, a.y);
      assert.deepEqual(b.labels, a.labels);
    });
    it('gives in float32 the float64 values rounded, over SharedArrayBuffer when shared', () => {
      const dir = folder(gzTrain());
      const a = loadIdx(dir, 'train', { dtype: 'float64', scale: 1 / 255 });
      const b = loadIdx(dir, 'train', { dtype: 'float32', scale: 1 / 255, shared: true });
      assert.deepEqual(Array.from(b.x), Array.from(a.x, Math.fround));
      assert.ok(b.x instanceof Float32Array && b.x.buffer instanceof SharedArrayBuffer);
      assert.ok(b.y.buffer instanceof SharedArrayBuffer && b.labels!.buffer instanceof SharedArrayBuffer);
    });
    it('loads the test split from the t10k files', () => {
      const dir = folder({ 't10k-images-idx3-ubyte': idxImages(2, 1, 1, (i) => i), 't10k-labels-idx1-ubyte': idxLabels([9, 0]) }, 'fx');
      const ds = loadIdx(dir, 'test', { dtype: 'float64' });
      assert.equal(ds.name, 'fx-test');
      assert.deepEqual(Array.from(ds.labels!), [9, 0]);
    });
    it('hashes the images bytes on disk, then the labels bytes, then the options, as documented', () => {
      const files = gzTrain();
      const ds = loadIdx(folder(files), 'train', { dtype: 'float64', scale: 0.5 });
      const expected = crypto
        .createHash('sha256')
        .update(files['train-images-idx3-ubyte.gz']!)
        .update(files['train-labels-idx1-ubyte.gz']!)
        .update('\0gradsync-data-v1\0')
        .update(JSON.stringify({ format: 'idx', classes: 10, scale: 0.5 }))
        .digest('hex');
      assert.equal(ds.sha256, expected);
      assert.equal(loadIdx(folder(files), 'train', { dtype: 'float32', scale: 0.5 }).sha256, expected);
      assert.notEqual(loadIdx(folder(files), 'train', { dtype: 'float64', scale: 1 }).sha256, expected);
    });
  });

  describe('loadIdx errors', () => {
    const load = (dir: string): unknown => loadIdx(dir, 'train', { dtype: 'float64' });
    it('names the file and the 4 bytes found on a bad magic', () => {
      const bad = Buffer.from(images);
      bad[0] = 0x12;
      bad[1] = 0x34;
      const dir = folder({ ...rawTrain(), 'train-images-idx3-ubyte': bad });
      assertDataError(() => load(dir), 'train-images-idx3-ubyte', 'byte 0', 'bad magic', 'found 12 34 08 03', 'expected 00 00 08 03');
    });
    it('calls a labels file in place of the images file a bad magic', () => {
      const dir = folder({ ...rawTrain(), 'train-images-idx3-ubyte': labels });
      assertDataError(() => load(dir), 'train-images-idx3-ubyte', 'found 00 00 08 01');
    });
    it('names a wrong element type code', () => {
      const bad = Buffer.from(labels);
      bad[2] = 0x0d;
      const dir = folder({ ...rawTrain(), 'train-labels-idx1-ubyte': bad });
      assertDataError(() => load(dir), 'train-labels-idx1-ubyte', 'byte 2', 'type code 0x0d', 'float32', 'expected 0x08');
    });
    it('names the byte offset where the data of a truncated raw images file ends and the bytes expected', () => {
      const cut = images.subarray(0, 40);
      const dir = folder({ ...rawTrain(), 'train-images-idx3-ubyte': cut });
      const expected = 16 + N * ROWS * COLS;
      assertDataError(
        () => load(dir),
        'train-images-idx3-ubyte',
        'byte 40',
        'truncated',
        `needs ${expected} bytes`,
        `${expected - 40} missing`,
      );
    });
    it('names the byte offset when the header itself is cut', () => {
      const dir = folder({ ...rawTrain(), 'train-labels-idx1-ubyte': labels.subarray(0, 6) });
      assertDataError(() => load(dir), 'train-labels-idx1-ubyte', 'byte 6', 'truncated', 'needs 8 bytes');
    });
    it('names the decompressed byte offset where a cut gzip images file ends', () => {
      // Incompressible pixels, so a cut in the compressed stream is a cut in the pixels.
      const rng = new Rng(5);
      const big = idxImages(200, 28, 28, () => rng.nextU32() & 0xff);
      const gz = zlib.gzipSync(big);
      const dir = folder({
        'train-images-idx3-ubyte.gz': gz.subarray(0, Math.floor(gz.length / 2)),
        'train-labels-idx1-ubyte.gz': zlib.gzipSync(idxLabels(new Array(200).fill(3))),
      });
      const e = assertDataError(
        () => load(dir),
        'train-images-idx3-ubyte.gz',
        'of the decompressed data',
        'truncated',
        'gzip stream is cut',
        `needs ${big.length} bytes`,
      );
      const at = Number(/data ends at byte (\d+)/.exec(e.message)![1]);
      assert.ok(at > 16 && at < big.length, `offset ${at}`);
      assert.ok(e.message.includes(`byte ${at} of the decompressed data`));
    });
    it('names a gzip file whose data is whole but whose trailer is cut', () => {
      const gz = zlib.gzipSync(labels);
      const dir = folder({ ...gzTrain(), 'train-labels-idx1-ubyte.gz': gz.subarray(0, gz.length - 4) });
      assertDataError(() => load(dir), 'train-labels-idx1-ubyte.gz', 'trailer');
    });
    it('names a corrupt gzip file', () => {
      const gz = Buffer.from(zlib.gzipSync(images));
      gz[gz.length - 6] ^= 0xff; // the CRC no longer matches
      const dir = folder({ ...gzTrain(), 'train-images-idx3-ubyte.gz': gz });
      assertDataError(() => load(dir), 'train-images-idx3-ubyte.gz', 'corrupt gzip');
    });
    it('names bytes after the data', () => {
      const dir = folder({ ...rawTrain(), 'train-labels-idx1-ubyte': Buffer.concat([labels, Buffer.alloc(3)]) });
      assertDataError(() => load(dir), 'train-labels-idx1-ubyte', `byte ${8 + N}`, '3 bytes after the data');
    });
    it('names an image/label count mismatch with both counts', () => {
      const dir = folder({ ...rawTrain(), 'train-labels-idx1-ubyte': idxLabels(LABELS.slice(0, N - 1)) });
      assertDataError(() => load(dir), 'train-labels-idx1-ubyte', `has ${N - 1} labels`, `has ${N} images`);
    });
    it('names a label out of range with its byte offset', () => {
      const bad = LABELS.slice();
      bad[5] = 10;
      const dir = folder({ ...rawTrain(), 'train-labels-idx1-ubyte': idxLabels(bad) });
      assertDataError(() => load(dir), 'train-labels-idx1-ubyte', 'byte 13', 'label 10 of example 5', 'out of range 0..9');
    });
    it('names an empty file', () => {
      const dir = folder({ ...rawTrain(), 'train-labels-idx1-ubyte': Buffer.alloc(0) });
      assertDataError(() => load(dir), 'train-labels-idx1-ubyte', 'empty');
    });
  });

  describe('the real Fashion-MNIST (Debian package dataset-fashion-mnist)', () => {
    const dir = defaultIdxDirs().find((d) => fs.existsSync(path.join(d, 'train-images-idx3-ubyte.gz')));
    for (const [split, n] of [
      ['train', 60000],
      ['test', 10000],
    ] as const) {
      it(`loads the ${split} split: ${n} images of 28×28, ${n / 10} of each class, pixels in [0, 1]`, function () {
        // The package is not part of every machine: skip rather than fail where it is not installed.
        if (dir === undefined) this.skip();
        const ds = loadIdx(dir, split, { dtype: 'float32', scale: 1 / 255 });
        assert.equal(ds.name, `fashion-mnist-${split}`);
        assert.equal(ds.n, n);
        assert.equal(ds.inputs, 784);
        const counts = new Array(10).fill(0);
        for (const l of ds.labels!) counts[l]++;
        assert.deepEqual(counts, new Array(10).fill(n / 10));
        let min = Infinity;
        let max = -Infinity;
        for (const v of ds.x) {
          if (v < min) min = v;
          if (v > max) max = v;
        }
        assert.equal(min, 0);
        assert.equal(max, 1);
      });
    }
  });
});
