/**
 * Early stopping (issue 25, item 3): Keras's EarlyStopping rule on the held-out loss, the
 * best weights put back with restoreBest, the 'early-stop' record and the summary, resume.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { validate } from '../../src/config/validate';
import type { EarlyStoppingConfig, RunConfig } from '../../src/config';
import { GradsyncError } from '../../src/errors';
import { loadDigits } from '../../src/data/datasets';
import { EarlyStopping } from '../../src/train/early-stopping';
import { checkpointName, readCheckpoint } from '../../src/train/checkpoint';
import { train, type TrainOptions, type TrainSummary } from '../../src/train/loop';
import { collectingLogger } from '../helpers/log-sink';
import { repoRoot, tempDir } from '../helpers/paths';

/**
 * Keras's EarlyStopping.on_epoch_end (mode "min", no baseline), transcribed: the epoch at
 * which it stops, or null, and the best epoch.
 */
function kerasStop(losses: number[], patience: number, minDelta: number): { stop: number | null; best: number | null } {
  let best = Infinity;
  let bestEpoch: number | null = null;
  let wait = 0;
  for (let epoch = 0; epoch < losses.length; epoch++) {
    wait += 1;
    if (losses[epoch]! - -minDelta < best) {
      best = losses[epoch]!;
      bestEpoch = epoch;
      wait = 0;
      continue;
    }
    if (wait >= patience && epoch > 0) return { stop: epoch, best: bestEpoch };
  }
  return { stop: null, best: bestEpoch };
}

const opts: EarlyStoppingConfig = { patience: 2, minDelta: 0, restoreBest: false, monitor: 'loss' };

