/**
 * cli/tail.ts — `gradsync tail FILE|ws://HOST:PORT|wss://HOST:PORT`: watch a run's gradients.
 *
 * Sources: a log file or a run folder's log (followed like `tail -F`: observe/tail.ts) or a coordinator's live
 * stream (observe/live-client.ts). Views:
 *   --json           every record passed through, one JSON object per line (for jq);
 *   --once           the summary of what is there now, then exit (ws: after the snapshot);
 *   terminal stdout  the summary screen, redrawn in place (cursor home, clear to end of line
 *                    and of screen; no alternate screen, so the last screen stays) at most
 *                    every REDRAW_MS;
 *   other stdout     one plain line per step, plus the evidence whenever the diagnosis changes.
 * Returns the exit code: 0 when stopped by the signal, at the end of a --once or of a live
 * stream closed normally; a GradsyncError's exit code (message and hint on stderr) otherwise.
 * Output respects backpressure; a closed stdout (EPIPE, e.g. `| head`) ends the command with 0.
 * Not here: parsing argv (cli/main.ts), reading or rendering (observe/).
 */

import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Errors, GradsyncError } from '../errors';
import {
  NdjsonFollower,
  classify,
  newStats,
  readRecords,
  isStep,
  type FollowEvent,
  type FollowStats,
  type GsRecord,
} from '../observe/tail';
import { renderScreen, renderPlain, stepLine, recordLine, diagnosisChange } from '../observe/render';
import { Summary } from '../observe/tail-summary';
import { subscribeLive, parseLiveUrl } from '../observe/live-client';
import { isLoopback } from '../net/loopback';
import type { Diagnosis } from '../observe/schema';

export interface TailOptions {
  /** Pass records through as NDJSON. */
  json?: boolean;
  /** Print the summary of what is there now and exit. */
  once?: boolean;
  /** Steps per sparkline (the longest shown). Default 60. */
  window?: number;
  /** The coordinator's token, for a ws:// or wss:// target: proven, never sent. */
  token?: string;
  /** Extra CA certificate(s) to trust for a wss:// target (a self-signed coordinator). */
  ca?: string | Buffer;
}

export interface TailIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream;
  signal?: AbortSignal;
}

/** Minimum milliseconds between two redraws of the terminal screen. */
export const REDRAW_MS = 100;
/** Milliseconds between polls of a followed file. */
export const POLL_MS = 250;

/** A stdout that waits for 'drain' and turns EPIPE into a stop. */
class Out {
  broken = false;
  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly onBroken: () => void,
  ) {
    stream.on('error', this.onError);
  }
  private readonly onError = (): void => {
    this.broken = true;
    this.onBroken();
  };
  write(s: string): Promise<void> | void {
    if (this.broken) return;
    if (!this.stream.write(s)) {
      return Promise.race([once(this.stream, 'drain'), once(this.stream, 'close')]).then(
        () => undefined,
        () => undefined,
      );
    }
  }
  dispose(): void {
    this.stream.off('error', this.onError);
  }
}

interface View {
  record(rec: GsRecord, line: string): void | Promise<void>;
  event?(ev: FollowEvent): void;
  /** Called once at the end. */
  finish(): void | Promise<void>;
}

function jsonView(out: Out): View {
  return {
    record: (_rec, line) => out.write(`${line.trim()}\n`),
    finish: () => undefined,
  };
}

function plainFollowView(out: Out, summary: Summary, stderr: NodeJS.WritableStream, target: string): View {
  let shown: Diagnosis | null = null;
  return {
    record(rec) {
      summary.add(rec);
      if (isStep(rec)) {
        const d = summary.diagnosis;
        const lines = [stepLine({ ...rec, diagnosis: d ?? rec.diagnosis }), ...diagnosisChange(shown, d, rec.step)];
        if (d) shown = d;
        return out.write(`${lines.join('\n')}\n`);
      }
      const l = recordLine(rec);
      return l ? out.write(`${l}\n`) : undefined;
    },
    event(ev) {
      if (ev.type === 'waiting') stderr.write(`gradsync tail: waiting for ${target} to appear\n`);
      else if (ev.type === 'truncated') stderr.write(`gradsync tail: ${target} was truncated; reading from its start\n`);
      else if (ev.type === 'rotated') stderr.write(`gradsync tail: ${target} was rotated; following the new file\n`);
      else if (ev.type === 'error') stderr.write(`gradsync tail: ${ev.error.message}\n`);
    },
    finish: () => undefined,
  };
}

