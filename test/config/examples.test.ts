/**
 * config/examples/: every example config validates, the example CSVs are what their formulas
 * say, and the README's CSV commands (train, then predict on the checkpoint) run as written.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfigFile } from '../../src/config/load';
import { loadCsv } from '../../src/data/csv';
import { repoRoot, tempDir } from '../helpers/paths';
import { EXAMPLE_DATA, exampleDataDir } from './example-data';

const examples = (): string => path.join(repoRoot(), 'config', 'examples');

function gradsync(args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(repoRoot(), 'bin', 'gradsync.js'), ...args], {
    cwd: tempDir(),
    input,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The feature columns of the first `n` data rows of an example CSV, as predict reads them. */
function featureRows(file: string, features: number, n: number): string {
  const lines = fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .slice(1, n + 1);
  return `${lines.map((l) => l.split(',').slice(0, features).join(',')).join('\n')}\n`;
}

describe('config/examples', function () {
  this.timeout(60_000);

  it('holds the CSV regression, CSV classification and Fashion-MNIST examples, and every config there validates', () => {
    const configs = fs
      .readdirSync(examples())
      .filter((f) => f.endsWith('.json'))
      .sort();
    assert.deepEqual(configs, ['csv-classification.json', 'csv-regression.json', 'fashion-mnist-mlp.json']);
    for (const f of configs) {
      const cfg = loadConfigFile(path.join(examples(), f));
      if (cfg.data.source === 'csv')
        assert.ok(fs.existsSync(cfg.data.path), `${f}: data.path ${cfg.data.path} exists (resolved from the config's folder)`);
    }
    const fashion = loadConfigFile(path.join(examples(), 'fashion-mnist-mlp.json'));
    assert.equal(fashion.data.source, 'idx');
  });

  it('the example CSVs are exactly what the formulas of example-data.ts write', () => {
    for (const [name, make] of Object.entries(EXAMPLE_DATA)) {
      assert.equal(
        fs.readFileSync(path.join(exampleDataDir(repoRoot()), name), 'utf8'),
        make(),
        `${name}: regenerate with node dist/test/config/example-data.js`,
      );
    }
  });

  it('sine.csv loads as 200 rows of one feature and one target, spirals.csv as 200 rows of two features and two classes', () => {
    const dir = exampleDataDir(repoRoot());
    const sine = loadCsv(path.join(dir, 'sine.csv'), { dtype: 'float64', label: 'none', targets: 1 });
    assert.deepEqual([sine.n, sine.inputs, sine.outputs, sine.classes], [200, 1, 1, null]);
    const spirals = loadCsv(path.join(dir, 'spirals.csv'), { dtype: 'float64' });
    assert.deepEqual([spirals.n, spirals.inputs, spirals.outputs, spirals.classes], [200, 2, 2, 2]);
  });

  interface Summary {
    steps: number;
    checkpoint: string;
    loss: number;
    accuracy: number | null;
    heldOutLoss: number | null;
  }
  interface Predicted {
    rows: number;
    results: { output: number[]; class?: number }[];
  }
  /** Trains example `config` for 20 steps, then predicts the first `rows` rows of its CSV (`features` columns), both --json. */
  function trainThenPredict(config: string, csv: string, features: number, rows: number): { s: Summary; out: Predicted } {
    const t = gradsync(['train', path.join(examples(), config), '--steps', '20', '--run-dir', tempDir(), '--json']);
    assert.equal(t.code, 0, t.stderr);
    const s = JSON.parse(t.stdout) as Summary;
    assert.equal(s.steps, 20);
    const p = gradsync(
      ['predict', '--checkpoint', s.checkpoint, '--json'],
      featureRows(path.join(exampleDataDir(repoRoot()), csv), features, rows),
    );
    assert.equal(p.code, 0, p.stderr);
    const out = JSON.parse(p.stdout) as Predicted;
    assert.equal(out.rows, rows);
    return { s, out };
  }

  it('csv-regression trains a few steps and predict prints one real number per input row', () => {
    const { s, out } = trainThenPredict('csv-regression.json', 'sine.csv', 1, 5);
    assert.ok(Number.isFinite(s.loss));
    assert.equal(s.accuracy, null, 'regression has no accuracy');
    for (const r of out.results) {
      assert.equal(r.output.length, 1);
      assert.ok(Number.isFinite(r.output[0]));
      assert.equal(r.class, undefined);
    }
  });

  it('csv-classification trains a few steps and predict prints a class and probabilities that sum to 1 per input row', () => {
    const { s, out } = trainThenPredict('csv-classification.json', 'spirals.csv', 2, 4);
    // heldOut 0.2 of 200 rows: the accuracy counts 40 held-out examples
    assert.ok(Number.isFinite(s.heldOutLoss));
    assert.ok(s.accuracy !== null && Math.abs(s.accuracy * 40 - Math.round(s.accuracy * 40)) < 1e-9, `accuracy ${s.accuracy} is k/40`);
    for (const r of out.results) {
      assert.equal(r.output.length, 2);
      assert.ok(Math.abs(r.output[0]! + r.output[1]! - 1) < 1e-12);
      assert.equal(r.class, r.output[0]! >= r.output[1]! ? 0 : 1);
    }
  });
});