describe('early stopping (train/early-stopping.ts)', () => {
  describe('the rule', () => {
    const run = (losses: number[], c = opts, accuracy: (number | null)[] = []): { stop: number | null; best: number | null } => {
      const es = new EarlyStopping(c, 'float64', 1);
      const p = new Float64Array(1);
      for (let e = 0; e < losses.length; e++)
        if (es.observe(e, 10 * (e + 1), { loss: losses[e]!, accuracy: accuracy[e] ?? null }, p, false))
          return { stop: e, best: es.best.epoch };
      return { stop: null, best: es.best.epoch };
    };

    for (const [losses, patience, minDelta] of [
      [[1, 0.9, 0.95, 0.89, 0.91, 0.92, 0.93], 2, 0.005],
      [[1, 0.9, 0.95, 0.89, 0.91, 0.92, 0.93], 2, 0],
      [[1, 0.9, 0.899, 0.898, 0.897], 2, 0.01],
      [[1, 0.9, 0.899, 0.898, 0.897], 2, 0],
      [[1, 1.1, 0.8, 0.85], 0, 0],
      [[NaN, 1, 2], 0, 0],
      [[3, 2, 1, 0.5], 1, 0],
      [[2, 2, 2, 2, 2, 2], 4, 0],
    ] as const) {
      it(`stops where Keras does: losses ${JSON.stringify(losses)}, patience ${patience}, minDelta ${minDelta}`, () => {
        const got = run([...losses], { ...opts, patience, minDelta });
        assert.deepEqual(got, kerasStop([...losses], patience, minDelta));
      });
    }

    it('with the rule spelled out: a gain under minDelta does not count, and epoch 0 never stops', () => {
      assert.deepEqual(run([1, 0.9, 0.95, 0.89, 0.91, 0.92], { ...opts, minDelta: 0.02 }), { stop: 3, best: 1 });
      assert.deepEqual(run([NaN, 5, 6], { ...opts, patience: 0 }), { stop: 2, best: 1 });
    });

    it('monitor "accuracy": higher is better', () => {
      assert.deepEqual(run([0, 0, 0, 0, 0], { ...opts, monitor: 'accuracy' }, [0.5, 0.7, 0.69, 0.71, 0.7]), { stop: null, best: 3 });
      assert.deepEqual(run([0, 0, 0, 0], { ...opts, monitor: 'accuracy', minDelta: 0.05 }, [0.5, 0.7, 0.72, 0.74]), { stop: 3, best: 1 });
    });

    it("never stops at the run's last step (it ends there anyway)", () => {
      const es = new EarlyStopping({ ...opts, patience: 0 }, 'float64', 1);
      const p = new Float64Array(1);
      assert.equal(es.observe(0, 5, { loss: 1, accuracy: null }, p, false), false);
      assert.equal(es.observe(1, 10, { loss: 2, accuracy: null }, p, true), false);
      assert.equal(es.stopped, false);
    });

    it('restoreBest: the weights of the best evaluation are copied then, and put back when it stops', () => {
      const es = new EarlyStopping({ ...opts, restoreBest: true }, 'float32', 3);
      const p = new Float32Array([1, 2, 3]);
      es.observe(0, 10, { loss: 1, accuracy: null }, p, false);
      p.set([4, 5, 6]);
      es.observe(1, 20, { loss: 0.5, accuracy: null }, p, false);
      p.set([7, 8, 9]);
      assert.equal(es.observe(2, 30, { loss: 0.6, accuracy: null }, p, false), false);
      p.set([10, 11, 12]);
      assert.equal(es.observe(3, 40, { loss: 0.7, accuracy: null }, p, false), true);
      assert.deepEqual([...p], [4, 5, 6]);
      assert.equal(es.restored, true);
      assert.deepEqual(es.record(3, 40), {
        step: 40,
        epoch: 3,
        monitor: 'loss',
        best: 0.5,
        bestEpoch: 1,
        bestStep: 20,
        bestHeldOutLoss: 0.5,
        wait: 2,
        patience: 2,
        minDelta: 0,
        restored: true,
      });
    });

    it('its state (the best weights too) goes through JSON and goes on where it was; a wrong-sized copy is refused', () => {
      const c = { ...opts, restoreBest: true };
      const es = new EarlyStopping(c, 'float64', 2);
      const p = new Float64Array([0.25, -1.5]);
      es.observe(0, 10, { loss: 1, accuracy: null }, p, false);
      es.observe(1, 20, { loss: 1.2, accuracy: null }, p.fill(9), false);
      const again = new EarlyStopping(c, 'float64', 2, JSON.parse(JSON.stringify(es.state())));
      assert.equal(again.observe(2, 30, { loss: 1.1, accuracy: null }, p, false), true);
      assert.deepEqual([...p], [0.25, -1.5]);
      assert.throws(() => new EarlyStopping(c, 'float64', 3, es.state(), 'ck.gsck'), {
        code: 'GS_ERR_CHECKPOINT',
        message: /ck\.gsck: its early-stopping best weights are 16 bytes, the model's 3 parameters need 24/,
      });
    });
  });

  describe('in a run', function () {
    this.timeout(60_000);
    // the digits default with a learning rate high enough that the held-out loss turns up after ~10 epochs
    const defaults = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'config', 'default.json'), 'utf8')) as Record<string, unknown>;
    const config = (extra: Record<string, unknown>): RunConfig =>
      validate({ ...defaults, epochs: 60, threads: 0, optimizer: { kind: 'momentum', lr: 0.2, momentum: 0.9 }, ...extra });
    const ES = { patience: 3, minDelta: 0.0005 };
    const run = async (cfg: RunConfig, o: TrainOptions = {}): Promise<{ s: TrainSummary; records: Record<string, unknown>[] }> => {
      const { logger, records } = collectingLogger();
      const s = await train(cfg, { runDir: tempDir(), logger, ...o });
      return { s, records };
    };
    const evals = (records: Record<string, unknown>[]): number[] => records.filter((r) => r.msg === 'eval').map((r) => r.loss as number);
    const PER_EPOCH = 45; // 1,438 training examples in batches of 32
    let stopped: { s: TrainSummary; records: Record<string, unknown>[] };
    let expected: { stop: number | null; best: number | null };

    before(async () => {
      stopped = await run(config({ earlyStopping: { ...ES, restoreBest: true } }));
      expected = kerasStop(evals(stopped.records), ES.patience, ES.minDelta);
    });

    it("stops at the end of the epoch Keras's rule names, long before its 60 epochs", () => {
      const { s } = stopped;
      assert.ok(expected.stop !== null && expected.stop < 30, `the rule stops at ${expected.stop}`);
      assert.equal(evals(stopped.records).length, expected.stop! + 1, 'no evaluation after the stop');
      assert.equal(s.stoppedEarly, true);
      assert.equal(s.steps, (expected.stop! + 1) * PER_EPOCH);
      assert.equal(s.epochs, expected.stop! + 1);
      assert.equal(s.bestEpoch, expected.best);
      assert.equal(s.bestHeldOutLoss, evals(stopped.records)[expected.best!]);
      assert.equal(stopped.records.filter((r) => r.msg === 'step').length, s.steps);
    });

    it("writes one 'early-stop' record after the last eval, before the final checkpoint and the end", () => {
      const msgs = stopped.records.map((r) => r.msg);
      assert.deepEqual(msgs.slice(-5), ['step', 'eval', 'early-stop', 'checkpoint', 'end']);
      const rec = stopped.records.find((r) => r.msg === 'early-stop')!;
      const { level, time, pid, run: id, schema, ...fields } = rec;
      assert.deepEqual([level, schema, id, typeof time, typeof pid], [30, 1, 'test', 'number', 'number']);
      assert.deepEqual(fields, {
        msg: 'early-stop',
        step: stopped.s.steps,
        epoch: expected.stop,
        monitor: 'loss',
        best: evals(stopped.records)[expected.best!],
        bestEpoch: expected.best,
        bestStep: (expected.best! + 1) * PER_EPOCH,
        bestHeldOutLoss: evals(stopped.records)[expected.best!],
        wait: 3,
        patience: 3,
        minDelta: 0.0005,
        restored: true,
      });
      const end = stopped.records.find((r) => r.msg === 'end')!;
      assert.equal(end.stoppedEarly, true);
      assert.equal(end.bestEpoch, expected.best);
    });

    it("restoreBest: the final weights are the best epoch's — a run of bestEpoch + 1 epochs without early stopping", async () => {
      const short = await run(config({ epochs: expected.best! + 1 }));
      assert.equal(stopped.s.paramsSha256, short.s.paramsSha256);
      assert.equal(stopped.s.heldOutLoss, stopped.s.bestHeldOutLoss, 'the summary is of the restored weights');
      assert.equal(readCheckpoint(stopped.s.checkpoint).header.paramsSha256, short.s.paramsSha256, 'and so is the final checkpoint');
    });

    it("without restoreBest the last epoch's weights stay: a run that ends at the stop epoch", async () => {
      const plain = await run(config({ earlyStopping: ES }));
      const short = await run(config({ epochs: expected.stop! + 1 }));
      assert.equal(plain.s.steps, stopped.s.steps);
      assert.equal(plain.s.paramsSha256, short.s.paramsSha256);
      assert.equal(plain.records.find((r) => r.msg === 'early-stop')!.restored, false);
    });

    it('a run that does not stop reports stoppedEarly false with its best epoch, and no early-stop record', async () => {
      const { s, records } = await run(config({ epochs: 4, earlyStopping: ES }));
      assert.equal(s.stoppedEarly, false);
      assert.equal(s.steps, 4 * PER_EPOCH);
      assert.equal(s.bestEpoch, kerasStop(evals(records), 3, 0.0005).best);
      assert.ok(!records.some((r) => r.msg === 'early-stop'));
      const off = await run(config({ epochs: 1 }));
      assert.deepEqual([off.s.stoppedEarly, off.s.bestEpoch, off.s.bestHeldOutLoss], [false, null, null]);
    });

    for (const where of ['after', 'before'] as const) {
      it(`resumed from a checkpoint ${where} the best epoch: the same stop, the same restored weights`, async () => {
        // the end of the epoch after the best one, or of epoch 1
        const step = where === 'after' ? (expected.best! + 2) * PER_EPOCH : 2 * PER_EPOCH;
        assert.ok(where === 'after' ? step < stopped.s.steps : step < (expected.best! + 1) * PER_EPOCH, `step ${step}`);
        const dir = tempDir();
        const cfg = config({ earlyStopping: { ...ES, restoreBest: true }, checkpoint: { every: step, keep: 100 } });
        await run(cfg, { runDir: dir });
        const file = path.join(dir, 'checkpoints', checkpointName(step));
        const state = readCheckpoint(file).header.earlyStopping!;
        assert.deepEqual([state.stopped, typeof state.bestParams], [false, 'string'], 'restoreBest: the checkpoint keeps the best weights');
        const resumed = await run(cfg, { resumeFrom: file });
        assert.deepEqual(
          [resumed.s.steps, resumed.s.stoppedEarly, resumed.s.bestEpoch, resumed.s.bestHeldOutLoss, resumed.s.paramsSha256],
          [stopped.s.steps, true, stopped.s.bestEpoch, stopped.s.bestHeldOutLoss, stopped.s.paramsSha256],
        );
      });
    }

    it('resumed from the final checkpoint of a run that stopped, it stays stopped: no step, the same weights', async () => {
      const { s, records } = await run(config({ earlyStopping: { ...ES, restoreBest: true } }), { resumeFrom: stopped.s.checkpoint });
      assert.equal(records.filter((r) => r.msg === 'step').length, 0);
      assert.deepEqual([s.steps, s.stoppedEarly, s.paramsSha256], [stopped.s.steps, true, stopped.s.paramsSha256]);
    });

    it('is refused with a config error when the run has no held-out data, or no labels for "accuracy"', async () => {
      const cfg = config({ earlyStopping: ES });
      const digits = loadDigits({ dtype: 'float64' });
      const refused = (field: string, msg: RegExp) => (e: unknown) => {
        assert.ok(e instanceof GradsyncError);
        assert.equal(e.code, 'GS_ERR_CONFIG');
        assert.ok(e.message.startsWith(`config field "${field}"`), e.message);
        assert.match(e.message, msg);
        return true;
      };
      const dir = tempDir();
      await assert.rejects(
        train(cfg, { runDir: dir, data: { train: digits, heldOut: null } }),
        refused('earlyStopping', /needs held-out data to watch, and this run has none \(data "digits": nothing held out\)/),
      );
      assert.equal(fs.existsSync(dir) && fs.readdirSync(dir).length > 0, false, 'nothing was written');
      await assert.rejects(
        train(config({ earlyStopping: { monitor: 'accuracy' } }), {
          runDir: tempDir(),
          data: { train: digits, heldOut: { ...digits, labels: null } },
        }),
        refused('earlyStopping.monitor', /"accuracy" needs classification data/),
      );
    });
  });
});
