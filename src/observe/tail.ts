/**
 * tail.ts — reading a run's NDJSON log: which lines are gradsync records, and following a
 * file like `tail -F`.
 *
 * Records. A line is a gradsync record when it is a JSON object with a numeric `schema`
 * this reader knows (LOG_SCHEMA_VERSION or the one before), or — version 0, the same records
 * before `schema` existed — an object without `schema` whose `msg` is 'step' and that has a
 * numeric `step` and a `layers` array. Records pass through normalizeRecord, which upgrades
 * them to the current shape (missing optional fields filled, JSON null read as NaN — pino
 * writes NaN and ±Infinity as null). Anything else is counted and skipped.
 * The rule for the next bump (to N+1): add an upgrade vN→vN+1 in normalizeRecord, accept
 * schema N and N+1 in SUPPORTED_SCHEMAS, and drop the upgrade of N−1 (readers keep exactly
 * two versions; `gradsync tail` of an older release ignores newer records and says so).
 *
 * Following. NdjsonFollower polls: a loop of await-poll-then-sleep on one timer of its own
 * (not fs.watchFile: its StatWatcher is shared by every listener of the path in the process
 * and its callbacks are not awaited, so a slow consumer could overlap reads; not fs.watch,
 * which misses renames on some filesystems). Polls never overlap. Each poll:
 *   1. no open file: open the path (ENOENT: wait — the file may not exist yet);
 *   2. fstat the open file: size < position → truncated: restart at 0, drop the partial line;
 *   3. read from the position to the size, split on '\n' (a partial line waits for its '\n');
 *   4. stat the path: another file (dev/ino) is there → rotated: read the old file to its end,
 *      parse its last unterminated line if it is a whole record, close it, open the new one
 *      from 0. No file at the path: keep reading the old one until a new one appears.
 * close() stops the loop, waits for a poll in flight and closes the file: no timer is left.
 * Limits: a truncation followed by more writes than before within one poll interval looks
 * like growth (as with tail -F); lines longer than maxLineBytes are skipped and counted.
 * Not here: rendering (render.ts), the CLI command (cli/tail.ts).
 */

import * as fs from 'node:fs';
import type pino from 'pino';
import { LOG_SCHEMA_VERSION, type EvalRecord, type LayerRecord, type StepRecord } from './schema';

/** The schema versions this reader accepts: the current one and the one before. */
export const SUPPORTED_SCHEMAS: readonly number[] = [LOG_SCHEMA_VERSION - 1, LOG_SCHEMA_VERSION];

/** Caps on untrusted log content. */
export const MAX_LAYERS = 4096;
export const MAX_EXECUTORS = 4096;

/** Any gradsync record after normalizeRecord: `schema` is always a number, `msg` a string. */
export interface GsRecord {
  schema: number;
  msg: string;
  [key: string]: unknown;
}

export type SkipReason = 'notJson' | 'notRecord' | 'newerSchema' | 'tooLong';

export type ParsedLine = { ok: true; record: GsRecord } | { ok: false; reason: SkipReason; schema?: number };

export const isStep = (r: GsRecord): r is GsRecord & StepRecord => r.msg === 'step';
export const isEval = (r: GsRecord): r is GsRecord & EvalRecord => r.msg === 'eval';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Classifies one line (without its '\n'). */
export function parseRecord(line: string): ParsedLine {
  const t = line.trim();
  if (t.length === 0 || t[0] !== '{') return { ok: false, reason: 'notJson' };
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch {
    return { ok: false, reason: 'notJson' };
  }
  if (!isObj(v)) return { ok: false, reason: 'notRecord' };
  if (typeof v.schema === 'number') {
    if (!SUPPORTED_SCHEMAS.includes(v.schema)) {
      return v.schema > LOG_SCHEMA_VERSION
        ? { ok: false, reason: 'newerSchema', schema: v.schema }
        : { ok: false, reason: 'notRecord', schema: v.schema };
    }
  } else if (v.schema !== undefined || !(v.msg === 'step' && typeof v.step === 'number' && Array.isArray(v.layers))) {
    return { ok: false, reason: 'notRecord' };
  }
  const rec = normalizeRecord(v);
  return rec ? { ok: true, record: rec } : { ok: false, reason: 'notRecord' };
}

