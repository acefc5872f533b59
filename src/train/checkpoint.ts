/**
 * checkpoint.ts — writing and verifying checkpoints.
 *
 * File layout (all integers little-endian):
 *   [0, 8)        magic "GSYNCKPT"
 *   [8, 12)       u32 format version (CHECKPOINT_VERSION)
 *   [12, 16)      u32 H = byte length of the header JSON
 *   [16, 16+H)    header JSON (CheckpointHeader)
 *   [16+H, E−32)  payload: parameters, then each optimizer buffer, in the dtype's bytes
 *   [E−32, E)     sha256 of bytes [0, E−32)
 * The header JSON grows by optional fields (kernelProfile, earlyStopping, labelNames): a file
 * without one reads as before, and a reader that does not know one ignores it, so the format
 * version stays 1.
 * Writes are atomic and durable: temp file in the same folder, write, fsync, close, rename,
 * fsync the folder (a crash leaves the old file or the new one, never half of one).
 * Reads verify the size, magic, version, checksum and payload length before using a byte.
 * findResumePoint picks what a resumed run starts from: a file as given, or the newest
 * checkpoint of a run folder that verifies (corrupt ones are skipped and named).
 * Not here: when to write (loop.ts).
 */

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Errors, GradsyncError } from '../errors';
import type { RunConfig } from '../config';
import { bytesPerElement, view, type DType, type Float } from '../tensor/dtype';
import { describeModel, type ModelSpec } from '../model/spec';
import type { KernelProfile } from '../tensor/kernels';
import type { OptimizerState } from '../optim/optimizer';
import type { EarlyStoppingState } from './early-stopping';

export const CHECKPOINT_MAGIC = 'GSYNCKPT';
export const CHECKPOINT_VERSION = 1;

export interface CheckpointHeader {
  format: number;
  dtype: DType;
  /** The kernel profile the weights were computed in (absent in older files: 'portable'). */
  kernelProfile?: KernelProfile;
  spec: ModelSpec;
  config: RunConfig;
  /** Optimizer steps applied to these parameters. */
  step: number;
  /** Where the next step starts: epoch and position in that epoch's order. */
  epoch: number;
  cursor: number;
  paramCount: number;
  optimizer: { kind: string; t: number; beta1Pow: number; beta2Pow: number; buffers: number };
  paramsSha256: string;
  dataSha256: string;
  createdAt: string;
  /** A run with config earlyStopping: its state after this step (early-stopping.ts). */
  earlyStopping?: EarlyStoppingState;
  /** Class names by output index, when the data's labels were names (data/labels.ts); absent otherwise. */
  labelNames?: string[];
}

export interface Checkpoint {
  header: CheckpointHeader;
  params: Float;
  optimizer: OptimizerState;
}

/** Serialises and writes a checkpoint atomically to `file`. */
export function writeCheckpoint(
  file: string,
  header: Omit<CheckpointHeader, 'format' | 'paramCount' | 'optimizer' | 'createdAt'>,
  params: Float,
  opt: OptimizerState,
): void {
  const full: CheckpointHeader = {
    ...header,
    format: CHECKPOINT_VERSION,
    paramCount: params.length,
    optimizer: { kind: opt.kind, t: opt.t, beta1Pow: opt.beta1Pow, beta2Pow: opt.beta2Pow, buffers: opt.buffers.length },
    createdAt: new Date().toISOString(),
  };
  const json = Buffer.from(JSON.stringify(full), 'utf8');
  const pre = Buffer.alloc(16);
  pre.write(CHECKPOINT_MAGIC, 0, 'latin1');
  pre.writeUInt32LE(CHECKPOINT_VERSION, 8);
  pre.writeUInt32LE(json.length, 12);
  const parts: Buffer[] = [pre, json, bytesOf(params), ...opt.buffers.map(bytesOf)];
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  parts.push(hash.digest());
  atomicWrite(file, parts);
}

