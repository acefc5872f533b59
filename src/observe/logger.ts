/**
 * logger.ts — the pino logger of a run: NDJSON to a file, secrets redacted.
 *
 * Every record carries `schema` (LOG_SCHEMA_VERSION) and `run` as base bindings. Writes
 * are synchronous (LogFile: one write(2) per record; the step records held by the loop for
 * at most 5 ms are written together): a kill -9 loses no line already written, and at most
 * those few milliseconds of step records — users tail this file while training runs.
 * Not here: what goes into a step record (train/step.ts), reading logs (tail.ts).
 */

import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { LOG_SCHEMA_VERSION, type StepRecord } from './schema';
import { stepLine, type StepFields } from './step-json';
import { Errors } from '../errors';

/** Held step lines are written once they pass this many bytes… */
const HOLD_BYTES = 1 << 16;
/** …from a buffer of this many: a line of up to (HOLD_CAPACITY − HOLD_BYTES) / 3 UTF-16 units always fits. */
const HOLD_CAPACITY = 2 * HOLD_BYTES;

/**
 * The run's log file as a pino destination: each record is one synchronous write(2) of the
 * line pino built, appended (O_APPEND); the step lines held (hold) go out together, in one.
 * Not pino.destination({ sync: true }): sonic-boom's sync path re-encodes every written line
 * into a Buffer after writing it, on the step's path (docs/performance.md). A write that fails
 * (disk full, I/O error) throws GS_ERR_IO naming the file; a short write (a nearly full file
 * can take part of a line) is continued from the byte where it stopped.
 */
export class LogFile {
  /** The open file's descriptor, or -1 once closed (close()). */
  get fd(): number {
    return this.open;
  }
  private open: number;
  /** Step lines held for one write (hold), oldest first: their UTF-8 in held[0, heldBytes). */
  private readonly held = Buffer.allocUnsafe(HOLD_CAPACITY);
  private heldBytes = 0;

  constructor(readonly file: string) {
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      this.open = fs.openSync(file, 'a');
    } catch (e) {
      throw Errors.io(`log ${file}: ${(e as Error).message}`);
    }
  }

  /** Writes `line` now, after any held lines. */
  write(line: string): void {
    this.flush();
    this.put(line);
  }

  /**
   * Holds `line` for the next flush (written at once past 64 KiB held), encoded into the hold
   * buffer: the line's string is garbage at once, held lines are bytes, never a string the
   * collector copies. A line that might not fit writes the held ones first (one that could
   * not fit at all is written at once).
   */
  hold(line: string): void {
    // a UTF-16 unit is at most 3 bytes of UTF-8
    if (this.heldBytes + 3 * line.length > HOLD_CAPACITY) {
      this.flush();
      if (3 * line.length > HOLD_CAPACITY) return this.put(line);
    }
    this.heldBytes += this.held.write(line, this.heldBytes);
    if (this.heldBytes >= HOLD_BYTES) this.flush();
  }

  /** Writes the held lines, in one write(2). */
  flush(): void {
    if (this.heldBytes === 0) return;
    const bytes = this.heldBytes;
    this.heldBytes = 0;
    if (this.open < 0) return this.late(this.held.subarray(0, bytes));
    let n = 0;
    while (n < bytes) n += this.writeOnce(this.held, n, bytes - n);
  }

  /** One string written whole: a short write is continued from the byte where it stopped. */
  private put(line: string): void {
    if (this.open < 0) return this.late(line);
    let n = this.writeOnce(line);
    const bytes = Buffer.byteLength(line);
    if (n === bytes) return;
    const b = Buffer.from(line);
    while (n < bytes) n += this.writeOnce(b, n);
  }

  /**
   * Closes the file (a run's end: train() calls it, so that a process running many trainings
   * does not run out of descriptors). A record that comes later (a socket's or a thread's
   * last event after the run ended) is still appended, by opening the file for that line:
   * nothing is lost, and the old descriptor's number, which the process may reuse for another
   * file, is never written to.
   */
  close(): void {
    if (this.open < 0) return;
    this.flush();
    const fd = this.open;
    this.open = -1;
    try {
      fs.closeSync(fd);
    } catch (e) {
      throw Errors.io(`log ${this.file}: ${(e as Error).message}`);
    }
  }

  /** A line after close(): appended with a descriptor of its own, opened and closed for it. */
  private late(line: string | Buffer): void {
    try {
      fs.appendFileSync(this.file, line);
    } catch (e) {
      throw this.writeFailed(e);
    }
  }

  /** Writes `data` (a Buffer: `length` bytes from byte `from` on, by default to its end); returns the bytes written. */
  private writeOnce(data: string | Buffer, from = 0, length = data.length - from): number {
    try {
      return typeof data === 'string' ? fs.writeSync(this.open, data) : fs.writeSync(this.open, data, from, length);
    } catch (e) {
      throw this.writeFailed(e);
    }
  }

  /** GS_ERR_IO for a write that failed (disk full, I/O error), naming the file. */
  private writeFailed(e: unknown): Error {
    return Errors.io(`log ${this.file}: ${(e as Error).message}`, 'free space on its disk, or give the run another directory');
  }
}