function screenView(out: Out, summary: Summary, io: TailIo, color: boolean): View {
  const tty = io.stdout as TailIo['stdout'] & { rows?: number };
  let timer: NodeJS.Timeout | null = null;
  let first = true;
  let note = '';
  const draw = (): void => {
    timer = null;
    const lines = renderScreen(summary, { columns: tty.columns ?? 80, rows: tty.rows, color });
    if (note) lines.push(note);
    const clear = first ? '\x1b[2J' : '';
    first = false;
    void out.write(`${clear}\x1b[H${lines.map((l) => `${l}\x1b[K`).join('\n')}\x1b[J`);
  };
  const schedule = (): void => {
    timer ??= setTimeout(draw, REDRAW_MS);
  };
  const onResize = (): void => schedule();
  tty.on('resize', onResize);
  schedule();
  return {
    record(rec) {
      summary.add(rec);
      schedule();
    },
    event(ev) {
      if (ev.type === 'waiting') note = 'waiting for the file to appear...';
      else if (ev.type === 'opened') note = '';
      else if (ev.type === 'error') note = `read error: ${ev.error.message}`;
      schedule();
    },
    finish() {
      tty.off('resize', onResize);
      if (timer) clearTimeout(timer);
      draw();
      return out.write('\n');
    },
  };
}

function onceView(out: Out, summary: Summary, tty: boolean, columns: number | undefined, color: boolean): View {
  return {
    record: (rec) => summary.add(rec),
    finish: () => {
      const lines = tty ? renderScreen(summary, { columns: columns ?? 80, color }) : renderPlain(summary);
      return out.write(`${lines.join('\n')}\n`);
    },
  };
}

function checkWindow(w: number | undefined): number {
  if (w === undefined) return 60;
  if (!Number.isInteger(w) || w < 1 || w > 10_000) throw Errors.usage(`--window must be an integer in [1, 10000], got ${String(w)}`);
  return w;
}

function skippedNote(stats: FollowStats): string | null {
  const sk = stats.skipped;
  const n = sk.notJson + sk.notRecord + sk.newerSchema + sk.tooLong;
  if (n === 0) return null;
  const newer = stats.newestSchemaSeen > 0 ? ` (${sk.newerSchema} of a newer schema ${stats.newestSchemaSeen}: upgrade gradsync)` : '';
  return `gradsync tail: skipped ${n} line(s) that are not gradsync records${newer}\n`;
}

export async function tailCommand(target: string, opts: TailOptions, io: TailIo): Promise<number> {
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  if (io.signal?.aborted) stop.abort();
  io.signal?.addEventListener('abort', onAbort, { once: true });
  const out = new Out(io.stdout, () => stop.abort());
  try {
    const window = checkWindow(opts.window);
    if (typeof target !== 'string' || target.length === 0) throw Errors.usage('tail needs a log file or a ws://HOST:PORT target');
    const isTTY = io.stdout.isTTY === true;
    const color = isTTY && process.env.NO_COLOR === undefined;
    const summary = new Summary({ window });
    const live = /^wss?:\/\//i.test(target);
    if (!live) target = logFileOf(target);
    const view: View = opts.json
      ? jsonView(out)
      : opts.once
        ? onceView(out, summary, isTTY, io.stdout.columns, color)
        : isTTY
          ? screenView(out, summary, io, color)
          : plainFollowView(out, summary, io.stderr, target);
    const stats = live ? await fromLive(target, opts, io, view, summary, stop) : await fromFile(target, opts, view, summary, stop.signal);
    await view.finish();
    const note = skippedNote(stats);
    if (note && (opts.json || !isTTY)) io.stderr.write(note);
    return 0;
  } catch (e) {
    if (e instanceof GradsyncError) {
      io.stderr.write(`gradsync tail: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
      return e.exitCode;
    }
    throw e;
  } finally {
    io.signal?.removeEventListener('abort', onAbort);
    out.dispose();
  }
}

/** The log's name in a run folder (train/loop.ts writes RUN_DIR/log.ndjson). */
const RUN_LOG = 'log.ndjson';

/** A run folder (train's --run-dir) stands for its log, RUN_DIR/log.ndjson; anything else is taken as the log file. */
export function logFileOf(target: string): string {
  let dir = false;
  try {
    dir = fs.statSync(target).isDirectory();
  } catch {
    // not there (yet): a file path, which tail waits for
  }
  return dir ? path.join(target, RUN_LOG) : target;
}

async function fromFile(target: string, opts: TailOptions, view: View, summary: Summary, signal: AbortSignal): Promise<FollowStats> {
  if (opts.once) {
    try {
      const stats = await readRecords(target, (rec, line) => view.record(rec, line));
      summary.stats = stats;
      return stats;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw Errors.io(`${target}: no such file`, 'without --once, tail waits for the file to appear');
      if (code === 'EISDIR') throw Errors.usage(`${target} is a folder; give the run's log file (e.g. runs/<run>/log.ndjson)`);
      throw Errors.io(`${target}: ${code ?? (e as Error).message}`);
    }
  }
  const follower = new NdjsonFollower(
    target,
    {
      onRecord: (rec, line) => view.record(rec, line),
      onEvent: (ev) => view.event?.(ev),
    },
    { pollMs: POLL_MS },
  );
  summary.stats = follower.stats;
  if (!signal.aborted) {
    follower.start();
    await once(signal, 'abort');
  }
  await follower.close();
  return follower.stats;
}

async function fromLive(
  target: string,
  opts: TailOptions,
  io: TailIo,
  view: View,
  summary: Summary,
  stop: AbortController,
): Promise<FollowStats> {
  const url = parseLiveUrl(target);
  if (url.protocol === 'ws:' && !isLoopback(url.hostname)) {
    io.stderr.write('gradsync tail: note: ws:// is unencrypted (the token does not travel, but the records do); prefer wss://\n');
  }
  const stats = newStats();
  summary.stats = stats;
  const closed = await subscribeLive(
    target,
    {
      onLine: (line) => {
        const rec = classify(line, stats);
        return rec ? view.record(rec, line) : undefined;
      },
      onSnapshot: () => {
        if (opts.once) stop.abort();
      },
    },
    { token: opts.token, signal: stop.signal, ...(opts.ca !== undefined ? { ca: opts.ca } : {}) },
  );
  if (!opts.once && !stop.signal.aborted && closed.code !== 1000 && closed.code !== 1001) {
    throw Errors.io(`the live stream from ${url.host} was cut (close code ${closed.code}${closed.reason ? `: ${closed.reason}` : ''})`);
  }
  if (!opts.once && !stop.signal.aborted && !opts.json)
    io.stderr.write(`gradsync tail: the live stream ended (${closed.reason || closed.code})\n`);
  return stats;
}
