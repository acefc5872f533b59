/**
 * suggest.ts — "did you mean …": the allowed names closest to a misspelt one.
 *
 * The same rule as the flags' suggestions (commander's suggestSimilar, which its package does
 * not export): optimal-string-alignment edit distance of at most 3, similarity
 * (length − distance) / length above 0.4, only the candidates at the best distance, sorted.
 * Not here: the messages that use it (config.ts).
 */

const MAX_DISTANCE = 3;
const MIN_SIMILARITY = 0.4;

/** Edit distance where a swap of two neighbours counts as one edit (no substring edited twice). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > MAX_DISTANCE) return Math.max(a.length, b.length);
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d[i] = [i];
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let j = 1; j <= b.length; j++) {
    for (let i = 1; i <= a.length; i++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidates closest to `word` (none when nothing is close), sorted. */
export function similarNames(word: string, candidates: readonly string[]): string[] {
  let best = MAX_DISTANCE;
  let similar: string[] = [];
  for (const c of new Set(candidates)) {
    if (c.length <= 1) continue;
    const distance = editDistance(word, c);
    const length = Math.max(word.length, c.length);
    if ((length - distance) / length <= MIN_SIMILARITY) continue;
    if (distance < best) {
      best = distance;
      similar = [c];
    } else if (distance === best) similar.push(c);
  }
  return similar.sort((x, y) => x.localeCompare(y));
}

/** `did you mean "x"?` / `did you mean one of "x", "y"?`, or '' when nothing is close. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const s = similarNames(word, candidates).map((c) => `"${c}"`);
  if (s.length === 0) return '';
  return s.length === 1 ? `did you mean ${s[0]}?` : `did you mean one of ${s.join(', ')}?`;
}
