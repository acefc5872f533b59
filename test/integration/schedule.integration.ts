/**
 * Learning-rate schedules in real runs (issue 25, item 3): every step record's lr is the
 * schedule's, the lr reaches the pool threads that share the step's tail, so 1, 2 and 3 threads
 * end with the same paramsSha256, and a run resumed from a mid-run checkpoint continues with the
 * same rates and ends with the uninterrupted run's weights.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { validate } from '../../src/config/validate';
import type { RunConfig } from '../../src/config';
import { stepsPerEpoch } from '../../src/data/batching';
import type { StepRecord } from '../../src/observe/schema';
import { LearningRate } from '../../src/optim/schedule';
import { checkpointName } from '../../src/train/checkpoint';
import { train, type TrainOptions, type TrainSummary } from '../../src/train/loop';
import { collectingLogger } from '../helpers/log-sink';
import { repoRoot, tempDir } from '../helpers/paths';

// the digits default, float32 (where the order of every operation shows in the bits): 1,438
// training examples in batches of 64, 23 steps per epoch
const defaults = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'config', 'default.json'), 'utf8')) as Record<string, unknown>;
const config = (extra: Record<string, unknown>): RunConfig =>
  validate({ ...defaults, steps: 90, dtype: 'float32', batch: 64, microBatch: 8, ...extra });
const COSINE = { kind: 'cosine', unit: 'step', tMax: 60, etaMin: 0.001, warmup: 10 };
const PER_EPOCH = stepsPerEpoch(1438, 64);

async function run(cfg: RunConfig, opts: TrainOptions = {}): Promise<{ s: TrainSummary; steps: StepRecord[] }> {
  const { logger, records } = collectingLogger();
  const s = await train(cfg, { runDir: tempDir(), logger, kernels: 'ref', ...opts });
  return { s, steps: records.filter((r) => r.msg === 'step') as unknown as StepRecord[] };
}

describe('learning-rate schedules in a run (integration, issue 25)', function () {
  this.timeout(120_000);
  let alone: { s: TrainSummary; steps: StepRecord[] };

  before(async () => {
    alone = await run(config({ schedule: COSINE, threads: 0 }));
  });

  it("each step record's lr is the schedule's: the warm-up, the hand-over, the annealing", () => {
    const cfg = config({ schedule: COSINE });
    const rates = new LearningRate(cfg.schedule, 0.05, PER_EPOCH);
    assert.equal(alone.steps.length, 90);
    assert.deepEqual(
      alone.steps.map((r) => r.lr),
      alone.steps.map((r) => rates.at(r.step)),
    );
    const lr = alone.steps.map((r) => r.lr);
    assert.equal(lr[0], 0.05 / 3, 'LinearLR starts at base·start_factor');
    assert.ok(
      lr.slice(0, 10).every((x, i) => i === 0 || x > lr[i - 1]!),
      'rising through the warm-up',
    );
    assert.equal(lr[10], 0.001 + (0.05 - 0.001), 'the cosine closed form at 0 when SequentialLR hands over');
    assert.equal(lr[70], 0.001, 'ηmin after tMax steps of annealing');
    assert.ok(lr[89]! > lr[70]!, 'and rising again after tMax, as CosineAnnealingLR does');
  });

  it('the schedule changes the weights: a constant lr ends elsewhere', async () => {
    const constant = await run(config({ threads: 0 }));
    assert.ok(constant.steps.every((r) => r.lr === 0.05));
    assert.notEqual(constant.s.paramsSha256, alone.s.paramsSha256);
  });

  for (const [threads, optimizer] of [
    [1, undefined],
    [2, undefined],
    [3, undefined],
    [2, { kind: 'sgd', lr: 0.05 }],
    [3, { kind: 'adam', lr: 0.05 }],
  ] as const) {
    const name = optimizer?.kind ?? 'momentum';
    it(`${threads} thread${threads > 1 ? 's' : ''}, ${name}: the single thread's paramsSha256 and lr at every step`, async () => {
      const extra = optimizer ? { optimizer } : {};
      const one = optimizer ? await run(config({ schedule: COSINE, threads: 0, ...extra })) : alone;
      const { s, steps } = await run(config({ schedule: COSINE, threads, shareTail: true, ...extra }));
      assert.equal(s.paramsSha256, one.s.paramsSha256);
      assert.deepEqual(
        steps.map((r) => r.lr),
        one.steps.map((r) => r.lr),
      );
      if (threads > 1)
        assert.ok(
          steps.some((r) => r.split?.tailShared === true),
          'some steps shared their tail with a pool thread, which applied their lr',
        );
    });
  }

  for (const [name, schedule, at] of [
    ['cosine per step, with a warm-up', COSINE, 40],
    ['multi-step per epoch, with a warm-up, from mid-epoch', { kind: 'multistep', milestones: [1, 2], gamma: 0.3, warmup: 1 }, 35],
  ] as const) {
    it(`${name}: resumed from the checkpoint of step ${at}, the uninterrupted run's lr and paramsSha256`, async () => {
      const cfg = config({ schedule, threads: 2, checkpoint: { every: at, keep: 5 } });
      const dir = tempDir();
      const full = await run(cfg, { runDir: dir });
      const resumed = await run(cfg, { resumeFrom: path.join(dir, 'checkpoints', checkpointName(at)) });
      assert.equal(resumed.steps[0]!.step, at + 1);
      assert.deepEqual(
        resumed.steps.map((r) => r.lr),
        full.steps.slice(at).map((r) => r.lr),
      );
      assert.equal(resumed.s.paramsSha256, full.s.paramsSha256);
      assert.ok(new Set(full.steps.map((r) => r.lr)).size >= 3, 'the lr changed during the run');
    });
  }
});
