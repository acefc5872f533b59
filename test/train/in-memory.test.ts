/**
 * train() on in-memory arrays (issue 25): the same bits as the same rows written to a CSV file
 * and trained from it; the same bits on a pool thread and on a remote worker, which receives the
 * arrays as it receives a file's rows (offered by hash, cached by payload hash); bad arrays
 * refused before anything is written; class names kept in the checkpoint; resume.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { validate } from '../../src/config/validate';
import type { TrainConfig } from '../../src/config';
import { GradsyncError } from '../../src/errors';
import { Rng } from '../../src/tensor/rng';
import { fromArrays } from '../../src/data/arrays';
import { payloadSha256 } from '../../src/parallel/dataset-offer';
import { runWorker } from '../../src/parallel/remote-worker';
import { readCheckpoint } from '../../src/train/checkpoint';
import { train } from '../../src/train/loop';
import { collectingLogger } from '../helpers/log-sink';
import { coordinatorFor } from '../helpers/coordinator';
import { tempDir } from '../helpers/paths';

/** n seeded rows of `f` features in [-1, 1] and, per row, a class index in [0, classes) or `targets` real targets. */
function rows(seed: number, n: number, f: number, k: number): { x: number[][]; y: number[][] } {
  const rng = new Rng(seed);
  const x = Array.from({ length: n }, () => Array.from({ length: f }, () => rng.uniform(-1, 1)));
  const y = Array.from({ length: n }, () => Array.from({ length: k }, () => rng.uniform(-1, 1)));
  return { x, y };
}

/** The rows as a CSV file (String() of a double reads back as the same double). */
function csvFile(x: number[][], y: (number | string)[][], header: string | null): string {
  const file = path.join(tempDir(), 'data.csv');
  const lines = x.map((r, i) => [...r, ...y[i]!].map(String).join(','));
  fs.writeFileSync(file, `${header === null ? '' : `${header}\n`}${lines.join('\n')}\n`);
  return file;
}

const classifier = {
  model: {
    layers: [
      { units: 8, activation: 'tanh' as const },
      { units: 3, activation: 'softmax' as const },
    ],
    loss: 'cross-entropy' as const,
  },
  optimizer: { kind: 'momentum' as const, lr: 0.1 },
  batch: 16,
  microBatch: 4,
  steps: 40,
  seed: 7,
};

