import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfigFile, validate } from '../../src/config';
import { GradsyncError } from '../../src/errors';
import type { StepRecord } from '../../src/observe/schema';
import { readCheckpoint } from '../../src/train/checkpoint';
import { train } from '../../src/train/loop';
import { doubling } from '../../src/data/datasets';
import { subset } from '../../src/data/dataset';
import { collectingLogger } from '../helpers/log-sink';
import { openOn, readReference, repoRoot, tempDir } from '../helpers/paths';

/** The original network with a linear unit and a learning rate that makes it blow up in ~30 steps. */
const diverging = (extra: Record<string, unknown>): ReturnType<typeof validate> => validate({
  data: { source: 'doubling' }, reduction: 'sum', batch: 'full', steps: 200, threads: 0,
  model: { layers: [{ units: 1, activation: 'linear' }], loss: 'half-sse', init: { scheme: 'values', layers: [{ W: [0.5], b: [0.5] }] } },
  optimizer: { kind: 'sgd', lr: 1e10 }, ...extra,
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
    const lines = fs.readFileSync(path.join(dir, 'log.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(s.logFile, path.join(dir, 'log.ndjson'));
    assert.deepEqual(lines.map((r) => r.msg), ['start', 'step', 'step', 'step', 'step', 'step', 'eval', 'checkpoint', 'end']);
    for (const r of lines) {
      assert.equal(r.schema, 1);
      assert.equal(r.run, s.run);
    }
    const st = lines[1] as unknown as StepRecord;
    assert.equal(st.step, 1);
    assert.equal(st.epoch, 0);
    assert.equal(st.examples, 32);
    for (const k of ['loss', 'gradNorm', 'throughput', 'stepMs']) assert.equal(typeof (st as unknown as Record<string, unknown>)[k], 'number', k);
    assert.equal(st.layers.length, 2);
    for (const l of st.layers) {
      for (const k of ['dJdW', 'dJdWb', 'W', 'updateRatio', 'saturated', 'dead'] as const) assert.ok(Number.isFinite(l[k]) && l[k] >= 0, `${k} = ${l[k]}`);
    }
    assert.ok(st.layers[0]!.updateRatio > 0);
    assert.deepEqual(st.executors.map((e) => e.id), ['main']);
    assert.ok(Array.isArray(st.diagnosis.states));
  });

  it('closes its log file when the run ends, and when it fails', async () => {
    const cfg = validate({ ...JSON.parse(fs.readFileSync(path.join(repoRoot(), 'config', 'default.json'), 'utf8')), steps: 3, threads: 0 });
    const dir = tempDir();
    const s = await train(cfg, { runDir: dir });
    assert.equal(openOn(s.logFile!), 0, 'a finished run holds no descriptor on its log');
    const failing = tempDir();
    await assert.rejects(train(diverging({ nonFinite: 'stop' }), { runDir: failing }), (e: unknown) => e instanceof GradsyncError && e.code === 'GS_ERR_NONFINITE');
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
    assert.match(String(skipped[0]!.skipped), /^non-finite value in (the loss \((Infinity|NaN)\)|dJdW\[0\]|dJdWb\[0\]).* from executor main, tree node \d+:\d+, step \d+; non-finite on its own: training examples 0, 1, 2/);
    // diverged weights: every example of the full batch is non-finite on its own
    assert.deepEqual(skipped[0]!.nonFiniteExamples, Array.from({ length: 20 }, (_, i) => i));
    const lastGood = records.filter((r) => r.msg === 'step' && r.skipped === undefined).length;
    assert.ok(lastGood > 5 && lastGood < 100);
  });

  it('stops at the first non-finite step under nonFinite "stop"', async () => {
    const cfg = diverging({ nonFinite: 'stop' });
    await assert.rejects(train(cfg, { logger: collectingLogger().logger, runDir: tempDir() }), { code: 'GS_ERR_NONFINITE', message: /nonFinite policy is "stop"/ });
  });
});

describe('train(): bad input', () => {
  it('refuses an empty training set with a config error naming the data', async () => {
    const empty = subset(doubling('float64'), [], 'empty');
    await assert.rejects(train(validate({ data: { source: 'doubling' }, model: { layers: [{ units: 1, activation: 'tanh' }], loss: 'half-sse' }, threads: 0 }), { data: { train: empty, heldOut: null }, runDir: tempDir() }),
      { code: 'GS_ERR_CONFIG', message: /config field "data": the training set "empty" has no examples/ });
  });
});
