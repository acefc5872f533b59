/** datasets.test.ts — the doubling set, the vendored digits (file, path, load) and splitHeldOut. */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { digitsPath, doubling, loadDigits, splitHeldOut } from '../../src/data/datasets';
import { subset, type Dataset } from '../../src/data/dataset';
import { Rng } from '../../src/tensor/rng';

const DIGITS_SHA256 = '46abec6b12486ad9e51943373abcf22bbea1b5a51a1619b361570d8893f1464a';

describe('data/datasets', () => {
  describe('doubling', () => {
    it('is the original 20 examples x = 0.025·(i+1) and y = 2·x, one input, one output, no labels', () => {
      const ds = doubling('float64');
      assert.equal(ds.name, 'doubling');
      assert.equal(ds.n, 20);
      assert.equal(ds.inputs, 1);
      assert.equal(ds.outputs, 1);
      assert.equal(ds.labels, null);
      assert.equal(ds.classes, null);
      for (let i = 0; i < 20; i++) {
        assert.equal(ds.x[i], 0.025 * (i + 1));
        assert.equal(ds.y[i], 2 * (0.025 * (i + 1)));
      }
      assert.equal(ds.x[0], 0.025);
      assert.equal(ds.y[19], 1);
    });
    it('is the float64 set rounded in float32, with the same hash', () => {
      const a = doubling('float64');
      const b = doubling('float32');
      assert.ok(b.x instanceof Float32Array);
      assert.deepEqual(Array.from(b.x), Array.from(a.x, Math.fround));
      assert.deepEqual(Array.from(b.y), Array.from(a.y, Math.fround));
      assert.equal(b.sha256, a.sha256);
    });
    it('hashes its own float64 arrays as documented, and the hash is pinned (workers find the set by it)', () => {
      const ds = doubling('float64');
      const le = (a: ArrayLike<number>): Buffer => {
        const b = Buffer.alloc(a.length * 8);
        for (let i = 0; i < a.length; i++) b.writeDoubleLE(a[i]!, i * 8);
        return b;
      };
      const expected = crypto
        .createHash('sha256')
        .update(le(ds.x))
        .update(le(ds.y))
        .update('\0gradsync-data-v1\0')
        .update(JSON.stringify({ format: 'doubling' }))
        .digest('hex');
      assert.equal(ds.sha256, expected);
      assert.equal(ds.sha256, DOUBLING_SHA256);
    });
    it('goes to shared memory when asked', () => {
      const ds = doubling('float32', true);
      assert.ok(ds.x.buffer instanceof SharedArrayBuffer && ds.y.buffer instanceof SharedArrayBuffer);
    });
  });

  describe('digits', () => {
    it('vendors the file with the documented sha256 and size', () => {
      const bytes = fs.readFileSync(digitsPath());
      assert.equal(crypto.createHash('sha256').update(bytes).digest('hex'), DIGITS_SHA256);
      assert.equal(bytes.length, 57512);
    });
    it('resolves digitsPath to an absolute path in the package root', () => {
      const p = digitsPath();
      assert.ok(path.isAbsolute(p));
      assert.ok(p.endsWith(path.join('config', 'data', 'digits.csv.gz')));
      const root = path.dirname(path.dirname(path.dirname(p)));
      assert.equal(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).name, 'gradsync');
    });
    it('loads 1797 examples of 64 features in [0, 1] and 10 classes of 174..183 examples each', () => {
      const ds = loadDigits({ dtype: 'float64' });
      assert.equal(ds.name, 'digits');
      assert.equal(ds.n, 1797);
      assert.equal(ds.inputs, 64);
      assert.equal(ds.classes, 10);
      assert.equal(ds.outputs, 10);
      const counts = new Array(10).fill(0);
      for (const l of ds.labels!) counts[l]++;
      for (const c of counts) assert.ok(c >= 174 && c <= 183, `class count ${c}`);
      assert.equal(
        counts.reduce((s, c) => s + c, 0),
        1797,
      );
      assert.equal(Math.min(...ds.x), 0);
      assert.equal(Math.max(...ds.x), 1);
      // 8x8 pixels 0..16 scaled by 1/16: every feature is a multiple of 1/16
      assert.ok(ds.x.every((v) => Number.isInteger(v * 16)));
      for (let i = 0; i < ds.n; i++) assert.equal(ds.y[i * 10 + ds.labels![i]!], 1);
    });
    it('takes another scale and float32 with shared memory', () => {
      const raw = loadDigits({ dtype: 'float32', scale: 1, shared: true });
      assert.equal(Math.max(...raw.x), 16);
      assert.ok(raw.x.buffer instanceof SharedArrayBuffer);
      assert.notEqual(raw.sha256, loadDigits({ dtype: 'float32' }).sha256);
      assert.equal(loadDigits({ dtype: 'float32' }).sha256, loadDigits({ dtype: 'float64' }).sha256);
    });
    it('finds the digits file from a copy of the package installed elsewhere (walking up to the package.json named "gradsync")', () => {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-install-'));
      try {
        const pkg = path.join(tmp, 'app', 'node_modules', 'gradsync');
        const compiledSrc = path.dirname(path.dirname(require.resolve('../../src/data/datasets')));
        const copy = (rel: string): void => {
          fs.mkdirSync(path.dirname(path.join(pkg, 'dist', 'src', rel)), { recursive: true });
          fs.copyFileSync(path.join(compiledSrc, rel), path.join(pkg, 'dist', 'src', rel));
        };
        for (const f of ['errors.js', 'tensor/dtype.js', 'tensor/rng.js']) copy(f);
        for (const f of fs.readdirSync(path.join(compiledSrc, 'data')).filter((n) => n.endsWith('.js'))) copy(`data/${f}`);
        fs.writeFileSync(path.join(tmp, 'app', 'package.json'), JSON.stringify({ name: 'some-app' }));
        fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'gradsync' }));
        fs.writeFileSync(path.join(pkg, 'dist', 'src', 'package.json'), JSON.stringify({ type: 'commonjs' })); // no name: walked past
        fs.mkdirSync(path.join(pkg, 'config', 'data'), { recursive: true });
        fs.copyFileSync(digitsPath(), path.join(pkg, 'config', 'data', 'digits.csv.gz'));
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const installed = require(path.join(pkg, 'dist', 'src', 'data', 'datasets.js')) as typeof import('../../src/data/datasets');
        assert.equal(installed.digitsPath(), path.join(pkg, 'config', 'data', 'digits.csv.gz'));
        assert.equal(installed.loadDigits({ dtype: 'float32' }).n, 1797);
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    });
  });

  describe('splitHeldOut', () => {
    const ds = loadDigits({ dtype: 'float64' });
    const rowsOf = (d: Dataset): string[] =>
      Array.from({ length: d.n }, (_, i) => Array.from(d.x.subarray(i * d.inputs, (i + 1) * d.inputs)).join(','));

    it('is deterministic for a seed and differs between seeds', () => {
      const a = splitHeldOut(ds, 0.2, 42);
      const b = splitHeldOut(ds, 0.2, 42);
      const c = splitHeldOut(ds, 0.2, 43);
      assert.deepEqual(a.heldOut.x, b.heldOut.x);
      assert.equal(a.heldOut.sha256, b.heldOut.sha256);
      assert.equal(a.train.sha256, b.train.sha256);
      assert.notEqual(a.heldOut.sha256, c.heldOut.sha256);
    });
    it('holds out round(n·fraction) examples and trains on the rest: disjoint and complete, each part in ascending order', () => {
      // Recover each example's index by tagging the rows with their index as the only feature.
      const tagged: Dataset = { ...ds, inputs: 1, x: Float64Array.from({ length: ds.n }, (_, i) => i) };
      const { train, heldOut } = splitHeldOut(tagged, 0.25, 7);
      assert.equal(heldOut.n, Math.round(1797 * 0.25));
      assert.equal(train.n + heldOut.n, 1797);
      const h = Array.from(heldOut.x);
      const t = Array.from(train.x);
      assert.deepEqual(
        h,
        h.slice().sort((p, q) => p - q),
      );
      assert.deepEqual(
        t,
        t.slice().sort((p, q) => p - q),
      );
      assert.deepEqual(
        [...h, ...t].sort((p, q) => p - q),
        Array.from({ length: 1797 }, (_, i) => i),
      );
      for (let k = 0; k < heldOut.n; k++) assert.equal(heldOut.labels![k], ds.labels![h[k]!]);
    });
    it('follows the documented recipe: new Rng(seed).shuffle, the first round(n·f) indices held out', () => {
      const { train, heldOut } = splitHeldOut(ds, 0.1, 3);
      // the same rows as a subset by the recipe's indices
      const perm = Uint32Array.from({ length: ds.n }, (_, i) => i);
      new Rng(3).shuffle(perm);
      const k = Math.round(ds.n * 0.1);
      assert.deepEqual(rowsOf(heldOut), rowsOf(subset(ds, perm.slice(0, k).sort())));
      assert.deepEqual(rowsOf(train), rowsOf(subset(ds, perm.slice(k).sort())));
      assert.equal(heldOut.sha256, subset(ds, perm.slice(0, k).sort()).sha256);
    });
    it('gives an empty held-out set for fraction 0, and names the parts', () => {
      const { train, heldOut } = splitHeldOut(ds, 0, 1);
      assert.equal(heldOut.n, 0);
      assert.equal(heldOut.x.length, 0);
      assert.equal(train.n, ds.n);
      assert.deepEqual(train.x, ds.x);
      assert.equal(train.name, 'digits-train');
      assert.equal(heldOut.name, 'digits-held-out');
    });
    it('puts both parts in shared memory when shared', () => {
      const { train, heldOut } = splitHeldOut(ds, 0.5, 1, true);
      assert.ok(train.x.buffer instanceof SharedArrayBuffer && heldOut.y.buffer instanceof SharedArrayBuffer);
    });
    it('rejects a fraction outside [0, 1] with a RangeError naming it', () => {
      assert.throws(() => splitHeldOut(ds, 1.5, 1), { name: 'RangeError', message: /heldOutFraction/ });
      assert.throws(() => splitHeldOut(ds, Number.NaN, 1), { name: 'RangeError', message: /heldOutFraction/ });
    });
  });
});

const DOUBLING_SHA256 = '42237bfcd51ee5c901a5c8c0409d10b3d394e73941120c39a88e1cacb196fb30';
