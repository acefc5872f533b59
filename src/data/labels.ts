/**
 * labels.ts — a column of class labels as people have it, turned into class indices: the CSV
 * loader's label column (csv.ts) and the y of in-memory data (arrays.ts).
 *
 * A column is either class indices or class names, decided for the whole column, as pandas
 * gives a column one dtype: when every label is a number, each must be an integer ≥ 0 and is
 * its own class index; as soon as one label is not a number, every label is a name — its text,
 * so "1" next to "setosa" is the name "1" — and the names get indices 0, 1, … in the order they
 * first appear. An empty name is an error.
 * Not here: where the labels come from, and how an error names the row (the callers' `fail`).
 */

import { allocLabels } from './dataset';

/** One label as read: its text (as shown in messages and used as a name) and its value when it is a number. */
export interface RawLabel {
  text: string;
  /** The label as a number, or null when it is not one (a name). */
  value: number | null;
}

export interface ClassLabels {
  /** The class index of each row. */
  labels: Int32Array;
  /** The class count: `classes` when given, else the largest index + 1, or the number of names. */
  classes: number;
  /** Class names by index when the column holds names, else null. */
  names: string[] | null;
}

/** Without an explicit class count, a label above this is taken for a data error, not a class. */
export const MAX_IMPLICIT_CLASSES = 65536;

/**
 * The class indices of the labels `at(0) … at(n−1)` (see the header of this file). `classes`
 * fixes the class count (undefined: inferred); `fail(r, message)` makes the error for row r.
 */
export function classLabels(
  n: number,
  at: (r: number) => RawLabel,
  classes: number | undefined,
  shared: boolean,
  fail: (r: number, message: string) => Error,
): ClassLabels {
  const labels = allocLabels(n, shared);
  let named = false;
  for (let r = 0; r < n && !named; r++) named = at(r).value === null;
  if (named) {
    const index = new Map<string, number>();
    for (let r = 0; r < n; r++) {
      const name = at(r).text;
      if (name === '') throw fail(r, 'the label is empty (a class name must have at least one character)');
      let k = index.get(name);
      if (k === undefined) {
        k = index.size;
        if (classes !== undefined && k >= classes)
          throw fail(r, `label ${quote(name)} is class name number ${k + 1}, but classes is ${classes}`);
        index.set(name, k);
      }
      labels[r] = k;
    }
    return { labels, classes: classes ?? index.size, names: [...index.keys()] };
  }
  let max = -1;
  for (let r = 0; r < n; r++) {
    const { text, value } = at(r);
    const v = value!;
    if (!Number.isInteger(v) || v < 0) throw fail(r, `label ${quote(text)} is not a class index (an integer ≥ 0)`);
    if (classes !== undefined && v >= classes)
      throw fail(r, `label ${v} is out of range: classes is ${classes}, so labels are 0..${classes - 1}`);
    if (classes === undefined && v >= MAX_IMPLICIT_CLASSES)
      throw fail(r, `label ${v} is too large (at most ${MAX_IMPLICIT_CLASSES - 1} unless the classes option says more)`);
    labels[r] = v;
    if (v > max) max = v;
  }
  return { labels, classes: classes ?? max + 1, names: null };
}

/** A label as it appears in messages: JSON-quoted, cut to 40 characters. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}
