import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfigFile } from '../../src/config/load';
import { validate } from '../../src/config/validate';
import { GradsyncError } from '../../src/errors';
import type { StepRecord } from '../../src/observe/schema';
import { readCheckpoint } from '../../src/train/checkpoint';
import { train } from '../../src/train/loop';
import { doubling } from '../../src/data/datasets';
import { subset } from '../../src/data/dataset';
import { collectingLogger } from '../helpers/log-sink';
import { openOn, readReference, repoRoot, tempDir } from '../helpers/paths';

/** The original network with a linear unit and a learning rate that makes it blow up in ~30 steps. */
const diverging = (extra: Record<string, unknown>): ReturnType<typeof validate> =>
  validate({
    data: { source: 'doubling' },
    reduction: 'sum',
    batch: 'full',
    steps: 200,
    threads: 0,
    model: { layers: [{ units: 1, activation: 'linear' }], loss: 'half-sse', init: { scheme: 'values', layers: [{ W: [0.5], b: [0.5] }] } },
    optimizer: { kind: 'sgd', lr: 1e10 },
    ...extra,
  });

const doublingCfg = (): ReturnType<typeof loadConfigFile> => loadConfigFile(path.join(repoRoot(), 'config', 'doubling.json'));

describe('train(): the single-thread trainer', () => {
  it('reproduces the original numpy run: W, b, loss, step-1 gradient and |g| at step 1,000', async () => {
    const ref = readReference().doubling;
    const { logger, records } = collectingLogger();
    const s = await train(doublingCfg(), { logger, runDir: tempDir() });
    assert.equal(s.steps, 10000);
    const [layer] = s.params!;
    assert.ok(Math.abs(layer!.W[0]! - ref.final.W) < 1e-12, `W ${layer!.W[0]}`);
    assert.ok(Math.abs(layer!.b[0]! - ref.final.b) < 1e-12, `b ${layer!.b[0]}`);
    assert.ok(Math.abs(s.loss - ref.final.loss) < 1e-13, `loss ${s.loss}`);
    const steps = records.filter((r) => r.msg === 'step') as unknown as StepRecord[];
    assert.equal(steps.length, 10000);
    const g1 = steps[0]!;
    assert.ok(Math.abs(g1.gradNorm - Math.hypot(...ref.grad_step1)) < 1e-12);
    assert.ok(Math.abs(g1.layers[0]!.dJdW - Math.abs(ref.grad_step1[0])) < 1e-12);
    assert.ok(Math.abs(g1.layers[0]!.dJdWb - Math.abs(ref.grad_step1[1])) < 1e-12);
    assert.ok(Math.abs(steps[999]!.gradNorm - ref.grad_norm_step1000) < 1e-12);
  });

  it('writes one parseable step record per step with the documented fields', async () => {
    const cfg = validate({ ...JSON.parse(fs.readFileSync(path.join(repoRoot(), 'config', 'default.json'), 'utf8')), steps: 5, threads: 0 });
    const dir = tempDir();
    const s = await train(cfg, { runDir: dir });
    const lines = fs
      .readFileSync(path.join(dir, 'log.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(s.logFile, path.join(dir, 'log.ndjson'));
    assert.deepEqual(
      lines.map((r) => r.msg),
      ['start', 'step', 'step', 'step', 'step', 'step', 'eval', 'checkpoint', 'end'],
    );
    for (const r of lines) {
      assert.equal(r.schema, 1);
      assert.equal(r.run, s.run);
    }
    const steps = lines.filter((r) => r.msg === 'step') as unknown as StepRecord[];
    assert.deepEqual(
      steps.map((r) => [r.step, r.epoch, r.examples, r.lr]),
      [1, 2, 3, 4, 5].map((k) => [k, 0, 32, 0.05]),
    );
    for (const st of steps) {
      assert.deepEqual(
        st.layers.map((l) => [l.layer, l.activation]),
        [
          [0, 'tanh'],
          [1, 'softmax'],
        ],
      );
      for (const l of st.layers) {
        for (const k of ['dJdW', 'dJdWb', 'W', 'updateRatio', 'saturated', 'dead'] as const)
          assert.ok(Number.isFinite(l[k]) && l[k] >= 0, `${k} = ${l[k]}`);
        assert.ok(l.dJdW > 0 && l.W > 0 && l.updateRatio > 0, `layer ${l.layer} has a gradient, weights and an update`);
      }
      // not clipped: the global norm is the layers' norms put together
      assert.equal(st.clipped, false);
      const fromLayers = Math.hypot(...st.layers.flatMap((l) => [l.dJdW, l.dJdWb]));
      assert.ok(Math.abs(st.gradNorm - fromLayers) <= 1e-12 * st.gradNorm, `gradNorm ${st.gradNorm} vs the layers' ${fromLayers}`);
      // the main thread alone: the batch's 4 leaves (microBatch 8); recordMs: the previous step's record (none before step 1)
      assert.deepEqual(
        st.executors.map((e) => [e.id, e.kind, e.leaves, e.examples]),
        [['main', 'main', [0, 4], 32]],
      );
      assert.ok(st.step === 1 ? st.split!.recordMs === 0 : Number.isFinite(st.split!.recordMs), `recordMs ${st.split!.recordMs}`);
      assert.ok(
        Math.abs((st.throughput * st.stepMs) / 1000 - st.examples) <= 0.01 * st.examples,
        "throughput is the examples over the step's wall time",
      );
      // a healthy start: nothing flagged yet; the evidence on the first and the last record, the states alone between
      assert.deepEqual(st.diagnosis, st.step === 1 || st.step === 5 ? { states: ['ok'], evidence: {} } : { states: ['ok'] });
    }
  });

  it("under clipping, a step record's gradNorm is the norm before clipping and its layers' norms those applied", async () => {
    const { logger, records } = collectingLogger();
    await train(validate({ steps: 2, threads: 0, clipNorm: 0.01 }), { logger, runDir: tempDir() });
    const steps = records.filter((r) => r.msg === 'step') as unknown as StepRecord[];
    assert.equal(steps.length, 2);
    for (const st of steps) {
      assert.equal(st.clipped, true);
      assert.ok(st.gradNorm > 0.1, `the digits' first gradients are far over the clip: ${st.gradNorm}`);
      const applied = Math.hypot(...st.layers.flatMap((l) => [l.dJdW, l.dJdWb]));
      assert.ok(Math.abs(applied - 0.01) < 1e-6, `the layers' norms put together are the clip norm: ${applied}`);
    }
  });

  it('a step record\'s loss is the batch\'s mean under reduction "mean" and its sum under "sum", and so is the eval record\'s', async () => {
    const base = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'config', 'default.json'), 'utf8')) as Record<string, unknown>;
    // lr/32 under sum makes the same updates as lr under mean (batch 32): the same weights, so the losses compare
    const run = async (
      reduction: 'sum' | 'mean',
      lr: number,
    ): Promise<{ sha: string; steps: StepRecord[]; evals: Record<string, number>[] }> => {
      const { logger, records } = collectingLogger();
      const s = await train(validate({ ...base, steps: 3, threads: 0, reduction, optimizer: { kind: 'momentum', momentum: 0.9, lr } }), {
        logger,
        runDir: tempDir(),
      });
      return {
        sha: s.paramsSha256,
        steps: records.filter((r) => r.msg === 'step') as unknown as StepRecord[],
        evals: records.filter((r) => r.msg === 'eval') as unknown as Record<string, number>[],
      };
    };
    const mean = await run('mean', 0.05);
    const sum = await run('sum', 0.05 / 32);
    assert.equal(sum.sha, mean.sha, 'the same weights either way');
    // ×32 is exact in binary: the sum and 32 × the mean are the same number
    assert.deepEqual(
      sum.steps.map((r) => r.loss),
      mean.steps.map((r) => 32 * r.loss),
    );
    assert.ok(
      mean.steps[0]!.loss > 1 && mean.steps[0]!.loss < 4,
      `a mean cross-entropy over 10 classes near ln 10 at the start, got ${mean.steps[0]!.loss}`,
    );
    assert.equal(mean.evals.length, 1);
    const [m, s] = [mean.evals[0]!, sum.evals[0]!];
    assert.equal(s.examples, m.examples);
    assert.ok(Math.abs(s.loss! - m.examples! * m.loss!) <= 1e-12 * s.loss!, `held-out sum ${s.loss} vs ${m.examples} × mean ${m.loss}`);
  });

  it('closes its log file when the run ends, and when it fails', async () => {
    const cfg = validate({ ...JSON.parse(fs.readFileSync(path.join(repoRoot(), 'config', 'default.json'), 'utf8')), steps: 3, threads: 0 });
    const dir = tempDir();
    const s = await train(cfg, { runDir: dir });
    assert.equal(openOn(s.logFile!), 0, 'a finished run holds no descriptor on its log');
    const failing = tempDir();
    await assert.rejects(
      train(diverging({ nonFinite: 'stop' }), { runDir: failing }),
      (e: unknown) => e instanceof GradsyncError && e.code === 'GS_ERR_NONFINITE',
    );
    const log = path.join(failing, 'log.ndjson');
    assert.ok(fs.readFileSync(log, 'utf8').includes('"msg":"step"'), 'the failed run did log');
    assert.equal(openOn(log), 0, 'a failed run holds none either');
  });

  it('reaches at least 95 % held-out accuracy on the embedded digits default', async () => {
    const cfg = loadConfigFile(path.join(repoRoot(), 'config', 'default.json'));
    const s = await train({ ...cfg, threads: 0 }, { runDir: tempDir() });
    assert.ok(s.accuracy !== null && s.accuracy >= 0.95, `held-out accuracy ${s.accuracy}`);
    assert.equal(s.params, undefined, 'models over 1,000 parameters do not list them');
    assert.match(s.paramsSha256, /^[0-9a-f]{64}$/);
  });

  it('is deterministic: the same config gives the same paramsSha256, another seed another', async () => {
    const cfg = validate({ steps: 30, threads: 0 });
    const a = await train(cfg, { runDir: tempDir() });
    const b = await train(cfg, { runDir: tempDir() });
    const c = await train({ ...cfg, seed: 2 }, { runDir: tempDir() });
    assert.equal(a.paramsSha256, b.paramsSha256);
    assert.notEqual(a.paramsSha256, c.paramsSha256);
  });

  it('writes a verifiable checkpoint and resumes from it to the same weights as an uninterrupted run', async () => {
    const cfg = validate({ steps: 40, threads: 0, checkpoint: { every: 15, keep: 5 } });
    const dir = tempDir();
    const full = await train(cfg, { runDir: dir });
    const ck15 = path.join(dir, 'checkpoints', 'step-00000015.gsck');
    assert.equal(readCheckpoint(ck15).header.step, 15);
    const resumed = await train(cfg, { runDir: tempDir(), resumeFrom: ck15 });
    assert.equal(resumed.steps, 40);
    assert.equal(resumed.paramsSha256, full.paramsSha256);
  });

  it('skips non-finite steps without touching the weights, then stops after maxSkips with a named error', async () => {
    const cfg = diverging({ maxSkips: 3 });
    const { logger, records } = collectingLogger();
    await assert.rejects(train(cfg, { logger, runDir: tempDir() }), (e: unknown) => {
      assert.ok(e instanceof GradsyncError);
      assert.equal(e.code, 'GS_ERR_NONFINITE');
      assert.match(e.message, /3 consecutive steps skipped \(maxSkips 3\); last: non-finite/);
      return true;
    });
    const skipped = records.filter((r) => r.msg === 'step' && r.skipped !== undefined);
    assert.equal(skipped.length, 3);
    assert.match(
      String(skipped[0]!.skipped),
      /^non-finite value in (the loss \((Infinity|NaN)\)|dJdW\[0\]|dJdWb\[0\]).* from executor main, tree node \d+:\d+, step \d+; non-finite on its own: training examples 0, 1, 2/,
    );
    // diverged weights: every example of the full batch is non-finite on its own
    assert.deepEqual(
      skipped[0]!.nonFiniteExamples,
      Array.from({ length: 20 }, (_, i) => i),
    );
    const lastGood = records.filter((r) => r.msg === 'step' && r.skipped === undefined).length;
    assert.ok(lastGood > 5 && lastGood < 100);
  });

  it('stops at the first non-finite step under nonFinite "stop"', async () => {
    const cfg = diverging({ nonFinite: 'stop' });
    await assert.rejects(train(cfg, { logger: collectingLogger().logger, runDir: tempDir() }), {
      code: 'GS_ERR_NONFINITE',
      message: /nonFinite policy is "stop"/,
    });
  });
});

describe('train(): bad input', () => {
  it('refuses an empty training set with a config error naming the data', async () => {
    const empty = subset(doubling('float64'), [], 'empty');
    await assert.rejects(
      train(
        validate({ data: { source: 'doubling' }, model: { layers: [{ units: 1, activation: 'tanh' }], loss: 'half-sse' }, threads: 0 }),
        { data: { train: empty, heldOut: null }, runDir: tempDir() },
      ),
      { code: 'GS_ERR_CONFIG', message: /config field "data": the training set "empty" has no examples/ },
    );
  });
});