function bytesOf(a: Float): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** temp file → write → fsync → close → rename → fsync(dir). Nothing is left behind on failure. */
export function atomicWrite(file: string, parts: Uint8Array[]): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}`);
  let fd: number | null = null;
  try {
    fs.mkdirSync(dir, { recursive: true });
    fd = fs.openSync(tmp, 'w', 0o644);
    for (const p of parts) {
      let off = 0;
      while (off < p.length) off += fs.writeSync(fd, p, off, p.length - off);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, file);
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch (e) {
    if (fd !== null) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* may not exist */
    }
    const err = Errors.io(`cannot write ${file}: ${(e as Error).message}`, 'the previous checkpoint, if any, is intact');
    // the system error (its errno code: ENOSPC, EACCES, EIO…) stays reachable for the log
    err.cause = e;
    throw err;
  }
}

/** The errno code behind a failed write (ENOSPC, EACCES, EIO…), or the GradsyncError code. */
export function errorCode(e: unknown): string {
  const cause = (e as { cause?: unknown }).cause as NodeJS.ErrnoException | undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  const own = (e as { code?: unknown }).code;
  return typeof own === 'string' ? own : 'unknown';
}

/** Reads and verifies a checkpoint; throws GS_ERR_CHECKPOINT naming what is wrong. */
export function readCheckpoint(file: string): Checkpoint {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw Errors.checkpoint(file, `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (buf.length < 16 + 2 + 32) throw Errors.checkpoint(file, `too short (${buf.length} bytes): truncated or not a checkpoint`);
  const magic = buf.subarray(0, 8).toString('latin1');
  if (magic !== CHECKPOINT_MAGIC) {
    throw Errors.checkpoint(
      file,
      `bad magic at byte 0: expected "${CHECKPOINT_MAGIC}", found ${JSON.stringify(magic)}`,
      'this is not a gradsync checkpoint',
    );
  }
  const version = buf.readUInt32LE(8);
  if (version !== CHECKPOINT_VERSION)
    throw Errors.checkpoint(file, `format version ${version} at byte 8 is not supported (this gradsync reads ${CHECKPOINT_VERSION})`);
  const body = buf.length - 32;
  const want = buf.subarray(body);
  const got = createHash('sha256').update(buf.subarray(0, body)).digest();
  if (!got.equals(want))
    throw Errors.checkpoint(
      file,
      `checksum mismatch (sha256 of bytes 0..${body} differs from the stored one): the file is corrupt or truncated`,
    );
  const h = buf.readUInt32LE(12);
  if (16 + h > body) throw Errors.checkpoint(file, `header length ${h} at byte 12 runs past the payload`);
  let header: CheckpointHeader;
  try {
    header = JSON.parse(buf.subarray(16, 16 + h).toString('utf8')) as CheckpointHeader;
  } catch (e) {
    throw Errors.checkpoint(file, `header JSON at byte 16 does not parse: ${(e as Error).message}`);
  }
  const names = header.labelNames;
  if (names !== undefined && (!Array.isArray(names) || !names.every((x) => typeof x === 'string')))
    throw Errors.checkpoint(file, 'header field labelNames is not an array of strings');
  const bpe = bytesPerElement(header.dtype);
  const nBuf = header.optimizer?.buffers ?? -1;
  const expected = header.paramCount * bpe * (1 + nBuf);
  if (!(nBuf >= 0 && Number.isInteger(header.paramCount)) || body - (16 + h) !== expected) {
    throw Errors.checkpoint(
      file,
      `payload is ${body - (16 + h)} bytes, header says ${header.paramCount} parameters × ${1 + nBuf} buffers × ${bpe} bytes = ${expected}`,
    );
  }
  // copy into fresh, aligned buffers
  const take = (i: number): Float => {
    const start = 16 + h + i * header.paramCount * bpe;
    const bytes = buf.subarray(start, start + header.paramCount * bpe);
    const ab = new ArrayBuffer(bytes.length);
    new Uint8Array(ab).set(bytes);
    return view(header.dtype, ab, 0, header.paramCount);
  };
  const o = header.optimizer;
  return {
    header,
    params: take(0),
    optimizer: {
      kind: o.kind as OptimizerState['kind'],
      t: o.t,
      beta1Pow: o.beta1Pow,
      beta2Pow: o.beta2Pow,
      buffers: Array.from({ length: nBuf }, (_, i) => take(i + 1)),
    },
  };
}

