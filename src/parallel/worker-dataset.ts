/**
 * worker-dataset.ts — the run's dataset on a remote worker (step 3 of remote-worker.ts): a
 * cached copy named by its payload hash, used only after its hash checks; otherwise the
 * payload received in chunks, in order, each of the size the descriptor implies, the whole
 * hash-checked, then cached (temp file, fsync, rename).
 * Not here: the coordinator's side (dataset-offer.ts).
 */

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type pino from 'pino';
import { Errors, GradsyncError } from '../errors';
import { bytesPerElement, view, type DType, type Float } from '../tensor/dtype';
import type { DataDescriptor } from './messages';

/** The data a worker computes over, in the run's dtype (shared memory when a pool computes). */
export interface HeldData {
  x: Float;
  y: Float;
}

export function dataViews(buf: ArrayBufferLike, dtype: DType, n: number, inputs: number, outputs: number): HeldData {
  const xBytes = n * inputs * bytesPerElement(dtype);
  return { x: view(dtype, buf, 0, n * inputs), y: view(dtype, buf, xBytes, n * outputs) };
}

const sha256 = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

const cacheFile = (dir: string, d: DataDescriptor): string => path.join(dir, `${d.payloadSha256}.gsdata`);

/** The cached payload of `d` whose hash checks (shared memory when a pool computes), else null. */
export function fromCache(dir: string | null | undefined, d: DataDescriptor, shared: boolean): ArrayBufferLike | null {
  const cached = dir ? readCache(cacheFile(dir, d), d.bytes, shared) : null;
  return cached && sha256(new Uint8Array(cached)) === d.payloadSha256 ? cached : null;
}

/** Caches a received payload; a failure is a warning, never the session's end. */
export function toCache(dir: string, d: DataDescriptor, bytes: Uint8Array, log: pino.Logger | undefined): void {
  try {
    writeCache(dir, cacheFile(dir, d), bytes);
  } catch (e) {
    log?.warn({ err: (e as Error).message }, 'worker: could not cache the dataset');
  }
}

/** The payload as it arrives in chunks. */
export class ChunkAssembly {
  private received: Uint8Array | null = null;
  private nextSeq = 0;
  private d: DataDescriptor | null = null;

  /** Expects the chunks of `d` from seq 0 (into shared memory when a pool computes). */
  begin(d: DataDescriptor, shared: boolean): void {
    this.d = d;
    this.received = new Uint8Array(shared ? new SharedArrayBuffer(d.bytes) : new ArrayBuffer(d.bytes));
    this.nextSeq = 0;
  }

  /** Adds chunk `seq`; returns the whole payload once its last chunk is in and its hash checks, else null. */
  add(seq: number, bytes: Uint8Array): Uint8Array | null {
    const received = this.received;
    if (received === null || seq !== this.nextSeq) throw Errors.wire(`chunk ${seq} out of order (expected ${this.nextSeq})`);
    const d = this.d!;
    const off = seq * d.chunkBytes;
    const want = Math.min(d.chunkBytes, d.bytes - off);
    if (bytes.length !== want) throw Errors.wire(`chunk ${seq} has ${bytes.length} bytes, expected ${want}`);
    received.set(bytes, off);
    this.nextSeq++;
    if (off + want < d.bytes) return null;
    if (sha256(received) !== d.payloadSha256) {
      throw new GradsyncError('GS_ERR_DATA', `the dataset ${d.name} arrived with a different hash than announced`, undefined, 1);
    }
    this.received = null;
    return received;
  }
}

function readCache(file: string, bytes: number, shared: boolean): ArrayBufferLike | null {
  let fd: number;
  try {
    if (fs.statSync(file).size !== bytes) return null;
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const buf = shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
    const u = new Uint8Array(buf);
    let off = 0;
    while (off < bytes) {
      const r = fs.readSync(fd, u, off, bytes - off, off);
      if (r <= 0) return null;
      off += r;
    }
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

function writeCache(dir: string, file: string, bytes: Uint8Array): void {
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
