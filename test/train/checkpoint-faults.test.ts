/**
 * Issue 7, part 3: a failed checkpoint write loses nothing. ENOSPC/EIO are injected into
 * write and fsync at chosen bytes (test/helpers/fs-faults.ts); the previous checkpoint stays
 * intact and valid, no temp file is left, the failure is logged with its code and file, and
 * checkpoint.onError decides whether the run stops or trains on.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULTS } from '../../src/config';
import { validate } from '../../src/config/validate';
import { GradsyncError } from '../../src/errors';
import type { ModelSpec } from '../../src/model/spec';
import { newOptimizerState } from '../../src/optim/optimizer';
import { checkpointName, listCheckpoints, readCheckpoint, writeCheckpoint } from '../../src/train/checkpoint';
import { train } from '../../src/train/loop';
import { assertBitEqual } from '../helpers/close';
import { injectFsFault, type FsFault } from '../helpers/fs-faults';
import { collectingLogger } from '../helpers/log-sink';
import { tempDir } from '../helpers/paths';

const spec: ModelSpec = { inputs: 2, layers: [{ units: 3, activation: 'tanh' }], loss: 'half-sse', dtype: 'float32' };

function write(dir: string, step: number, fill: number): { file: string; params: Float32Array } {
  const file = path.join(dir, checkpointName(step));
  const params = Float32Array.from({ length: 9 }, (_, i) => i * fill);
  const opt = newOptimizerState({ kind: 'sgd', lr: 0.1 }, 'float32', 9);
  writeCheckpoint(
    file,
    { dtype: 'float32', spec, config: DEFAULTS, step, epoch: 0, cursor: step, paramsSha256: 'x', dataSha256: 'd' },
    params,
    opt,
  );
  return { file, params };
}

/** Runs f with the fault in place, always restoring fs. */
function withFault<T>(fault: FsFault, f: () => T): { result: T; fired: number } {
  const h = injectFsFault(fault);
  try {
    return { result: f(), fired: h.fired() };
  } finally {
    h.restore();
  }
}

async function withFaultAsync<T>(fault: FsFault, f: () => Promise<T>): Promise<{ result: T | Error; fired: number }> {
  const h = injectFsFault(fault);
  try {
    return { result: await f().catch((e: Error) => e), fired: h.fired() };
  } finally {
    h.restore();
  }
}