/**
 * Throws when a checkpoint was written for another model than `spec` (GS_ERR_CHECKPOINT), or in
 * another kernel profile than `profile` (GS_ERR_KERNEL_PROFILE: its steps would not continue the
 * same bits).
 */
export function assertCompatible(file: string, ck: Checkpoint, spec: ModelSpec, profile: KernelProfile = 'portable'): void {
  const a = ck.header.spec;
  const desc = describeModel;
  if (desc(a) !== desc(spec)) {
    throw new GradsyncError(
      'GS_ERR_CHECKPOINT',
      `checkpoint ${file}: it is for model ${desc(a)}, this run's model is ${desc(spec)}`,
      'use the config the checkpoint was written with',
    );
  }
  const written = ck.header.kernelProfile ?? 'portable';
  if (written !== profile) {
    throw Errors.kernelProfile(
      `checkpoint ${file}: it was written with kernel profile "${written}", this run's is "${profile}"; resuming would not continue the same bits`,
      `resume with kernelProfile "${written}" (--kernel-profile ${written}), or start a new run`,
    );
  }
}

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, '0')}.gsck`;
}

/** Checkpoint files in `dir`, newest (highest step) first. */
export function listCheckpoints(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^step-\d{8}\.gsck$/.test(n))
    .sort()
    .reverse()
    .map((n) => path.join(dir, n));
}

/**
 * Deletes all but the newest `keep` checkpoints in `dir`, and temp files that another
 * process left there (a writer killed between open and rename).
 */
export function pruneCheckpoints(dir: string, keep: number): void {
  for (const f of listCheckpoints(dir).slice(keep)) {
    try {
      fs.unlinkSync(f);
    } catch {
      /* already gone */
    }
  }
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    /* no folder */
  }
  for (const n of names) {
    const m = /^\.step-\d{8}\.gsck\.tmp-(\d+)$/.exec(n);
    if (m && Number(m[1]) !== process.pid) {
      try {
        fs.unlinkSync(path.join(dir, n));
      } catch {
        /* already gone */
      }
    }
  }
}

/** A checkpoint that did not verify while looking for the newest valid one. */
export interface SkippedCheckpoint {
  file: string;
  code: string;
  reason: string;
}

export interface ResumePoint {
  file: string;
  checkpoint: Checkpoint;
  /** Newer checkpoints that did not verify, newest first. */
  skipped: SkippedCheckpoint[];
}

/**
 * What `--resume TARGET` continues from. A file: that checkpoint, verified (no fallback —
 * the user named it). A folder: a run folder (its checkpoints/ subfolder) or a folder of
 * checkpoints; the newest one that verifies, skipping corrupt ones (RELIABILITY §6: on a
 * failed verify, fall back). Throws GS_ERR_CHECKPOINT when there is none.
 */
export function findResumePoint(target: string): ResumePoint {
  let st: fs.Stats;
  try {
    st = fs.statSync(target);
  } catch (e) {
    throw Errors.checkpoint(
      target,
      `cannot resume from it: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      'give a checkpoint file or a run folder (the --run-dir of the run)',
    );
  }
  if (!st.isDirectory()) return { file: target, checkpoint: readCheckpoint(target), skipped: [] };
  const sub = path.join(target, 'checkpoints');
  const dir = fs.existsSync(sub) && fs.statSync(sub).isDirectory() ? sub : target;
  const skipped: SkippedCheckpoint[] = [];
  for (const file of listCheckpoints(dir)) {
    try {
      return { file, checkpoint: readCheckpoint(file), skipped };
    } catch (e) {
      if (!(e instanceof GradsyncError)) throw e;
      skipped.push({ file, code: e.code, reason: e.message });
    }
  }
  const tried =
    skipped.length === 0
      ? 'it holds no checkpoint (step-*.gsck)'
      : `none of its ${skipped.length} checkpoints verifies: ${skipped.map((s) => s.reason).join('; ')}`;
  throw Errors.checkpoint(dir, `nothing to resume from: ${tried}`, 'start the run afresh without --resume');
}
