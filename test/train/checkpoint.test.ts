import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULTS } from '../../src/config';
import { GradsyncError } from '../../src/errors';
import type { ModelSpec } from '../../src/model/spec';
import { newOptimizerState } from '../../src/optim/optimizer';
import {
  assertCompatible,
  checkpointName,
  listCheckpoints,
  pruneCheckpoints,
  readCheckpoint,
  writeCheckpoint,
} from '../../src/train/checkpoint';
import { assertBitEqual } from '../helpers/close';
import { tempDir } from '../helpers/paths';

const spec: ModelSpec = { inputs: 2, layers: [{ units: 3, activation: 'tanh' }], loss: 'half-sse', dtype: 'float32' };

function write(dir: string, step = 5): { file: string; params: Float32Array } {
  const file = path.join(dir, checkpointName(step));
  const params = Float32Array.from({ length: 9 }, (_, i) => i / 7 - 0.5);
  const opt = newOptimizerState({ kind: 'adam', lr: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8 }, 'float32', 9);
  opt.t = step;
  opt.buffers[0]!.fill(0.25);
  writeCheckpoint(
    file,
    { dtype: 'float32', spec, config: DEFAULTS, step, epoch: 1, cursor: 2, paramsSha256: 'x', dataSha256: 'd' },
    params,
    opt,
  );
  return { file, params };
}

function expectCheckpointError(file: string, msg: RegExp): void {
  assert.throws(
    () => readCheckpoint(file),
    (e: unknown) => {
      assert.ok(e instanceof GradsyncError);
      assert.equal(e.code, 'GS_ERR_CHECKPOINT');
      assert.equal(e.exitCode, 2);
      assert.ok(e.message.includes(file), e.message);
      assert.match(e.message, msg);
      return true;
    },
  );
}

describe('checkpoints', () => {
  it('keep class names in the header (labelNames); a file without them reads as before, one with bad ones is refused (issue 25)', () => {
    const dir = tempDir();
    const params = Float32Array.from({ length: 9 }, (_, i) => i);
    const opt = newOptimizerState({ kind: 'sgd', lr: 0.1 }, 'float32', 9);
    const header = { dtype: 'float32' as const, spec, config: DEFAULTS, step: 1, epoch: 0, cursor: 1, paramsSha256: 'x', dataSha256: 'd' };
    const named = path.join(dir, 'named.gsck');
    writeCheckpoint(named, { ...header, labelNames: ['cat', 'dog', 'émeu'] }, params, opt);
    assert.deepEqual(readCheckpoint(named).header.labelNames, ['cat', 'dog', 'émeu']);
    assert.equal(readCheckpoint(write(dir).file).header.labelNames, undefined);
    const bad = path.join(dir, 'bad.gsck');
    writeCheckpoint(bad, { ...header, labelNames: [1, 2] as unknown as string[] }, params, opt);
    expectCheckpointError(bad, /header field labelNames is not an array of strings/);
  });
  it('round-trip parameters and optimizer state bit for bit', () => {
    const dir = tempDir();
    const { file, params } = write(dir);
    const ck = readCheckpoint(file);
    assertBitEqual(ck.params, params);
    assert.equal(ck.header.step, 5);
    assert.equal(ck.optimizer.kind, 'adam');
    assert.equal(ck.optimizer.t, 5);
    assert.equal(ck.optimizer.buffers[0]![3], 0.25);
    assert.equal(ck.header.cursor, 2);
    assert.deepEqual(fs.readdirSync(dir), [path.basename(file)], 'no temp file is left behind');
  });

  it('refuses a flipped bit anywhere with a checksum error', () => {
    const dir = tempDir();
    const { file } = write(dir);
    const buf = fs.readFileSync(file);
    for (const at of [20, Math.floor(buf.length / 2), buf.length - 40]) {
      const b = Buffer.from(buf);
      b[at] = b[at]! ^ 0x10;
      fs.writeFileSync(file, b);
      expectCheckpointError(file, /checksum mismatch/);
    }
  });

  it('refuses a truncated file, a wrong magic and a future version, naming the byte', () => {
    const dir = tempDir();
    const { file } = write(dir);
    const buf = fs.readFileSync(file);
    fs.writeFileSync(file, buf.subarray(0, buf.length - 100));
    expectCheckpointError(file, /checksum mismatch/);
    fs.writeFileSync(file, buf.subarray(0, 20));
    expectCheckpointError(file, /too short \(20 bytes\)/);
    const m = Buffer.from(buf);
    m.write('NOTACKPT', 0, 'latin1');
    fs.writeFileSync(file, m);
    expectCheckpointError(file, /bad magic at byte 0: expected "GSYNCKPT", found "NOTACKPT"/);
    const v = Buffer.from(buf);
    v.writeUInt32LE(99, 8);
    fs.writeFileSync(file, v);
    expectCheckpointError(file, /format version 99 at byte 8 is not supported/);
  });

  it('refuses a checkpoint of another model, naming both', () => {
    const dir = tempDir();
    const { file } = write(dir);
    const ck = readCheckpoint(file);
    assert.throws(() => assertCompatible(file, ck, { ...spec, layers: [{ units: 4, activation: 'tanh' }] }), {
      code: 'GS_ERR_CHECKPOINT',
      message: /it is for model 2-3tanh half-sse float32, this run's model is 2-4tanh half-sse float32/,
    });
  });

  it('keeps the newest K and lists them newest first', () => {
    const dir = tempDir();
    for (const s of [1, 2, 3, 4]) write(dir, s);
    pruneCheckpoints(dir, 2);
    assert.deepEqual(
      listCheckpoints(dir).map((f) => path.basename(f)),
      [checkpointName(4), checkpointName(3)],
    );
  });

  it('a failed write leaves the previous checkpoint intact and no temp file', () => {
    const dir = tempDir();
    const { file, params } = write(dir);
    // the target path is a directory: the rename fails after the temp file was written
    const blocked = path.join(dir, checkpointName(6));
    fs.mkdirSync(blocked);
    assert.throws(() => write(dir, 6), { code: 'GS_ERR_IO', message: /cannot write .*step-00000006\.gsck/ });
    assertBitEqual(readCheckpoint(file).params, params);
    assert.deepEqual(fs.readdirSync(dir).sort(), [path.basename(file), path.basename(blocked)].sort());
  });
});