describe('checkpoints: a failed write loses nothing (issue 7)', () => {
  it('ENOSPC from write at byte K, for K from 0 to past the header, leaves the previous checkpoint valid and no temp file', () => {
    const dir = tempDir();
    const prev = write(dir, 5, 0.5);
    const size = fs.statSync(prev.file).size;
    for (const atByte of [0, 1, 15, 16, 200, Math.floor(size / 2), size - 33, size - 1]) {
      const { fired } = withFault({ match: /\.gsck\.tmp-/, op: 'write', atByte, code: 'ENOSPC' }, () => {
        assert.throws(
          () => write(dir, 6, 0.25),
          (e: unknown) => {
            assert.ok(e instanceof GradsyncError);
            assert.equal(e.code, 'GS_ERR_IO');
            assert.match(e.message, /cannot write .*step-00000006\.gsck: ENOSPC: no space left on device, write/);
            assert.equal((e.cause as NodeJS.ErrnoException).code, 'ENOSPC');
            return true;
          },
        );
      });
      assert.equal(fired, 1, `the fault fired at byte ${atByte}`);
      assertBitEqual(readCheckpoint(prev.file).params, prev.params);
      assert.deepEqual(fs.readdirSync(dir), [path.basename(prev.file)], `only the previous checkpoint is there (fault at byte ${atByte})`);
    }
  });

  it('EIO from fsync (the data never reached the disk) is not renamed into place', () => {
    const dir = tempDir();
    const prev = write(dir, 5, 0.5);
    const { fired } = withFault({ match: /\.gsck\.tmp-/, op: 'fsync', code: 'EIO' }, () => {
      assert.throws(() => write(dir, 6, 0.25), { code: 'GS_ERR_IO', message: /EIO: i\/o error, fsync/ });
    });
    assert.equal(fired, 1);
    assert.deepEqual(listCheckpoints(dir), [prev.file]);
    assertBitEqual(readCheckpoint(prev.file).params, prev.params);
    assert.deepEqual(fs.readdirSync(dir), [path.basename(prev.file)]);
  });

  it('the same checkpoint step rewritten over itself: a failure keeps the old file whole', () => {
    const dir = tempDir();
    const prev = write(dir, 5, 0.5);
    withFault({ match: /\.gsck\.tmp-/, op: 'write', atByte: 100, code: 'ENOSPC' }, () => {
      assert.throws(() => write(dir, 5, 0.75), { code: 'GS_ERR_IO' });
    });
    assertBitEqual(readCheckpoint(prev.file).params, prev.params);
  });

  const cfg = (onError: 'stop' | 'continue'): ReturnType<typeof validate> =>
    validate({ steps: 40, threads: 0, checkpoint: { every: 10, keep: 3, onError } });

  it('checkpoint.onError defaults to "stop"', () => {
    assert.equal(validate({}).checkpoint.onError, 'stop');
  });

  it('onError "stop": the run ends with GS_ERR_IO naming the code, file and the intact previous checkpoint; resuming gives the uninterrupted weights', async () => {
    const full = await train(cfg('stop'), { runDir: tempDir() });
    const dir = tempDir();
    const { logger, records } = collectingLogger();
    // the disk fills up after the first checkpoint: every later temp file fails at byte 4096
    let n = 0;
    const { result, fired } = await withFaultAsync(
      { match: /step-000000[2-9]0\.gsck\.tmp-/, op: 'write', atByte: 4096, code: 'ENOSPC' },
      () =>
        train(cfg('stop'), {
          runDir: dir,
          logger,
          onStep: () => {
            n++;
          },
        }),
    );
    assert.equal(fired, 1);
    assert.ok(result instanceof GradsyncError, String(result));
    assert.equal(result.code, 'GS_ERR_IO');
    assert.match(result.message, /checkpoint at step 20 failed \(ENOSPC\).*checkpoint\.onError is "stop"/);
    assert.match(result.hint ?? '', /the previous checkpoint .*step-00000010\.gsck is intact/);
    assert.equal(n, 20, 'the run stopped at the failed checkpoint');
    const failed = records.find((r) => r.msg === 'checkpoint failed')!;
    assert.equal(failed.level, 50);
    assert.equal(failed.code, 'ENOSPC');
    assert.equal(failed.step, 20);
    assert.match(String(failed.file), /step-00000020\.gsck$/);
    assert.match(String(failed.previous), /step-00000010\.gsck$/);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'checkpoints')), [checkpointName(10)]);
    assert.equal(readCheckpoint(path.join(dir, 'checkpoints', checkpointName(10))).header.step, 10);
    const resumed = await train(cfg('stop'), { runDir: dir, resumeFrom: dir });
    assert.equal(resumed.paramsSha256, full.paramsSha256);
  });

  it('onError "continue": failures are logged and counted, training goes on, later checkpoints are written, same weights', async () => {
    const full = await train(cfg('continue'), { runDir: tempDir() });
    const dir = tempDir();
    const { logger, records } = collectingLogger();
    const { result, fired } = await withFaultAsync({ match: /step-000000[23]0\.gsck\.tmp-/, op: 'fsync', code: 'EIO' }, () =>
      train(cfg('continue'), { runDir: dir, logger }),
    );
    assert.ok(!(result instanceof Error), String(result));
    const s = result as Awaited<ReturnType<typeof train>>;
    assert.equal(fired, 2);
    assert.equal(s.checkpointErrors, 2);
    assert.equal(s.paramsSha256, full.paramsSha256);
    assert.deepEqual(
      records.filter((r) => r.msg === 'checkpoint failed').map((r) => [r.step, r.code, r.onError]),
      [
        [20, 'EIO', 'continue'],
        [30, 'EIO', 'continue'],
      ],
    );
    assert.deepEqual(fs.readdirSync(path.join(dir, 'checkpoints')).sort(), [checkpointName(10), checkpointName(40)]);
    assert.equal(s.checkpoint, path.join(dir, 'checkpoints', checkpointName(40)));
  });
});