/** A number field: numbers as they are, null (NaN/±Infinity in pino's JSON) as NaN, anything else as `dflt`. */
function num(v: unknown, dflt: number): number {
  if (typeof v === 'number') return v;
  if (v === null) return NaN;
  return dflt;
}

function layerOf(v: unknown, i: number): LayerRecord | null {
  if (!isObj(v)) return null;
  return {
    layer: typeof v.layer === 'number' ? v.layer : i,
    activation: typeof v.activation === 'string' ? v.activation : '',
    dJdW: num(v.dJdW, NaN),
    dJdWb: num(v.dJdWb, NaN),
    W: num(v.W, NaN),
    updateRatio: num(v.updateRatio, 0),
    saturated: num(v.saturated, 0),
    dead: num(v.dead, 0),
  };
}

/**
 * Upgrades a record of a supported version to the current shape; null when a step record
 * is malformed beyond repair (no step number, too many layers or executors).
 * v0 → v1: `schema` 0 when absent; step records get `executors: []`, `throughput`/`stepMs`
 * NaN and layer fields `updateRatio`/`saturated`/`dead` 0 when absent; `diagnosis` stays
 * absent (readers compute their own).
 */
export function normalizeRecord(v: Record<string, unknown>): GsRecord | null {
  const rec: GsRecord = { ...v, schema: typeof v.schema === 'number' ? v.schema : 0, msg: typeof v.msg === 'string' ? v.msg : '' };
  if (rec.msg === 'step') {
    if (typeof v.step !== 'number' || !Array.isArray(v.layers) || v.layers.length > MAX_LAYERS) return null;
    const layers: LayerRecord[] = [];
    for (let i = 0; i < v.layers.length; i++) {
      const l = layerOf(v.layers[i], i);
      if (!l) return null;
      layers.push(l);
    }
    const executors = Array.isArray(v.executors) ? v.executors.filter(isObj) : [];
    if (executors.length > MAX_EXECUTORS) return null;
    Object.assign(rec, {
      epoch: num(v.epoch, 0),
      loss: num(v.loss, NaN),
      gradNorm: num(v.gradNorm, NaN),
      examples: num(v.examples, NaN),
      lr: num(v.lr, NaN),
      throughput: num(v.throughput, NaN),
      stepMs: num(v.stepMs, NaN),
      clipped: v.clipped === true,
      layers,
      executors,
    });
    if (
      v.diagnosis !== undefined &&
      !(isObj(v.diagnosis) && Array.isArray(v.diagnosis.states) && (v.diagnosis.evidence === undefined || isObj(v.diagnosis.evidence)))
    ) {
      delete rec.diagnosis;
    }
  }
  return rec;
}

/** Splits a byte stream into lines on '\n' (UTF-8 decoded per whole line); a partial line waits. */
export class LineSplitter {
  private parts: Buffer[] = [];
  private partBytes = 0;
  private skipping = false;
  /** Lines dropped for exceeding maxLineBytes. */
  tooLong = 0;

  constructor(private readonly maxLineBytes: number) {}

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let from = 0;
    for (let nl = chunk.indexOf(10, from); nl !== -1; nl = chunk.indexOf(10, from)) {
      const piece = chunk.subarray(from, nl);
      if (this.skipping) {
        this.skipping = false;
      } else if (this.partBytes + piece.length > this.maxLineBytes) {
        this.tooLong++;
      } else {
        lines.push(this.partBytes === 0 ? piece.toString('utf8') : Buffer.concat([...this.parts, piece]).toString('utf8'));
      }
      this.parts = [];
      this.partBytes = 0;
      from = nl + 1;
    }
    if (from < chunk.length && !this.skipping) {
      const rest = chunk.subarray(from);
      if (this.partBytes + rest.length > this.maxLineBytes) {
        // too long already: drop what we have and skip up to the next '\n'
        this.tooLong++;
        this.skipping = true;
        this.parts = [];
        this.partBytes = 0;
      } else {
        this.parts.push(Buffer.from(rest)); // copy: the read buffer is reused
        this.partBytes += rest.length;
      }
    }
    return lines;
  }

  /** The unterminated rest, if any, and forget it. */
  flush(): string | null {
    const rest = this.partBytes > 0 ? Buffer.concat(this.parts).toString('utf8') : null;
    this.reset();
    return rest;
  }

  reset(): void {
    this.parts = [];
    this.partBytes = 0;
    this.skipping = false;
  }
}