describe('train() on in-memory data (issue 25)', function () {
  this.timeout(60_000);
  const { x, y: raw } = rows(11, 90, 3, 1);
  const labels = raw.map((r) => Math.floor((r[0]! + 1) * 1.5)); // 0, 1, 2

  it('gives the paramsSha256 and held-out loss of the same rows trained from a CSV file, classification in float64', async () => {
    const file = csvFile(
      x,
      labels.map((l) => [l]),
      'a,b,c,label',
    );
    const fromFile = await train(validate({ ...classifier, threads: 0, data: { source: 'csv', path: file, heldOut: 0.2 } }), {
      runDir: tempDir(),
      logger: collectingLogger().logger,
    });
    const inMemory = await train(
      { ...classifier, threads: 0, data: { x, y: labels, heldOut: 0.2 } },
      { runDir: tempDir(), logger: collectingLogger().logger },
    );
    assert.equal(inMemory.paramsSha256, fromFile.paramsSha256);
    assert.equal(inMemory.heldOutLoss, fromFile.heldOutLoss);
    assert.equal(inMemory.steps, 40);
  });

  it('gives the paramsSha256 of the same rows from a CSV file, two regression targets in float32, from a flat Float64Array with shape', async () => {
    const t = rows(12, 50, 2, 2);
    const file = csvFile(t.x, t.y, null);
    const common = {
      dtype: 'float32' as const,
      model: {
        layers: [
          { units: 6, activation: 'tanh' as const },
          { units: 2, activation: 'linear' as const },
        ],
        loss: 'half-sse' as const,
      },
      optimizer: { kind: 'sgd' as const, lr: 0.05 },
      batch: 10,
      epochs: 3,
      threads: 0,
    };
    const fromFile = await train(validate({ ...common, data: { source: 'csv', path: file, label: 'none', targets: 2, heldOut: 0.2 } }), {
      runDir: tempDir(),
      logger: collectingLogger().logger,
    });
    const flat = Float64Array.from(t.x.flat());
    const inMemory = await train(
      { ...common, data: { x: flat, shape: [50, 2], y: Float64Array.from(t.y.flat()), heldOut: 0.2 } },
      { runDir: tempDir(), logger: collectingLogger().logger },
    );
    assert.equal(inMemory.paramsSha256, fromFile.paramsSha256);
  });

  it('gives the single-thread paramsSha256 with a pool thread, and on a remote worker that receives the arrays by hash', async () => {
    const base: TrainConfig = { ...classifier, data: { x, y: labels, heldOut: 0.2 } };
    const single = await train({ ...base, threads: 0 }, { runDir: tempDir(), logger: collectingLogger().logger });

    const pool = collectingLogger();
    const pooled = await train({ ...base, threads: 2 }, { runDir: tempDir(), logger: pool.logger });
    assert.equal(pooled.paramsSha256, single.paramsSha256);
    const poolStart = pool.records.find((r) => r.msg === 'start') as { executors: string[] };
    assert.ok(poolStart.executors.length === 2, `executors ${poolStart.executors.join(', ')}`);

    const remote = collectingLogger();
    const dataDir = tempDir();
    const token = 'in-memory-token-25';
    let worker: Promise<unknown> = Promise.resolve();
    let offered: { sha256: string; payload: string } | null = null;
    const remoteRun = await train(
      { ...base, threads: 1, duplicateStragglers: false },
      {
        runDir: tempDir(),
        logger: remote.logger,
        joinable: async (ctx) => {
          offered = { sha256: ctx.data.sha256, payload: payloadSha256(ctx.data.x, ctx.data.y) };
          const c = await coordinatorFor(ctx, { token });
          worker = runWorker({ url: c.url, token, id: 'w-mem', threads: 0, dataDir });
          await c.waitForWorkers(1, 30_000);
          return c;
        },
      },
    );
    await worker;
    assert.equal(remoteRun.paramsSha256, single.paramsSha256);
    const steps = remote.records.filter((r) => r.msg === 'step') as unknown as { executors: { id: string; examples: number }[] }[];
    assert.ok(
      steps.some((s) => s.executors.some((e) => e.id === 'remote-w-mem' && e.examples > 0)),
      'the remote worker computed a share of some step',
    );
    // the arrays' training split, offered like a file's rows: the worker cached it under its payload hash
    const all = fromArrays({ x, y: labels }, { dtype: 'float64', labels: true });
    assert.notEqual(offered!.sha256, all.sha256, 'the offer is of the training split (a subset hash), not the whole set');
    assert.ok(fs.existsSync(path.join(dataDir, `${offered!.payload}.gsdata`)), 'cached by payload hash');
  });

  it('refuses bad arrays with GS_ERR_DATA naming the row, before the run folder exists', async () => {
    const runDir = path.join(tempDir(), 'never');
    const bad = x.map((r) => [...r]);
    bad[5]![1] = NaN;
    for (const [data, want] of [
      [{ x: bad, y: labels }, /data\.x \(row 5, column 1\): NaN is not a finite number/],
      [{ x, y: labels.slice(1) }, /data\.y: has 89 labels, data\.x has 90 rows/],
      [{ x, y: labels.map((l, i) => (i === 7 ? 3 : l)), classes: 3 }, /data\.y \(row 7\): label 3 is out of range: classes is 3/],
      [{ x: x.map((r, i) => (i === 4 ? r.slice(1) : r)), y: labels }, /data\.x \(row 4\): has 2 values, row 0 has 3/],
    ] as const) {
      await assert.rejects(
        train({ ...classifier, threads: 0, data }, { runDir }),
        (e: unknown) => e instanceof GradsyncError && e.code === 'GS_ERR_DATA' && e.exitCode === 2 && want.test(e.message),
      );
    }
    assert.ok(!fs.existsSync(runDir));
    // a model whose output layer does not match the classes found: the config error names the layers
    await assert.rejects(
      train({ ...classifier, threads: 0, data: { x, y: labels.map((l) => l % 2) } }, { runDir }),
      (e: unknown) =>
        e instanceof GradsyncError && e.code === 'GS_ERR_CONFIG' && /last layer has 3 units but the data has 2/.test(e.message),
    );
  });

  it('keeps string class names in the checkpoint, and resumes an in-memory run to the same bits', async () => {
    const names = labels.map((l) => ['north', 'south', 'east'][l]!);
    const cfg: TrainConfig = { ...classifier, threads: 0, checkpoint: { every: 20 }, data: { x, y: names } };
    const runDir = tempDir();
    const whole = await train(cfg, { runDir, logger: collectingLogger().logger });
    const ck = readCheckpoint(whole.checkpoint);
    const seen = [...new Set(names)];
    assert.deepEqual(ck.header.labelNames, seen);
    assert.equal(ck.header.config.data.source, 'memory');
    const resumed = await train(cfg, {
      runDir: tempDir(),
      logger: collectingLogger().logger,
      resumeFrom: path.join(runDir, 'checkpoints', 'step-00000020.gsck'),
    });
    assert.equal(resumed.paramsSha256, whole.paramsSha256);
  });
});
