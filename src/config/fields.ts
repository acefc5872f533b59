/**
 * config/fields.ts — the checks of one config field that every section's validation uses: each
 * returns the value or throws GradsyncError GS_ERR_CONFIG naming the field path
 * (e.g. `optimizer.lr`) and what it allows; unknown keys are named with a guess.
 * Not here: the sections themselves (config/validate*.ts).
 */

import { Errors } from '../errors';
import { didYouMean } from '../suggest';

export type Json = unknown;
export const isObj = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function keys(p: string, v: Json, allowed: string[]): Record<string, Json> {
  if (!isObj(v)) throw Errors.config(p, `must be an object, got ${show(v)}`);
  for (const k of Object.keys(v)) {
    if (allowed.includes(k)) continue;
    const guess = didYouMean(k, allowed);
    throw Errors.config(p ? `${p}.${k}` : k, `unknown key${guess ? `; ${guess}` : ''} (allowed: ${allowed.join(', ')})`);
  }
  return v;
}

export function show(v: Json): string {
  // JSON.parse reads a literal beyond the double range (1e999) as ±Infinity, which JSON.stringify writes as null
  if (typeof v === 'number' && !Number.isFinite(v))
    return Number.isNaN(v) ? 'NaN' : `an infinite value (${v > 0 ? '' : '-'}1e999 and the like overflow a double)`;
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

export interface NumOpts {
  min?: number;
  max?: number;
  int?: boolean;
  gt?: number;
}
export function num(p: string, v: Json, o: NumOpts = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw Errors.config(p, `must be a finite number, got ${show(v)}`);
  if (o.int && !Number.isInteger(v)) throw Errors.config(p, `must be an integer, got ${v}`);
  if (o.gt !== undefined && !(v > o.gt)) throw Errors.config(p, `must be > ${o.gt}, got ${v}`);
  if (o.min !== undefined && v < o.min) throw Errors.config(p, `must be ≥ ${o.min}, got ${v}`);
  if (o.max !== undefined && v > o.max) throw Errors.config(p, `must be ≤ ${o.max}, got ${v}`);
  return v;
}

export function oneOf<T extends string>(p: string, v: Json, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !allowed.includes(v as T))
    throw Errors.config(p, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${show(v)}`);
  return v as T;
}

export function bool(p: string, v: Json): boolean {
  if (typeof v !== 'boolean') throw Errors.config(p, `must be true or false, got ${show(v)}`);
  return v;
}

export function str(p: string, v: Json): string {
  if (typeof v !== 'string' || v.length === 0) throw Errors.config(p, `must be a non-empty string, got ${show(v)}`);
  if (v.includes('\0')) throw Errors.config(p, 'must not contain a NUL byte');
  return v;
}
