/**
 * setup.test.ts — loadRunData's held-out set per source: IDX's t10k split by default, or a
 * seeded fraction of its train split when `heldOut` is set (as for a CSV).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { validate } from '../../src/config';
import { splitHeldOut } from '../../src/data/datasets';
import { loadIdx } from '../../src/data/idx';
import { loadRunData } from '../../src/train/setup';
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
