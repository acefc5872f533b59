/**
 * Issue 7, part 1: checkpoints on a schedule (steps and/or seconds, keep K) and resuming
 * from a run folder — the newest checkpoint that verifies, corrupt ones skipped and named —
 * into the same log, a line torn by the crash skipped once by readers.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { validate } from '../../src/config/validate';
import { GradsyncError } from '../../src/errors';
import { readRecords } from '../../src/observe/tail';
import { checkpointName, findResumePoint, listCheckpoints } from '../../src/train/checkpoint';
import { train, type StartInfo } from '../../src/train/loop';
import { collectingLogger } from '../helpers/log-sink';
import { tempDir } from '../helpers/paths';

const ckDir = (d: string): string => path.join(d, 'checkpoints');
const names = (d: string): string[] => listCheckpoints(ckDir(d)).map((f) => path.basename(f));
const flip = (file: string, at: number): void => {
  const b = fs.readFileSync(file);
  b[at] = b[at]! ^ 0x01;
  fs.writeFileSync(file, b);
};

describe('checkpoint schedule and resume from a run folder (issue 7)', () => {
  describe('config', () => {
    it('defaults: every 0, everySeconds 0, keep 2, onError "stop"', () => {
      assert.deepEqual(validate({}).checkpoint, { every: 0, everySeconds: 0, keep: 2, onError: 'stop' });
      assert.deepEqual(validate({ checkpoint: { everySeconds: 1.5, onError: 'continue' } }).checkpoint, {
        every: 0,
        everySeconds: 1.5,
        keep: 2,
        onError: 'continue',
      });
    });
    for (const [c, field, msg] of [
      [{ everySeconds: -1 }, 'checkpoint.everySeconds', /must be ≥ 0/],
      [{ everySeconds: 'often' }, 'checkpoint.everySeconds', /finite number/],
      [{ onError: 'ignore' }, 'checkpoint.onError', /must be one of "continue", "stop", got "ignore"/],
      [{ keep: 0 }, 'checkpoint.keep', /must be ≥ 1/],
      [{ every: 1, often: true }, 'checkpoint.often', /unknown key/],
    ] as const) {
      it(`rejects checkpoint ${JSON.stringify(c)} naming "${field}"`, () => {
        assert.throws(
          () => validate({ checkpoint: c }),
          (e: unknown) =>
            e instanceof GradsyncError &&
            e.code === 'GS_ERR_CONFIG' &&
            e.message.startsWith(`config field "${field}"`) &&
            msg.test(e.message),
        );
      });
    }
  });

  it('writes every N steps and at the end, keeping the newest K', async () => {
    const dir = tempDir();
    await train(validate({ steps: 23, threads: 0, checkpoint: { every: 5, keep: 3 } }), { runDir: dir });
    assert.deepEqual(names(dir), [checkpointName(23), checkpointName(20), checkpointName(15)]);
  });

  it('writes every S seconds of wall time (a fake clock: 0.4 s per step, S = 1)', async () => {
    const dir = tempDir();
    let t = 0;
    const clock = (): number => t;
    const { logger, records } = collectingLogger();
    await train(validate({ steps: 12, threads: 0, checkpoint: { everySeconds: 1, keep: 100 } }), {
      runDir: dir,
      logger,
      clock,
      onStep: () => {
        t += 400;
      },
    });
    // at 0.4 s per step a checkpoint is due at steps 3, 6, 9 (1.2 s after the last), and the end
    assert.deepEqual(
      records.filter((r) => r.msg === 'checkpoint').map((r) => r.step),
      [3, 6, 9, 12],
    );
  });

  it('with both, whichever comes first', async () => {
    let t = 0;
    const { logger, records } = collectingLogger();
    await train(validate({ steps: 12, threads: 0, checkpoint: { every: 5, everySeconds: 1, keep: 100 } }), {
      runDir: tempDir(),
      logger,
      clock: () => t,
      onStep: () => {
        t += 400;
      },
    });
    assert.deepEqual(
      records.filter((r) => r.msg === 'checkpoint').map((r) => r.step),
      [3, 5, 8, 10, 12],
    );
  });

  describe('findResumePoint', () => {
    it('takes the newest checkpoint that verifies, naming each corrupt one skipped', async () => {
      const dir = tempDir();
      await train(validate({ steps: 20, threads: 0, checkpoint: { every: 5, keep: 4 } }), { runDir: dir });
      const [c20, c15, c10] = listCheckpoints(ckDir(dir));
      flip(c20!, 100);
      fs.truncateSync(c15!, 40);
      const r = findResumePoint(dir);
      assert.equal(r.file, c10);
      assert.equal(r.checkpoint.header.step, 10);
      assert.deepEqual(
        r.skipped.map((s) => [s.file, s.code]),
        [
          [c20, 'GS_ERR_CHECKPOINT'],
          [c15, 'GS_ERR_CHECKPOINT'],
        ],
      );
      assert.match(r.skipped[0]!.reason, /checksum mismatch/);
      assert.match(r.skipped[1]!.reason, /too short \(40 bytes\)/);
      // the folder of checkpoints itself works too
      assert.equal(findResumePoint(ckDir(dir)).file, c10);
    });

    it('a file path is taken as given: a corrupt one is an error, not a fallback', async () => {
      const dir = tempDir();
      await train(validate({ steps: 10, threads: 0, checkpoint: { every: 5, keep: 4 } }), { runDir: dir });
      const [c10] = listCheckpoints(ckDir(dir));
      flip(c10!, 100);
      assert.throws(() => findResumePoint(c10!), { code: 'GS_ERR_CHECKPOINT', message: /checksum mismatch/ });
    });

    it('a folder with no checkpoint, or none valid, is a clear error', () => {
      const dir = tempDir();
      fs.mkdirSync(ckDir(dir));
      assert.throws(() => findResumePoint(dir), { code: 'GS_ERR_CHECKPOINT', message: /nothing to resume from: it holds no checkpoint/ });
      fs.writeFileSync(path.join(ckDir(dir), checkpointName(3)), 'garbage');
      assert.throws(() => findResumePoint(dir), { code: 'GS_ERR_CHECKPOINT', message: /none of its 1 checkpoints verifies: .*too short/ });
      assert.throws(() => findResumePoint(path.join(dir, 'nope')), { code: 'GS_ERR_CHECKPOINT', message: /cannot resume from it: ENOENT/ });
    });
  });

  it('resumes a run folder from its newest valid checkpoint into the same log: same weights, the skip logged, one torn line skipped by readers', async () => {
    const cfg = validate({ steps: 30, threads: 0, checkpoint: { every: 5, keep: 3 } });
    const full = await train(cfg, { runDir: tempDir() });
    // a "crashed" run: trained to 30, then its newest checkpoint is corrupted and the log torn mid-line
    const dir = tempDir();
    await train(cfg, { runDir: dir });
    flip(path.join(ckDir(dir), checkpointName(30)), 60);
    const log = path.join(dir, 'log.ndjson');
    const before = fs.readFileSync(log, 'utf8');
    const cut = before.length - 40;
    fs.truncateSync(log, Buffer.byteLength(before.slice(0, cut)));
    const firstRecords = before.slice(0, cut).split('\n').length - 1; // whole lines kept
    // a stale temp file of the dead writer is cleared at the next checkpoint
    fs.writeFileSync(path.join(ckDir(dir), `.${checkpointName(35)}.tmp-999999`), 'partial');

    let info: StartInfo | null = null;
    const s = await train(cfg, {
      runDir: dir,
      resumeFrom: dir,
      onStart: (i) => {
        info = i;
      },
    });
    assert.equal(s.paramsSha256, full.paramsSha256);
    assert.equal(info!.startStep, 25);
    assert.equal(info!.resume!.file, path.join(ckDir(dir), checkpointName(25)));
    assert.deepEqual(
      info!.resume!.skipped.map((k) => path.basename(k.file)),
      [checkpointName(30)],
    );
    assert.ok(!fs.readdirSync(ckDir(dir)).some((n) => n.includes('.tmp-')), 'the stale temp file is gone');

    const recs: Record<string, unknown>[] = [];
    const stats = await readRecords(log, (r) => {
      recs.push(r);
    });
    assert.equal(stats.skipped.notJson, 1, 'exactly the torn line is skipped');
    assert.equal(
      recs.length,
      firstRecords + (1 + 1 + 5 + 1 + 1 + 1),
      "first run's whole lines, then start, skip warning, 5 steps, eval, checkpoint, end",
    );
    const starts = recs.filter((r) => r.msg === 'start');
    assert.equal(starts.length, 2);
    assert.equal(starts[1]!.resumedFrom, path.join(ckDir(dir), checkpointName(25)));
    assert.equal(starts[1]!.startStep, 25);
    const skip = recs.find((r) => r.msg === 'checkpoint skipped')!;
    assert.equal(skip.level, 40);
    assert.match(String(skip.reason), /step-00000030\.gsck: checksum mismatch/);
    assert.deepEqual(
      recs
        .slice(-9)
        .filter((r) => r.msg === 'step')
        .map((r) => r.step),
      [26, 27, 28, 29, 30],
    );
  });

  it('readRecords skips at most one torn last line', async () => {
    const dir = tempDir();
    await train(validate({ steps: 5, threads: 0 }), { runDir: dir });
    const log = path.join(dir, 'log.ndjson');
    const whole = fs.readFileSync(log);
    const lines = whole
      .toString('utf8')
      .split('\n')
      .filter((l) => l !== '').length;
    for (const cut of [whole.length, whole.length - 1, whole.length - 2, whole.length - 30, whole.length - 200]) {
      fs.writeFileSync(log, whole.subarray(0, cut));
      let n = 0;
      const st = await readRecords(log, () => {
        n++;
      });
      const torn = cut < whole.length - 1 ? 1 : 0; // cutting only the '\n' leaves a whole record
      assert.equal(n, lines - torn, `cut at ${cut}`);
      assert.equal(st.skipped.notJson, torn);
    }
  });
});
