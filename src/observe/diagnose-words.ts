/**
 * diagnose-words.ts — the evidence sentences of a diagnosis, written from the numbers a
 * Diagnoser measured (Measures) for the states that hold (a mask of Bit): nothing is decided
 * here, every number is one the decision used. Also the list of a record's non-finite parts,
 * the diverged state's evidence (nonFiniteParts).
 * Not here: measuring and deciding the states (diagnose.ts), writing one number (diagnose-evidence.ts).
 */

import type { DiagnosisState, LayerRecord, StepRecord } from './schema';
import type { DiagnosisOptions } from './diagnose-options';
import { fin, fmtNum, pct } from './diagnose-evidence';

/** A state's bit in a mask of states: bit i stands for DIAGNOSIS_ORDER[i] (diagnose.ts). */
export const Bit = {
  diverged: 1,
  exploding: 2,
  vanishing: 4,
  deadRelus: 8,
  saturated: 16,
  targetOutOfRange: 32,
  converged: 64,
} as const;

/**
 * What the states and their sentences are made of, as the last measure left it: one object per
 * Diagnoser, overwritten at each step. A field is meaningful only where its state (or flag) holds.
 */
export interface Measures {
  /** diverged: the first non-finite step and its parts, and how many steps were non-finite. */
  divergedAt: string | null;
  nonFiniteSteps: number;
  /** target-out-of-range: its sentence, fixed at construction (null when the targets fit). */
  targetEvidence: string | null;
  /** The "now" span (the window's last smoothSteps entries): its first and last step, and its length. */
  spanFrom: number;
  spanTo: number;
  spanSteps: number;
  /** Entries in the window (converged's plateau). */
  windowSteps: number;
  /** The newest entry's layers and their activations (that entry's array: read before the next push). */
  layers: number;
  acts: readonly string[];
  /** Per layer, sized to the most layers seen: 1 where the span's mean crossed the threshold, and that mean. */
  satHit: Uint8Array;
  sat: Float64Array;
  deadHit: Uint8Array;
  dead: Float64Array;
  bigHit: Uint8Array;
  big: Float64Array;
  /** exploding: some layer's update/weight ratio crossed its threshold. */
  bigAny: boolean;
  /** Means of the loss and the global ‖g‖ over the span, and both at the start (the first finite step). */
  lossNow: number;
  gradNow: number;
  lossStart: number;
  gradStart: number;
  /** exploding: the global ‖g‖ grew from the window's smallest (minStep, minGrad, minLoss) while the loss did not fall. */
  grew: boolean;
  growth: number;
  minStep: number;
  minGrad: number;
  minLoss: number;
  /** exploding: the loss rose to a multiple of its start. */
  lossRose: boolean;
  /** vanishing: layer 0's mean ‖dJdW‖, the strongest later layer's (maxL) and their ratio. */
  first: number;
  later: number;
  maxL: number;
  ratio: number;
  /** converged: the mean loss of the window's second half, its relative change, ‖g‖ now / at the start, the largest layer ‖dJdW‖. */
  m2: number;
  rel: number;
  gradRatio: number;
  worst: number;
  worstM: number;
  /** dead-relus: the loss is on a plateau with a small gradient (its sentence says why: the dead units). */
  deadFlat: boolean;
}

/** A Measures for `layers` layers (grown by the Diagnoser when a record has more). */
export function newMeasures(targetEvidence: string | null, layers: number): Measures {
  // the fractional fields start at NaN, not 0: a double from the first store, so the object
  // keeps one shape (a field that holds 0 and later 0.5 changes it, and V8 recompiles its readers)
  return {
    divergedAt: null,
    nonFiniteSteps: 0,
    targetEvidence,
    spanFrom: 0,
    spanTo: 0,
    spanSteps: 0,
    windowSteps: 0,
    layers: 0,
    acts: [],
    satHit: new Uint8Array(layers),
    sat: new Float64Array(layers),
    deadHit: new Uint8Array(layers),
    dead: new Float64Array(layers),
    bigHit: new Uint8Array(layers),
    big: new Float64Array(layers),
    bigAny: false,
    lossNow: NaN,
    gradNow: NaN,
    lossStart: NaN,
    gradStart: NaN,
    grew: false,
    growth: NaN,
    minStep: 0,
    minGrad: NaN,
    minLoss: NaN,
    lossRose: false,
    first: NaN,
    later: NaN,
    maxL: 0,
    ratio: NaN,
    m2: NaN,
    rel: NaN,
    gradRatio: NaN,
    worst: 0,
    worstM: NaN,
    deadFlat: false,
  };
}

/** Room in m's per-layer arrays for n layers (a record with more layers than any before). */
export function growLayers(m: Measures, n: number): void {
  m.satHit = new Uint8Array(n);
  m.sat = new Float64Array(n);
  m.deadHit = new Uint8Array(n);
  m.dead = new Float64Array(n);
  m.bigHit = new Uint8Array(n);
  m.big = new Float64Array(n);
}

/** "layer 0 (tanh) 80 %"-style parts for the layers whose flag is set, in layer order. */
function hits(m: Measures, hit: Uint8Array, part: (l: number) => string): string {
  const out: string[] = [];
  for (let l = 0; l < m.layers; l++) if (hit[l] === 1) out.push(part(l));
  return out.join(', ');
}

