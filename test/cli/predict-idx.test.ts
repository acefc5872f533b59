/**
 * `gradsync predict --input FILE` with an IDX images file (issue 23: an image model predicts
 * on images): each image is one row, its raw pixels scaled as training scaled them, so the
 * outputs equal those of the same pixels given as CSV rows, bit for bit; gzip or not; an image
 * size that is not the model's input is GS_ERR_DATA naming the file, the byte and both shapes.
 * A real process per command, on a digits-cnn checkpoint ([1, 8, 8]).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { repoRoot, tempDir } from '../helpers/paths';

const BIN = path.join(repoRoot(), 'bin', 'gradsync.js');

function gradsync(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** An IDX images file (magic 00 00 08 03, n, rows, cols big-endian, then the bytes). */
function idx(images: number[][], rows: number, cols: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32BE(0x00000803, 0);
  h.writeUInt32BE(images.length, 4);
  h.writeUInt32BE(rows, 8);
  h.writeUInt32BE(cols, 12);
  return Buffer.concat([h, Buffer.from(images.flat())]);
}

describe('cli: predict on an IDX images file', function () {
  this.timeout(180_000);
  let dir = '';
  let run = '';
  /** Four digits images: pixel values 0..16, as the embedded digits CSV holds them. */
  const images = [0, 1, 2, 3].map((k) => Array.from({ length: 64 }, (_, i) => (i * 7 + k * 13) % 17));

  before(() => {
    dir = tempDir();
    run = path.join(dir, 'run');
    const cfg = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'config', 'digits-cnn.json'), 'utf8'));
    const file = path.join(dir, 'cnn.json');
    fs.writeFileSync(file, JSON.stringify({ ...cfg, epochs: 1, threads: 1 }));
    const t = gradsync(['train', file, '--run-dir', run, '--no-progress']);
    assert.equal(t.code, 0, t.stderr);
  });

  it('gives, image by image, the outputs of the same pixels as CSV rows (plain and gzipped)', () => {
    const csv = path.join(dir, 'rows.csv');
    fs.writeFileSync(csv, `${images.map((r) => r.join(',')).join('\n')}\n`);
    const plain = path.join(dir, 'images-idx3-ubyte');
    fs.writeFileSync(plain, idx(images, 8, 8));
    const gz = path.join(dir, 'images-idx3-ubyte.gz');
    fs.writeFileSync(gz, zlib.gzipSync(idx(images, 8, 8)));
    const want = gradsync(['predict', '--checkpoint', run, '--input', csv, '--json']);
    assert.equal(want.code, 0, want.stderr);
    const rows = JSON.parse(want.stdout) as { rows: number; results: { output: number[]; class: number }[] };
    assert.equal(rows.rows, 4);
    for (const f of [plain, gz]) {
      const got = gradsync(['predict', '--checkpoint', run, '--input', f, '--json']);
      assert.equal(got.code, 0, got.stderr);
      const g = JSON.parse(got.stdout) as typeof rows;
      assert.equal(g.rows, 4);
      assert.deepEqual(
        g.results.map((r) => r.output),
        rows.results.map((r) => r.output),
      );
      assert.deepEqual(
        g.results.map((r) => r.class),
        rows.results.map((r) => r.class),
      );
    }
    const human = gradsync(['predict', '--checkpoint', run, '--input', plain]);
    assert.equal(human.code, 0, human.stderr);
    assert.deepEqual(
      human.stdout
        .trim()
        .split('\n')
        .map((l) => /^class (\d+) {2}\(p = \d\.\d{4}\)$/.exec(l)?.[1]),
      rows.results.map((r) => String(r.class)),
    );
  });

  it('images of another size are GS_ERR_DATA naming the file, the byte and both shapes', () => {
    const f = path.join(dir, 'big-idx3-ubyte');
    fs.writeFileSync(f, idx([new Array<number>(28 * 28).fill(1)], 28, 28));
    const r = gradsync(['predict', '--checkpoint', run, '--input', f]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /GS_ERR_DATA/);
    assert.ok(r.stderr.includes(`${f} (byte 8): images of 28×28 = 784 pixels, but the model takes 64 inputs (1×8×8)`), r.stderr);
  });

  it('a cut IDX file is refused naming the byte where its data ends', () => {
    const f = path.join(dir, 'cut-idx3-ubyte');
    fs.writeFileSync(f, idx(images, 8, 8).subarray(0, 16 + 64 + 10));
    const r = gradsync(['predict', '--checkpoint', run, '--input', f]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /GS_ERR_DATA/);
    assert.match(r.stderr, /truncated: the data ends at byte 90, but the header \(4 images of 8×8\) needs 272 bytes \(182 missing\)/);
  });
});
