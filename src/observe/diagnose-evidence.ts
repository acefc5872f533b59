/**
 * diagnose-evidence.ts — the pieces of a diagnosis's evidence that need no window: how a number
 * is written in an evidence sentence (fmtNum, pct), what counts as a finite number (null and
 * non-numbers do not), and the target-out-of-range check against the output activation's range.
 * Not here: the states over the window (diagnose.ts), a reader carrying sentences between records (evidence.ts).
 */

import type { DiagnosisContext } from './diagnose-options';

/** A number for evidence sentences: 3 significant digits, exponent form outside [1e-3, 1e4). */
export function fmtNum(v: number | null | undefined): string {
  if (v === null || v === undefined) return 'null';
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e4) return String(Number(v.toPrecision(3)));
  return v.toExponential(1);
}

export const pct = (f: number): string => `${Number((f * 100).toPrecision(3))} %`;
export const fin = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Output range of an activation: [lo, hi] with open/closed ends; null when unbounded on both sides or unknown. */
function rangeOf(act: string): { lo: number; hi: number; open: boolean; text: string } | null {
  switch (act) {
    case 'tanh':
      return { lo: -1, hi: 1, open: true, text: '(-1, 1)' };
    case 'sigmoid':
      return { lo: 0, hi: 1, open: true, text: '(0, 1)' };
    case 'softmax':
      return { lo: 0, hi: 1, open: false, text: '[0, 1]' };
    case 'relu':
      return { lo: 0, hi: Infinity, open: false, text: '[0, inf)' };
    default:
      return null;
  }
}

/** Evidence for target-out-of-range, or null when the targets fit (or are unknown). */
export function targetRangeEvidence(ctx: DiagnosisContext): string | null {
  const r = rangeOf(ctx.outputActivation);
  if (!r || !fin(ctx.targetMin) || !fin(ctx.targetMax)) return null;
  const below = r.open ? ctx.targetMin <= r.lo : ctx.targetMin < r.lo;
  const above = r.open ? ctx.targetMax >= r.hi : ctx.targetMax > r.hi;
  if (!below && !above) return null;
  const bad = [below ? `min ${fmtNum(ctx.targetMin)}` : '', above ? `max ${fmtNum(ctx.targetMax)}` : ''].filter(Boolean).join(', ');
  return (
    `targets span [${fmtNum(ctx.targetMin)}, ${fmtNum(ctx.targetMax)}] (${bad}) but the ${ctx.outputActivation} output's range is ${r.text}: ` +
    'the fit can never be exact and the loss cannot reach 0 (a model limit, not a gradient bug); rescale the targets or change the output activation'
  );
}