export interface FollowStats {
  /** gradsync records delivered. */
  records: number;
  /** Lines skipped, by reason. */
  skipped: Record<SkipReason, number>;
  /** Newest unsupported schema version seen (0 when none). */
  newestSchemaSeen: number;
  truncations: number;
  rotations: number;
}

export type FollowEvent =
  { type: 'waiting' } | { type: 'opened'; ino: number } | { type: 'truncated' } | { type: 'rotated' } | { type: 'error'; error: Error };

export interface FollowHandlers {
  /** Each record, in file order. A returned promise is awaited before reading on (backpressure). */
  onRecord(rec: GsRecord, line: string): void | Promise<void>;
  onEvent?(ev: FollowEvent): void;
}

export interface FollowOptions {
  /** Milliseconds between polls. Default 250. */
  pollMs?: number;
  /** Longest line kept, bytes; longer lines are skipped and counted as tooLong. Default 8 MiB. */
  maxLineBytes?: number;
  /** Bytes per read call. Default 256 KiB. */
  chunkBytes?: number;
  logger?: pino.Logger;
}

export function newStats(): FollowStats {
  return {
    records: 0,
    skipped: { notJson: 0, notRecord: 0, newerSchema: 0, tooLong: 0 },
    newestSchemaSeen: 0,
    truncations: 0,
    rotations: 0,
  };
}

/** Parses one line into the stats and returns the record, or null when the line is skipped. */
export function classify(line: string, stats: FollowStats): GsRecord | null {
  const p = parseRecord(line);
  if (p.ok) {
    stats.records++;
    return p.record;
  }
  stats.skipped[p.reason]++;
  if (p.reason === 'newerSchema' && p.schema !== undefined) stats.newestSchemaSeen = Math.max(stats.newestSchemaSeen, p.schema);
  return null;
}

