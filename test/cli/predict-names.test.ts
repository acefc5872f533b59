/**
 * CSV class names end to end (issue 25): `gradsync train` on a CSV whose label column holds
 * names writes them into the checkpoint, and `gradsync predict` prints the names (and, with
 * --json, the index beside them); a checkpoint trained on class indices still prints indices;
 * data.header forces the header where detection cannot tell. A real process per command.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCheckpoint } from '../../src/train/checkpoint';
import { Rng } from '../../src/tensor/rng';
import { repoRoot, tempDir } from '../helpers/paths';

function gradsync(args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(repoRoot(), 'bin', 'gradsync.js'), ...args], {
    cwd: tempDir(),
    input,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const CENTRES: [string, number, number][] = [
  ['setosa', -1, -1],
  ['versicolor', 1, -1],
  ['virginica', 0, 1],
];

/** 90 rows around three centres, the classes interleaved (so first-seen order is the CENTRES order), under `header`. */
function speciesCsv(dir: string, header: string, label: (k: number) => string): string {
  const rng = new Rng(3);
  const lines = [header];
  for (let i = 0; i < 90; i++) {
    const [, cx, cy] = CENTRES[i % 3]!;
    lines.push(`${(cx + rng.uniform(-0.3, 0.3)).toFixed(3)},${(cy + rng.uniform(-0.3, 0.3)).toFixed(3)},${label(i % 3)}`);
  }
  const file = path.join(dir, 'species.csv');
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function config(dir: string, data: Record<string, unknown>): string {
  const file = path.join(dir, 'config.json');
  const cfg = {
    data: { source: 'csv', path: 'species.csv', heldOut: 0.2, ...data },
    model: {
      layers: [
        { units: 8, activation: 'tanh' },
        { units: 3, activation: 'softmax' },
      ],
      loss: 'cross-entropy',
    },
    optimizer: { kind: 'adam', lr: 0.05 },
    epochs: 20,
    batch: 16,
    threads: 1,
  };
  fs.writeFileSync(file, JSON.stringify(cfg));
  return file;
}

const QUERIES = '-1,-1\n1,-1\n0,1\n';

describe('CSV class names: train, checkpoint, predict (issue 25)', function () {
  this.timeout(120_000);

  it('a CSV of species names trains; the checkpoint keeps the names in first-seen order; predict prints them', () => {
    const dir = tempDir();
    speciesCsv(dir, 'sepal,petal,species', (k) => CENTRES[k]![0]);
    const run = path.join(dir, 'run');
    const t = gradsync(['train', config(dir, {}), '--json', '--no-progress', '--run-dir', run]);
    assert.equal(t.code, 0, t.stderr);
    const summary = JSON.parse(t.stdout) as { checkpoint: string; accuracy: number };
    assert.equal(summary.accuracy, 1);
    assert.deepEqual(readCheckpoint(summary.checkpoint).header.labelNames, ['setosa', 'versicolor', 'virginica']);

    const p = gradsync(['predict', '--checkpoint', run], QUERIES);
    assert.equal(p.code, 0, p.stderr);
    const printed = p.stdout.trim().split('\n');
    assert.deepEqual(
      printed.map((l) => l.replace(/ {2}\(p = [0-9.]+\)$/, '')),
      ['class setosa', 'class versicolor', 'class virginica'],
    );
    const j = gradsync(['predict', '--checkpoint', run, '--json'], QUERIES);
    const out = JSON.parse(j.stdout) as { results: { class: number; label: string }[] };
    assert.deepEqual(
      out.results.map((r) => [r.class, r.label]),
      [
        [0, 'setosa'],
        [1, 'versicolor'],
        [2, 'virginica'],
      ],
    );
  });

  it('a checkpoint trained on class indices has no names, and predict prints the indices', () => {
    const dir = tempDir();
    speciesCsv(dir, 'sepal,petal,species', (k) => String(k));
    const run = path.join(dir, 'run');
    const t = gradsync(['train', config(dir, {}), '--json', '--no-progress', '--run-dir', run]);
    assert.equal(t.code, 0, t.stderr);
    assert.equal(readCheckpoint((JSON.parse(t.stdout) as { checkpoint: string }).checkpoint).header.labelNames, undefined);
    const p = gradsync(['predict', '--checkpoint', run, '--json'], QUERIES);
    const out = JSON.parse(p.stdout) as { results: { class: number; label?: string }[] };
    assert.deepEqual(
      out.results.map((r) => r.class),
      [0, 1, 2],
    );
    assert.ok(out.results.every((r) => r.label === undefined));
    assert.match(gradsync(['predict', '--checkpoint', run], QUERIES).stdout, /^class 0 {2}\(p = /);
  });

  it('data.header true skips a header of numbers over names, which detection takes for data', () => {
    const dir = tempDir();
    speciesCsv(dir, '0,1,species', (k) => CENTRES[k]![0]);
    const auto = gradsync(['train', config(dir, {}), '--no-progress', '--run-dir', path.join(dir, 'auto')]);
    assert.equal(auto.code, 2);
    // "species" became a fourth class name
    assert.match(auto.stderr, /GS_ERR_CONFIG.*the last layer has 3 units but the data has 4 targets/);
    const forced = gradsync(['train', config(dir, { header: true }), '--json', '--no-progress', '--run-dir', path.join(dir, 'forced')]);
    assert.equal(forced.code, 0, forced.stderr);
    const ck = readCheckpoint((JSON.parse(forced.stdout) as { checkpoint: string }).checkpoint);
    assert.deepEqual(ck.header.labelNames, ['setosa', 'versicolor', 'virginica']);
  });

  it('data.header false reads a first line of names as data, naming its line and column', () => {
    const dir = tempDir();
    speciesCsv(dir, 'sepal,petal,species', (k) => CENTRES[k]![0]);
    const r = gradsync(['train', config(dir, { header: false }), '--no-progress', '--run-dir', path.join(dir, 'run')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /GS_ERR_DATA.*species\.csv \(line 1, column 1\): field "sepal" is not a number/);
  });
});
