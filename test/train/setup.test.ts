/**
 * setup.test.ts — loadRunData's held-out set per source: IDX's t10k split by default, or a
 * seeded fraction of its train split when `heldOut` is set (as for a CSV); the model-size check.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { validate } from '../../src/config/validate';
import { splitHeldOut } from '../../src/data/datasets';
import { loadIdx } from '../../src/data/idx';
import { GradsyncError } from '../../src/errors';
import { checkModelFits, loadRunData } from '../../src/train/setup';
import { idxImages, idxLabels } from '../helpers/idx-files';
import { tempDir } from '../helpers/paths';

/** A folder with an IDX train split of 20 4-pixel images and, when `test`, a t10k split of 10. */
function idxFolder(test: boolean): string {
  const dir = tempDir();
  const write = (prefix: string, n: number, first: number): void => {
    fs.writeFileSync(
      path.join(dir, `${prefix}-images-idx3-ubyte`),
      idxImages(n, 2, 2, (i) => first + i),
    );
    fs.writeFileSync(path.join(dir, `${prefix}-labels-idx1-ubyte`), idxLabels(Array.from({ length: n }, (_, i) => i % 10)));
  };
  write('train', 20, 0);
  if (test) write('t10k', 10, 100);
  return dir;
}

const idxConfig = (dir: string, data: Record<string, unknown> = {}): ReturnType<typeof validate> =>
  validate({ dtype: 'float64', data: { source: 'idx', dir, ...data }, model: { layers: [{ units: 10, activation: 'softmax' }] }, seed: 3 });

describe('train/setup: loadRunData', () => {
  it('IDX without heldOut: trains on the train split and holds out the t10k split', () => {
    const dir = idxFolder(true);
    const d = loadRunData(idxConfig(dir));
    assert.equal(d.train.n, 20);
    assert.equal(d.heldOut?.n, 10);
    assert.deepEqual(d.heldOut!.x, loadIdx(dir, 'test', { dtype: 'float64', scale: 1 / 255 }).x);
    assert.deepEqual(loadRunData(idxConfig(dir, { heldOut: null })), d, 'null is the default');
  });

  it('IDX with heldOut 0.25: holds out that seeded part of the train split, as for a CSV, and reads no t10k split', () => {
    const dir = idxFolder(false);
    const d = loadRunData(idxConfig(dir, { heldOut: 0.25 }));
    const want = splitHeldOut(loadIdx(dir, 'train', { dtype: 'float64', scale: 1 / 255 }), 0.25, 3);
    assert.equal(d.train.n, 15);
    assert.equal(d.heldOut?.n, 5);
    assert.deepEqual([d.train.x, d.train.labels, d.train.sha256], [want.train.x, want.train.labels, want.train.sha256]);
    assert.deepEqual([d.heldOut!.x, d.heldOut!.labels, d.heldOut!.sha256], [want.heldOut.x, want.heldOut.labels, want.heldOut.sha256]);
  });

  it('IDX with heldOut 0: trains on the whole train split and holds nothing out', () => {
    const d = loadRunData(idxConfig(idxFolder(false), { heldOut: 0 }));
    assert.equal(d.train.n, 20);
    assert.equal(d.heldOut, null);
  });
});

describe('checkModelFits (issue 24)', () => {
  const spec = (units: number[], dtype: 'float32' | 'float64' = 'float64') => ({
    inputs: 64,
    layers: units.map((u) => ({ units: u, activation: 'tanh' as const })),
    loss: 'half-sse' as const,
    dtype,
  });

  it('passes a model whose two parameter buffers fit in memory', () => {
    assert.doesNotThrow(() => checkModelFits(spec([64, 10]), 1 << 20));
  });

  it("names the layer at which the parameters outgrow half the machine's memory, and the bytes", () => {
    // 64·64+64 = 4160 parameters (33,280 B), then 64·1000+1000 = 65,000 (520,000 B): over 1 MiB / 2; with the last layer, 79,170 in all
    assert.throws(
      () => checkModelFits(spec([64, 1000, 10]), 1 << 20),
      (e: unknown) => {
        assert.ok(e instanceof GradsyncError);
        assert.equal(e.code, 'GS_ERR_CONFIG');
        assert.equal(e.exitCode, 2);
        assert.match(e.message, /^config field "model\.layers\[1\]": 1000 units × 64 inputs: 508 KiB of float64 parameters; /);
        assert.match(e.message, /the model's parameters need 619 KiB \(633360 bytes\), and a run holds two copies .*1\.00 MiB of memory$/);
        return true;
      },
    );
  });

  it("names Node's largest ArrayBuffer when one buffer could not hold the parameters", () => {
    assert.throws(
      () => checkModelFits(spec([1 << 20, 1 << 20], 'float32'), 2 ** 50),
      /"model\.layers\[1\]".*more than one buffer can hold/,
    );
  });
});
