/**
 * terminal-text.ts — text for a terminal, one line at a time: sparklines (8 block characters;
 * a log scale for values that move by orders of magnitude, a linear one, or a fixed 0–1 scale for
 * fractions; '.' marks 0 on a log scale or an exact 0 fraction, '!' a non-finite value), strings
 * from a record stripped of control characters (a log file is untrusted input), and lines
 * measured, cut and word-wrapped to a width, ANSI colour escapes kept and not counted.
 * Not here: what a screen shows (render.ts).
 */

const BARS = '▁▂▃▄▅▆▇█';

export type SparkScale = 'log' | 'linear' | 'fraction';

/** One 8-level sparkline character per value. */
export function sparkline(values: ArrayLike<number>, scale: SparkScale): string {
  const n = values.length;
  if (n === 0) return '';
  const tr = (v: number): number => (scale === 'log' ? Math.log10(v) : v);
  const usable = (v: number): boolean => Number.isFinite(v) && (scale !== 'log' || v > 0);
  let lo = scale === 'fraction' ? 0 : Infinity;
  let hi = scale === 'fraction' ? 1 : -Infinity;
  if (scale !== 'fraction') {
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      if (usable(v)) {
        lo = Math.min(lo, tr(v));
        hi = Math.max(hi, tr(v));
      }
    }
  }
  let out = '';
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) out += '!';
    else if (!usable(v) || (scale === 'fraction' && v <= 0)) out += '.';
    else if (hi - lo < 1e-12) out += BARS[3];
    else out += BARS[Math.max(0, Math.min(7, Math.round(((tr(v) - lo) / (hi - lo)) * 7)))];
  }
  return out;
}

/** Replaces control characters (ESC included) and caps the length of a string from a record. */
export function clean(v: unknown, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const s = String(v ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

/** Code points of a string without ANSI escapes (every character we print is one column wide). */
export function visibleWidth(s: string): number {
  // eslint-disable-next-line no-control-regex
  return [...s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')].length;
}

/** Cuts a line (which may hold colour escapes) to `width` columns. */
export function fitWidth(s: string, width: number): string {
  if (visibleWidth(s) <= width) return s;
  let out = '';
  let w = 0;
  let escaped = false;
  // eslint-disable-next-line no-control-regex
  for (const part of s.split(/(\x1b\[[0-9;?]*[A-Za-z])/)) {
    if (w >= width) break;
    if (part.startsWith('\x1b[')) {
      out += part;
      escaped = true;
      continue;
    }
    for (const ch of part) {
      if (w >= width) break;
      out += ch;
      w++;
    }
  }
  return escaped ? `${out}\x1b[0m` : out;
}

/** Word-wraps text to `width` columns (runs of spaces kept), each line after the first starting with `indent`. */
export function wrap(text: string, width: number, indent = ''): string[] {
  const out: string[] = [];
  let line: string | null = null;
  for (const word of text.split(' ')) {
    const cand: string = line === null ? word : `${line} ${word}`;
    if (line === null || visibleWidth(cand) <= width || line.trim() === '') line = cand;
    else {
      out.push(line);
      line = indent + word;
    }
  }
  if (line !== null && line !== '') out.push(line);
  return out.map((l) => fitWidth(l, width));
}
