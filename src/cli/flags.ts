/**
 * cli/flags.ts — flag values that more than one command parses: integers, the kernel choice,
 * files (certificates) and the shared token. Each error names the flag (GS_ERR_USAGE, exit 2).
 * Not here: the commands themselves (train.ts, worker.ts, gradcheck.ts).
 */

import type { KernelChoice } from '../tensor/select';
import * as fs from 'node:fs';
import { Errors } from '../errors';
import { envToken } from '../env';

/** Parses an integer flag, naming it on error. */
export function intFlag(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min)
    throw Errors.usage(`--${name} must be an integer ≥ ${min}, got "${v}"`);
  return n;
}

export function kernelFlag(v: string | undefined): KernelChoice {
  const k = v ?? 'auto';
  if (k !== 'auto' && k !== 'native' && k !== 'wasm' && k !== 'ref')
    throw Errors.usage(`--kernels must be one of auto, native, wasm, ref, got "${k}"`);
  return k;
}

/** The bytes of a file a flag names (a PEM certificate); a usage error naming the flag when it cannot be read. */
export function readFileFlag(flag: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw Errors.usage(`--${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * The token from --token-file, its first line without surrounding white space (the rest of the
 * file is not read as token), or GRADSYNC_TOKEN; undefined when neither is set. Every command
 * with --token-file (train, worker, tail) reads it here.
 */
export function readToken(tokenFile: string | undefined): string | undefined {
  if (tokenFile === undefined) return envToken();
  let t: string;
  try {
    t = fs.readFileSync(tokenFile, 'utf8').split(/\r?\n/)[0]!.trim();
  } catch (e) {
    throw Errors.usage(`--token-file ${tokenFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (t === '') throw Errors.usage(`--token-file ${tokenFile}: its first line, the token, is empty`);
  return t;
}
