/**
 * logger.ts — the pino logger of a run: NDJSON to a file, secrets redacted.
 *
 * Every record carries `schema` (LOG_SCHEMA_VERSION) and `run` as base bindings. Writes
 * are synchronous (pino.destination sync): one line per step costs microseconds and a
 * kill -9 loses no completed line — users tail this file while training runs.
 * Not here: what goes into a step record (train/step.ts), reading logs (tail.ts).
 */

import pino from 'pino';
import { LOG_SCHEMA_VERSION } from './schema';

/** Paths whose values never reach a log (pino redaction). */
export const REDACT_PATHS = ['token', '*.token', 'auth', '*.auth', 'authorization', '*.authorization', 'headers.authorization', 'secret', '*.secret'];

/**
 * The run's two loggers over one file: `log` (redacted) for everything, and `steps`, the same
 * but without redaction, for step records — they hold only numbers and the executors' ids,
 * and redaction's deep clone of every record was the largest cost of a small model's step
 * (measured on config/doubling.json: about a quarter of the run's time).
 */
export function runLoggers(file: string, run: string, level: pino.LevelWithSilent = 'info', tee?: (line: string) => void): { log: pino.Logger; steps: pino.Logger } {
  const dest = pino.destination({ dest: file, sync: true, mkdir: true });
  const base = { pid: process.pid, schema: LOG_SCHEMA_VERSION, run };
  const hooks = tee ? { hooks: { streamWrite: (s: string): string => { tee(s); return s; } } } : {};
  return {
    log: pino({ level, base, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, ...hooks }, dest),
    steps: pino({ level, base, ...hooks }, dest),
  };
}

/** A logger over any writable stream (tests collect records with it). */
export function streamLogger(stream: pino.DestinationStream, run: string, level: pino.LevelWithSilent = 'info'): pino.Logger {
  return pino({ level, base: { pid: process.pid, schema: LOG_SCHEMA_VERSION, run }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, stream);
}