function checkPositiveInt(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${String(v)}`);
  return v;
}

/** Follows an NDJSON file like `tail -F` from its beginning; see the file comment for the protocol. */
export class NdjsonFollower {
  readonly stats: FollowStats = newStats();
  private readonly pollMs: number;
  private readonly chunkBytes: number;
  private readonly splitter: LineSplitter;
  private fh: fs.promises.FileHandle | null = null;
  private ino = -1;
  private dev = -1;
  private pos = 0;
  private waitingSaid = false;
  private closed = false;
  private chain: Promise<void> = Promise.resolve();
  private loopDone: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private wake: (() => void) | null = null;
  private readonly buf: Buffer;

  constructor(
    readonly path: string,
    private readonly handlers: FollowHandlers,
    private readonly opts: FollowOptions = {},
  ) {
    this.pollMs = checkPositiveInt('pollMs', opts.pollMs, 250);
    this.chunkBytes = checkPositiveInt('chunkBytes', opts.chunkBytes, 256 * 1024);
    this.splitter = new LineSplitter(checkPositiveInt('maxLineBytes', opts.maxLineBytes, 8 * 1024 * 1024));
    this.buf = Buffer.allocUnsafe(this.chunkBytes);
  }

  /** Starts polling (poll, sleep pollMs, repeat) until close(). */
  start(): void {
    if (this.loopDone || this.closed) return;
    this.loopDone = (async () => {
      while (!this.closed) {
        await this.poll();
        if (this.closed) break;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          this.timer = setTimeout(resolve, this.pollMs);
        });
        this.timer = null;
        this.wake = null;
      }
    })();
  }

  /** One poll, serialized with the loop's; errors other than a missing file are reported as events, never thrown. */
  poll(): Promise<void> {
    const p = this.chain
      .then(() => (this.closed ? undefined : this.pollOnce()))
      .catch((e: unknown) => {
        const error = e instanceof Error ? e : new Error(String(e));
        this.opts.logger?.warn({ err: error, file: this.path }, 'tail: read failed');
        this.handlers.onEvent?.({ type: 'error', error });
      });
    this.chain = p;
    return p;
  }

  /** Stops polling and closes the file; resolves when nothing is left running. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
    await this.loopDone;
    await this.chain;
    await this.closeFile();
  }

  private async closeFile(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    if (fh) await fh.close().catch(() => undefined);
  }

  private async pollOnce(): Promise<void> {
    if (!this.fh && !(await this.open())) return;
    await this.readToEnd();
    let st: fs.Stats | null = null;
    try {
      st = await fs.promises.stat(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (st && (st.ino !== this.ino || st.dev !== this.dev) && !this.closed) {
      // rotated: drain the old file, then switch to the new one from its start
      await this.readToEnd();
      const rest = this.splitter.flush();
      if (rest !== null && rest.trim().length > 0) await this.deliver(rest);
      await this.closeFile();
      this.stats.rotations++;
      this.handlers.onEvent?.({ type: 'rotated' });
      if (await this.open()) await this.readToEnd();
    }
  }

  private async open(): Promise<boolean> {
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(this.path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      if (!this.waitingSaid) this.handlers.onEvent?.({ type: 'waiting' });
      this.waitingSaid = true;
      return false;
    }
    const st = await fh.stat();
    if (this.closed) {
      await fh.close();
      return false;
    }
    this.fh = fh;
    this.ino = st.ino;
    this.dev = st.dev;
    this.pos = 0;
    this.splitter.reset();
    this.waitingSaid = false;
    this.handlers.onEvent?.({ type: 'opened', ino: st.ino });
    return true;
  }

  private async readToEnd(): Promise<void> {
    const fh = this.fh;
    if (!fh) return;
    const { size } = await fh.stat();
    if (size < this.pos) {
      this.pos = 0;
      this.splitter.reset();
      this.stats.truncations++;
      this.handlers.onEvent?.({ type: 'truncated' });
    }
    while (this.pos < size && !this.closed) {
      const { bytesRead } = await fh.read(this.buf, 0, Math.min(this.chunkBytes, size - this.pos), this.pos);
      if (bytesRead === 0) break;
      this.pos += bytesRead;
      const lines = this.splitter.push(this.buf.subarray(0, bytesRead));
      this.stats.skipped.tooLong = this.splitter.tooLong;
      for (const line of lines) await this.deliver(line);
    }
  }

  private async deliver(line: string): Promise<void> {
    const rec = classify(line, this.stats);
    if (rec) await this.handlers.onRecord(rec, line);
  }
}

/**
 * Reads every record in a file as it is now (for `tail --once`); a last line without '\n'
 * counts when it is a whole record. Throws ENOENT and other read errors as they are.
 */
export async function readRecords(
  path: string,
  onRecord: (rec: GsRecord, line: string) => void | Promise<void>,
  maxLineBytes = 8 * 1024 * 1024,
): Promise<FollowStats> {
  const stats = newStats();
  const splitter = new LineSplitter(maxLineBytes);
  const handle = async (line: string): Promise<void> => {
    const rec = classify(line, stats);
    if (rec) await onRecord(rec, line);
  };
  const stream = fs.createReadStream(path, { highWaterMark: 256 * 1024 });
  for await (const chunk of stream) {
    for (const line of splitter.push(chunk as Buffer)) await handle(line);
  }
  const rest = splitter.flush();
  if (rest !== null && rest.trim().length > 0) await handle(rest);
  stats.skipped.tooLong = splitter.tooLong;
  return stats;
}
