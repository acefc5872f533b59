/**
 * datasets.ts — the built-in data sets (the original doubling problem, the vendored 8×8
 * digits) and the fixed seeded held-out split.
 *
 * doubling: the user's numpy problem, 20 examples x = 0.025·(i+1) (exactly the JS double
 * 0.025*(i+1)), y = 2·x; its hash is contentHash of its float64 x then y as little-endian
 * bytes with options { format: 'doubling' }, so both dtypes share it.
 * digits: config/data/digits.csv.gz of the gradsync package, found from this module's own
 * folder (works from src/ under ts-node, from dist/src/, and from an installed package).
 * Not here: parsing (csv.ts, idx.ts), epoch order (batching.ts).
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Errors } from '../errors';
import { alloc, type DType } from '../tensor/dtype';
import { Rng } from '../tensor/rng';
import { checkLoadOptions, contentHash, subset, type Dataset, type LoadOptions } from './dataset';
import { loadCsv } from './csv';

const DOUBLING_N = 20;
const DIGITS_FILE = path.join('config', 'data', 'digits.csv.gz');

/** The original problem: x = 0.025·(i+1), i = 0..19, y = 2·x; one input, one output, no labels. */
export function doubling(dtype: DType, shared = false): Dataset {
  checkLoadOptions('doubling', { dtype });
  const x64 = new Float64Array(DOUBLING_N);
  const y64 = new Float64Array(DOUBLING_N);
  for (let i = 0; i < DOUBLING_N; i++) {
    x64[i] = 0.025 * (i + 1);
    y64[i] = 2 * x64[i]!;
  }
  const x = alloc(dtype, DOUBLING_N, shared); // (20, 1)
  const y = alloc(dtype, DOUBLING_N, shared); // (20, 1)
  x.set(x64);
  y.set(y64);
  const sha256 = contentHash([littleEndianF64(x64), littleEndianF64(y64)], { format: 'doubling' });
  return { name: 'doubling', dtype, n: DOUBLING_N, inputs: 1, outputs: 1, x, y, labels: null, classes: null, sha256 };
}

/**
 * Absolute path of the vendored digits file: walks up from this module's folder to the first
 * folder whose package.json is named "gradsync".
 */
export function digitsPath(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (packageName(pkg) === 'gradsync') return path.join(dir, DIGITS_FILE);
    if (path.dirname(dir) === dir) break;
  }
  throw Errors.data(
    DIGITS_FILE,
    '',
    `cannot find the gradsync package folder above ${__dirname}`,
    'the digits file ships with the gradsync package; reinstall it',
  );
}

/** The 1,797 8×8 digits, 64 features scaled by opts.scale (default 1/16, so [0, 1]), 10 classes. */
export function loadDigits(opts: LoadOptions): Dataset {
  const ds = loadCsv(digitsPath(), { label: 'last', classes: 10, header: false, ...opts, scale: opts.scale ?? 1 / 16 });
  return { ...ds, name: 'digits' };
}

/**
 * A fixed seeded split: permute 0..n-1 with new Rng(seed).shuffle; the first
 * round(n·heldOutFraction) indices, sorted ascending, are held out and the rest, sorted
 * ascending, train. Both parts go to shared memory when `shared`. Names: '<name>-train',
 * '<name>-held-out'; hashes as subset() defines them.
 */
export function splitHeldOut(ds: Dataset, heldOutFraction: number, seed: number, shared = false): { train: Dataset; heldOut: Dataset } {
  if (!(heldOutFraction >= 0 && heldOutFraction <= 1))
    throw new RangeError(`splitHeldOut: heldOutFraction must be in [0, 1], got ${heldOutFraction}`);
  if (!Number.isInteger(seed)) throw new RangeError(`splitHeldOut: seed must be an integer, got ${seed}`);
  const perm = new Uint32Array(ds.n);
  for (let i = 0; i < ds.n; i++) perm[i] = i;
  new Rng(seed).shuffle(perm);
  const k = Math.round(ds.n * heldOutFraction);
  const held = perm.slice(0, k).sort();
  const train = perm.slice(k).sort();
  return {
    train: subset(ds, train, `${ds.name}-train`, shared),
    heldOut: subset(ds, held, `${ds.name}-held-out`, shared),
  };
}

function packageName(file: string): string | null {
  try {
    const name = (JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: unknown }).name;
    return typeof name === 'string' ? name : null;
  } catch {
    return null; // no package.json here, or not JSON: keep walking up
  }
}

function littleEndianF64(a: Float64Array): Uint8Array {
  const out = new Uint8Array(a.length * 8);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) dv.setFloat64(i * 8, a[i]!, true);
  return out;
}