/** Paths whose values never reach a log (pino redaction). */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'auth',
  '*.auth',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'secret',
  '*.secret',
];

/**
 * Writes one step record: level 'info', or 'warn' for a skipped step; `fields` in their order.
 * The step line is the one record written at every step, so the run's writer builds it
 * without pino (whose string building is most of a small model's step): the same line pino
 * would write for the same fields, time aside. The run's writer holds the line (LogFile.hold)
 * until flush.
 */
export interface StepWriter {
  write(level: 'info' | 'warn', fields: StepFields | StepRecord): void;
  /** Writes the held step records to the file. */
  flush(): void;
}

/** A StepWriter over a caller's pino logger (TrainOptions.logger): the record goes through pino. */
export function pinoStepWriter(log: pino.Logger): StepWriter {
  return {
    // a whole record (train/loop.ts hands one): its msg, schema and run are the logger's to write
    write: (level, rec) => {
      const { msg: _msg, schema: _schema, run: _run, ...fields } = rec as StepRecord;
      log[level](fields, 'step');
    },
    flush: () => {},
  };
}

/**
 * The run's logger over its file, `log` (redacted), and `step`, the writer of step records
 * into the same file: they hold only numbers and the executors' ids, so they need no
 * redaction, and each is its fields' JSON (step-json.ts) inside a prefix built once.
 * `tee` receives every line written, the step records' only with `teeSteps`.
 */
export function runLoggers(
  file: string,
  run: string,
  level: pino.LevelWithSilent = 'info',
  tee?: (line: string) => void,
  teeSteps = true,
): { log: pino.Logger; step: StepWriter; close: () => void } {
  const dest = new LogFile(file);
  const base = { pid: process.pid, schema: LOG_SCHEMA_VERSION, run };
  const hooks = tee
    ? {
        hooks: {
          streamWrite: (s: string): string => {
            tee(s);
            return s;
          },
        },
      }
    : {};
  const log = pino({ level, base, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, ...hooks }, dest);
  const bindings = `,"pid":${process.pid},"schema":${LOG_SCHEMA_VERSION},"run":${JSON.stringify(run)},`;
  const min = level === 'silent' ? Infinity : pino.levels.values[level]!;
  const step: StepWriter = {
    write: (lvl, fields) => {
      const n = lvl === 'warn' ? 40 : 30;
      if (n < min) return;
      const line = stepLine(n === 40 ? '{"level":40,"time":' : '{"level":30,"time":', Date.now(), bindings, fields, ',"msg":"step"}\n');
      if (teeSteps) tee?.(line);
      dest.hold(line);
    },
    flush: () => dest.flush(),
  };
  return { log, step, close: () => dest.close() };
}

/** A logger over any writable stream (tests collect records with it). */
export function streamLogger(stream: pino.DestinationStream, run: string, level: pino.LevelWithSilent = 'info'): pino.Logger {
  return pino(
    { level, base: { pid: process.pid, schema: LOG_SCHEMA_VERSION, run }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    stream,
  );
}
