/**
 * bench-ab-rule.ts — the verdict of an interleaved A/B (scripts/bench-ab.ts) from its round ratios:
 * a pure function, so the rule is tested and stated once.
 *
 * Each round's ratio is off/on: B's samples/s over A's, A with the strategy on. Below 1, on is faster.
 * With 3 rounds or more: "keep" when every round is below 1, or when the median's gain (1 − median)
 * exceeds the half-spread ((max − min) / 2); "drop" in the mirror case (every round above 1, or the
 * median's loss beyond the half-spread); otherwise "no gain shown". Under no effect at all, five rounds
 * fall on one side by chance 1 time in 16; the half-spread test catches a large gain with one stray round.
 */

export interface AbVerdict {
  median: number;
  min: number;
  max: number;
  verdict: 'keep' | 'drop' | 'no gain shown' | 'no verdict';
  /** Why, in words, e.g. "every round's ratio is below 1". */
  why: string;
}

/** The fewest rounds a verdict is given on. */
export const MIN_ROUNDS = 3;

function medianOf(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** The verdict on off/on ratios, one per round (see the header for the rule). */
export function abVerdict(ratios: number[]): AbVerdict {
  if (ratios.length === 0) return { median: NaN, min: NaN, max: NaN, verdict: 'no verdict', why: 'no rounds' };
  const median = medianOf(ratios);
  const min = Math.min(...ratios);
  const max = Math.max(...ratios);
  const half = (max - min) / 2;
  const base = { median, min, max };
  if (ratios.length < MIN_ROUNDS) return { ...base, verdict: 'no verdict', why: `fewer than ${MIN_ROUNDS} rounds` };
  if (max < 1) return { ...base, verdict: 'keep', why: "every round's ratio is below 1" };
  if (1 - median > half) return { ...base, verdict: 'keep', why: 'the median gain exceeds the half-spread' };
  if (min > 1) return { ...base, verdict: 'drop', why: "every round's ratio is above 1: off is faster" };
  if (median - 1 > half) return { ...base, verdict: 'drop', why: 'the median loss exceeds the half-spread: off is faster' };
  return { ...base, verdict: 'no gain shown', why: 'within the spread' };
}

/** The verdict line, e.g. "sharedTail: off/on 0.93x (median of 5; rounds 0.88-0.99) -> keep (every round's ratio is below 1)". */
export function verdictLine(label: string, ratios: number[]): string {
  const v = abVerdict(ratios);
  return `${label}: off/on ${v.median.toFixed(2)}x (median of ${ratios.length}; rounds ${v.min.toFixed(2)}-${v.max.toFixed(2)}) -> ${v.verdict} (${v.why})`;
}
