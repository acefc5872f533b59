/**
 * env.ts — every GRADSYNC_* environment variable, parsed in one place (horovod's env_parser).
 *
 *   GRADSYNC_TOKEN      shared secret of remote workers and the live stream (never logged)
 *   GRADSYNC_DATA_DIR   a folder holding the Fashion-MNIST IDX files (bench, configs with "idx")
 *   GRADSYNC_FAULT      test-only fault injection: "executor=K,step=S,mode=throw|exit|oom[,phase=compute|tail]"
 *                       makes pool executor thread-K fail at step S. Unset: inert.
 * Only cli/ (and scripts/) read this file; lower layers take explicit options.
 */

import { Errors } from './errors';
import type { FaultSpec } from './parallel/pool-protocol';

export const ENV = {
  token: 'GRADSYNC_TOKEN',
  dataDir: 'GRADSYNC_DATA_DIR',
  fault: 'GRADSYNC_FAULT',
} as const;

export function envToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const t = env[ENV.token];
  return t === undefined || t === '' ? undefined : t;
}

export function envDataDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const d = env[ENV.dataDir];
  return d === undefined || d === '' ? undefined : d;
}

/** Parses GRADSYNC_FAULT; null when unset. */
export function envFault(env: NodeJS.ProcessEnv = process.env): FaultSpec | null {
  const v = env[ENV.fault];
  if (v === undefined || v === '') return null;
  const parts = Object.fromEntries(v.split(',').map((kv) => kv.split('=').map((s) => s.trim()) as [string, string]));
  const executor = Number(parts.executor);
  const step = Number(parts.step);
  const mode = parts.mode;
  const phase = parts.phase ?? 'compute';
  if (!Number.isInteger(executor) || executor < 1 || !Number.isInteger(step) || step < 1 || !(mode === 'throw' || mode === 'exit' || mode === 'oom' || mode === 'stall')
    || !(phase === 'compute' || phase === 'tail')) {
    throw Errors.usage(`${ENV.fault} must look like "executor=1,step=5,mode=throw[,phase=tail]" (mode: throw, exit, oom or stall; phase: compute or tail), got "${v}"`);
  }
  return { executor, step, mode, phase };
}
