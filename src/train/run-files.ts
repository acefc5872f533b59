/**
 * run-files.ts — the run folder's files besides the log's records: the checkpoint schedule and
 * its atomic writes (a failed write is logged and checkpoint.onError applied), and the end of a
 * log line torn by a crash, before a resumed run appends to it.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import type pino from 'pino';
import type { RunConfig } from '../config';
import { Errors } from '../errors';
import type { Float } from '../tensor/dtype';
import { paramsSha256 } from '../model/params';
import type { ModelSpec } from '../model/spec';
import type { OptimizerState } from '../optim/optimizer';
import type { Dataset } from '../data/dataset';
import { checkpointName, errorCode, listCheckpoints, pruneCheckpoints, writeCheckpoint } from './checkpoint';
import type { EarlyStopping } from './early-stopping';

/** The checkpoint schedule — every cfg.checkpoint.every steps and/or everySeconds since the last one — and what it has written. */
export class Checkpoints implements CheckpointState {
  last = '';
  errors = 0;
  private lastAt: number;

  constructor(
    private readonly args: Omit<SaveArgs, 'step'>,
    private readonly clock: () => number,
  ) {
    this.lastAt = clock();
  }

  due(step: number): boolean {
    const c = this.args.cfg.checkpoint;
    const dueSteps = c.every > 0 && step % c.every === 0;
    const dueTime = c.everySeconds > 0 && this.clock() - this.lastAt >= c.everySeconds * 1000;
    return dueSteps || dueTime;
  }

  write(step: number): void {
    saveCheckpoint({ ...this.args, step }, this);
    this.lastAt = this.clock();
  }
}

interface CheckpointState {
  /** The newest checkpoint written by this run ('' before the first). */
  last: string;
  errors: number;
}

export interface SaveArgs {
  runDir: string;
  cfg: RunConfig;
  spec: ModelSpec;
  data: Dataset;
  params: Float;
  opt: OptimizerState;
  step: number;
  perEpoch: number;
  log: pino.Logger;
  /** The run's early stopping, whose state each checkpoint keeps; null: off. */
  earlyStopping: EarlyStopping | null;
}

/**
 * Writes checkpoint `step` atomically, then keeps the newest cfg.checkpoint.keep. A failed
 * write leaves the previous checkpoints untouched (atomicWrite) and is logged as an error
 * record naming the errno code and the file; then checkpoint.onError applies: 'stop'
 * rethrows (the run ends with GS_ERR_IO), 'continue' trains on.
 */
function saveCheckpoint(a: SaveArgs, st: CheckpointState): void {
  const dir = path.join(a.runDir, 'checkpoints');
  const file = path.join(dir, checkpointName(a.step));
  try {
    writeCheckpoint(
      file,
      {
        dtype: a.spec.dtype,
        kernelProfile: a.cfg.kernelProfile,
        spec: a.spec,
        config: a.cfg,
        step: a.step,
        epoch: Math.floor(a.step / a.perEpoch),
        cursor: a.step % a.perEpoch,
        paramsSha256: paramsSha256(a.params),
        dataSha256: a.data.sha256,
        ...(a.earlyStopping ? { earlyStopping: a.earlyStopping.state() } : {}),
        ...(a.data.labelNames ? { labelNames: [...a.data.labelNames] } : {}),
      },
      a.params,
      a.opt,
    );
  } catch (e) {
    st.errors++;
    const policy = a.cfg.checkpoint.onError;
    const previous = st.last !== '' ? st.last : (listCheckpoints(dir)[0] ?? null);
    a.log.error({ step: a.step, file, code: errorCode(e), error: (e as Error).message, previous, onError: policy }, 'checkpoint failed');
    if (policy === 'stop') {
      throw Errors.io(
        `checkpoint at step ${a.step} failed (${errorCode(e)}): ${(e as Error).message}; checkpoint.onError is "stop"`,
        previous !== null
          ? `the previous checkpoint ${previous} is intact: free space (or fix the folder) and resume with --resume ${a.runDir}`
          : 'no earlier checkpoint exists',
      );
    }
    return;
  }
  st.last = file;
  pruneCheckpoints(dir, a.cfg.checkpoint.keep);
  a.log.info({ step: a.step, file }, 'checkpoint');
}

/** Ends a last line without '\n' (a write torn by a crash) so that appended records start on their own line. */
export function endTornLine(file: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r+');
  } catch {
    return; // no log yet
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return;
    const last = Buffer.alloc(1);
    fs.readSync(fd, last, 0, 1, size - 1);
    if (last[0] !== 0x0a) fs.writeSync(fd, '\n', size);
  } finally {
    fs.closeSync(fd);
  }
}