/** The evidence sentence of each state in `mask`, keyed in the order a record writes them. */
export function evidenceOf(m: Measures, mask: number, o: DiagnosisOptions): Partial<Record<DiagnosisState, string>> {
  const evidence: Partial<Record<DiagnosisState, string>> = {};
  if (mask & Bit.diverged) evidence.diverged = `first non-finite value at ${m.divergedAt}; ${m.nonFiniteSteps} step(s) non-finite so far`;
  if (mask & Bit.targetOutOfRange) evidence['target-out-of-range'] = m.targetEvidence!;
  const span = m.spanSteps > 1 ? `over steps ${m.spanFrom}-${m.spanTo}` : `at step ${m.spanFrom}`;
  if (mask & Bit.saturated) {
    const sat = hits(m, m.satHit, (l) => `layer ${l} (${m.acts[l]}) ${pct(m.sat[l]!)}`);
    evidence.saturated = `${sat} of (unit, example) pairs saturated (derivative < 1 % of its maximum) ${span} (threshold ${pct(o.saturatedFraction)}): their gradients barely flow`;
  }
  if (mask & Bit.deadRelus) {
    const dead = hits(m, m.deadHit, (l) => `layer ${l} ${pct(m.dead[l]!)}`);
    evidence['dead-relus'] =
      `${dead} of units inactive for every example of the batch ${span} (threshold ${pct(o.deadFraction)}): they get no gradient` +
      (m.deadFlat
        ? `; the loss is flat and the gradient small (${fmtNum(m.gradRatio)} of its start) because the units are dead, not because the run converged`
        : '');
  }
  if (mask & Bit.vanishing) {
    evidence.vanishing =
      `|dJdW| of layer 0 is ${fmtNum(m.first)}, of layer ${m.maxL} ${fmtNum(m.later)} (ratio ${fmtNum(m.ratio)} <= ${fmtNum(o.vanishingLayerRatio)}) ${span}, ` +
      `while the loss ${fmtNum(m.lossNow)} is still ${pct(m.lossNow / m.lossStart)} of its start ${fmtNum(m.lossStart)}: the early layers are barely learning`;
  }
  if (mask & Bit.exploding) evidence.exploding = `${explodingWhy(m, o, span)}: lower the learning rate or clip the gradient norm`;
  if (mask & Bit.converged) {
    evidence.converged =
      `loss ${fmtNum(m.m2)} changed ${fmtNum(m.rel)} (relative) over the last ${m.windowSteps} steps (threshold ${fmtNum(o.plateauRelChange)}), ` +
      `global |g| ${fmtNum(m.gradNow)} is ${fmtNum(m.gradRatio)} of its start ${fmtNum(m.gradStart)} (threshold ${fmtNum(o.convergedGradRatio)}); ` +
      `largest layer |dJdW| ${fmtNum(m.worstM)} (layer ${m.worst}): a stationary point, gradients are small in every layer, not vanishing`;
  }
  return evidence;
}

/** exploding's reasons, '; '-joined: the growth of ‖g‖, the layers' update ratios, the loss against its start. */
function explodingWhy(m: Measures, o: DiagnosisOptions, span: string): string {
  const why: string[] = [];
  if (m.grew) {
    why.push(
      `global |g| grew ${fmtNum(m.growth)}x, from ${fmtNum(m.minGrad)} at step ${m.minStep} to ${fmtNum(m.gradNow)} (mean ${span}), while the loss went from ${fmtNum(m.minLoss)} to ${fmtNum(m.lossNow)}`,
    );
  }
  if (m.bigAny) {
    const big = hits(m, m.bigHit, (l) => `layer ${l} ${fmtNum(m.big[l]!)}`);
    why.push(`update/weight ratio |dW|/|W| ${big} ${span} (threshold ${fmtNum(o.explodingUpdateRatio)}; healthy training sits near 1e-3)`);
  }
  if (m.lossRose) {
    why.push(
      `the loss ${fmtNum(m.lossNow)} ${span} is ${fmtNum(m.lossNow / m.lossStart)}x its start ${fmtNum(m.lossStart)} (threshold ${fmtNum(o.explodingLossRatio)}x): the steps overshoot`,
    );
  }
  return why.join('; ');
}

const NORM_FIELDS = ['dJdW', 'dJdWb', 'W', 'updateRatio'] as const;

/** "layer 2 dJdW = NaN, loss = null"-style list of the non-finite parts of a record, or null when all are finite. */
export function nonFiniteParts(rec: Pick<StepRecord, 'loss' | 'gradNorm'>, layers: LayerRecord[]): string | null {
  let clean = fin(rec.loss) && fin(rec.gradNorm);
  for (let l = 0; l < layers.length && clean; l++) {
    const lr = layers[l]!;
    clean = fin(lr.dJdW) && fin(lr.dJdWb) && fin(lr.W) && fin(lr.updateRatio);
  }
  if (clean) return null;
  const parts: string[] = [];
  for (let l = 0; l < layers.length; l++) {
    const lr = layers[l]!;
    const fields = NORM_FIELDS.filter((k) => !fin(lr[k]));
    if (fields.length > 0)
      parts.push(`layer ${typeof lr.layer === 'number' ? lr.layer : l} ${fields.map((k) => `${k} = ${fmtNum(lr[k])}`).join(', ')}`);
  }
  const shown = parts.length > 3 ? [...parts.slice(0, 3), `${parts.length - 3} more layer(s)`] : parts;
  if (!fin(rec.loss)) shown.push(`loss = ${fmtNum(rec.loss)}`);
  if (!fin(rec.gradNorm)) shown.push(`global |g| = ${fmtNum(rec.gradNorm)}`);
  return shown.length > 0 ? shown.join('; ') : null;
}
