/**
 * diagnose.ts — what the gradients are doing: a named diagnosis, with its numbers, after every step.
 *
 * A Diagnoser is fed one step record at a time and returns the diagnosis after it. It is a
 * pure function of the records pushed so far: it keeps the start values, a sliding window
 * of `window` steps (O(window × layers) memory, constant in the number of steps) and the
 * first non-finite value it saw. "The start" is the first finite step. States, most severe
 * first (DIAGNOSIS_ORDER):
 *
 *   diverged            NaN/±Inf in the loss or any norm; names the first step and layers; sticky.
 *   exploding           global ‖g‖ grew by orders of magnitude over the window while the loss did
 *                       not fall, or the loss rose to a multiple of its start, or a layer's
 *                       update/weight ratio is far above the healthy ~1e-3 (from the first step).
 *   vanishing           the first layer's ‖dJdW‖ orders of magnitude below a later layer's while
 *                       the loss is still high relative to its start.
 *   dead-relus          a large fraction of a relu layer's units never active over the batch.
 *   saturated           a large fraction of a tanh/sigmoid layer's units in the flat tails.
 *   target-out-of-range targets outside the output activation's range (known at construction).
 *   converged           loss on a plateau over a full window and the global ‖g‖ small relative
 *                       to its start: every layer's gradient is small, a stationary point — not
 *                       vanishing. Never before a full window; never together with diverged,
 *                       exploding, vanishing or dead-relus (a gradient that is small because
 *                       the units are dead is not convergence: the dead-relus evidence says so).
 *
 * Numbers read from a log may be null (JSON has no NaN/Infinity): null counts as non-finite.
 * Not here: the options and their defaults (diagnose-options.ts), number formatting and the
 * target-range check (diagnose-evidence.ts), computing per-layer norms (grad-stats.ts), rendering (render.ts).
 */

import type { Diagnosis, DiagnosisState, LayerRecord, StepRecord } from './schema';
import { DIAGNOSIS_DEFAULTS, DIAGNOSIS_INTEGERS, type DiagnosisContext, type DiagnosisOptions } from './diagnose-options';
import { fin, fmtNum, pct, targetRangeEvidence } from './diagnose-evidence';

/** States from the most to the least severe; a diagnosis lists its states in this order. */
export const DIAGNOSIS_ORDER: readonly DiagnosisState[] = [
  'diverged',
  'exploding',
  'vanishing',
  'dead-relus',
  'saturated',
  'target-out-of-range',
  'converged',
];

interface Entry {
  step: number;
  loss: number;
  gradNorm: number;
  dJdW: Float64Array;
  updateRatio: Float64Array;
  saturated: Float64Array;
  dead: Float64Array;
  activations: string[];
}

const NORM_FIELDS = ['dJdW', 'dJdWb', 'W', 'updateRatio'] as const;

function checkOptions(o: DiagnosisOptions): void {
  for (const [k, v] of Object.entries(o)) {
    if (!(k in DIAGNOSIS_DEFAULTS))
      throw new TypeError(`diagnosis option "${k}" is unknown (allowed: ${Object.keys(DIAGNOSIS_DEFAULTS).join(', ')})`);
    if (!fin(v) || v < 0) throw new RangeError(`diagnosis option "${k}" must be a finite number ≥ 0, got ${String(v)}`);
  }
  for (const [k, min] of Object.entries(DIAGNOSIS_INTEGERS) as [keyof DiagnosisOptions, number][]) {
    if (!Number.isInteger(o[k]) || o[k] < min || o[k] > 100_000)
      throw new RangeError(`diagnosis option "${k}" must be an integer in [${min}, 100000], got ${o[k]}`);
  }
}

/** The record fields a Diagnoser reads. */
export type DiagnosisInput = Pick<StepRecord, 'step' | 'loss' | 'gradNorm' | 'layers'>;

type LayerField = 'dJdW' | 'updateRatio' | 'saturated' | 'dead';

/**
 * Runs after every step on the coordinator's thread, in the step's critical path on a pool
 * (the record is written while the threads compute): a healthy step allocates almost nothing
 * here — ring entries are reused, the window is walked by index, sums are loops in the order
 * the means are defined in (oldest first, from +0), and the evidence strings are built
 * only for a state that holds, and only when asked for (push, explain; pushStates gives the
 * states alone).
 */
export class Diagnoser {
  private readonly opts: DiagnosisOptions;
  private readonly ctx: DiagnosisContext;
  private readonly targetEvidence: string | null;
  /** Ring of the last `window` finite steps; entries are reused. */
  private readonly ring: (Entry | undefined)[];
  private head = 0;
  /** Finite steps seen so far. */
  private finite = 0;
  /** Loss and global gradient norm of the first finite step ("the start"). */
  private startLoss = NaN;
  private startGrad = NaN;
  private divergedAt: string | null = null;
  private nonFiniteSteps = 0;
  /** The window of the diagnosis in progress, oldest first (its first recent() slots). */
  private readonly win: Entry[] = [];

  constructor(ctx: DiagnosisContext, opts: Partial<DiagnosisOptions> = {}) {
    const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
    this.opts = { ...DIAGNOSIS_DEFAULTS, ...defined };
    checkOptions(this.opts);
    this.ctx = ctx;
    this.targetEvidence = targetRangeEvidence(ctx);
    this.ring = new Array<Entry | undefined>(this.opts.window);
  }

  /** Steps in the diagnosis's sliding window. */
  get window(): number {
    return this.opts.window;
  }

  /** Adds a step and returns the diagnosis after it, with its evidence sentences. */
  push(rec: DiagnosisInput): Diagnosis {
    this.observe(rec);
    return this.diagnose(true);
  }

  /**
   * Adds a step and returns the states after it alone (`evidence` empty): the same states as
   * push(), without building the sentences; explain() builds them for the same moment.
   */
  pushStates(rec: DiagnosisInput): Diagnosis {
    this.observe(rec);
    return this.diagnose(false);
  }

  /** The diagnosis after the last step added, with its evidence (what push() returned for it). */
  explain(): Diagnosis {
    return this.diagnose(true);
  }

  private observe(rec: DiagnosisInput): void {
    const layers: LayerRecord[] = Array.isArray(rec.layers) ? rec.layers : [];
    const bad = nonFiniteParts(rec, layers);
    if (bad) {
      this.nonFiniteSteps++;
      if (this.divergedAt === null) this.divergedAt = `step ${rec.step}: ${bad}`;
    } else {
      this.add(rec, layers);
    }
  }

  /** Each layer's activation into `out` (push: one array shape for V8), reused when it has the length. */
  private activationsOf(layers: LayerRecord[], out: string[]): string[] {
    if (out.length !== layers.length) out = [];
    for (let i = 0; i < layers.length; i++) {
      const a = layers[i]!.activation;
      const v = typeof a === 'string' && a !== '' ? a : (this.ctx.layerActivations[i] ?? '');
      if (i < out.length) out[i] = v;
      else out.push(v);
    }
    return out;
  }

  private add(rec: DiagnosisInput, layers: LayerRecord[]): void {
    const n = layers.length;
    let e = this.ring[this.head];
    if (e === undefined || e.dJdW.length !== n) {
      e = {
        step: 0,
        loss: 0,
        gradNorm: 0,
        dJdW: new Float64Array(n),
        updateRatio: new Float64Array(n),
        saturated: new Float64Array(n),
        dead: new Float64Array(n),
        activations: [],
      };
      this.ring[this.head] = e;
    }
    e.step = rec.step;
    e.loss = rec.loss;
    e.gradNorm = rec.gradNorm;
    for (let l = 0; l < n; l++) {
      const r = layers[l]!;
      e.dJdW[l] = fin(r.dJdW) ? r.dJdW : 0;
      e.updateRatio[l] = fin(r.updateRatio) ? r.updateRatio : 0;
      e.saturated[l] = fin(r.saturated) ? r.saturated : 0;
      e.dead[l] = fin(r.dead) ? r.dead : 0;
    }
    e.activations = this.activationsOf(layers, e.activations);
    this.head = (this.head + 1) % this.ring.length;
    this.finite++;
    if (this.finite === 1) {
      this.startLoss = rec.loss;
      this.startGrad = rec.gradNorm;
    }
  }

  /** The last n finite entries into this.win, oldest first; returns how many. */
  private recent(n: number): number {
    const k = Math.min(n, this.finite, this.ring.length);
    const w = this.win;
    for (let i = k, j = 0; i >= 1; i--, j++) {
      const e = this.ring[(this.head - i + this.ring.length) % this.ring.length]!;
      if (j < w.length) w[j] = e;
      else w.push(e);
    }
    return k;
  }

  /** Mean of a layer's field over window entries [from, to), summed oldest first from +0. */
  private layerMean(k: LayerField, l: number, from: number, to: number): number {
    let s = 0;
    for (let i = from; i < to; i++) s += this.win[i]![k][l] ?? 0;
    return s / (to - from);
  }

  /** The states now; `words`: with their evidence sentences (else each state's evidence is ''). */
  private diagnose(words: boolean): Diagnosis {
    const o = this.opts;
    const evidence: Partial<Record<DiagnosisState, string>> = {};
    let any = false;
    if (this.divergedAt !== null) {
      evidence.diverged = words ? `first non-finite value at ${this.divergedAt}; ${this.nonFiniteSteps} step(s) non-finite so far` : '';
      any = true;
    }
    if (this.targetEvidence) {
      evidence['target-out-of-range'] = this.targetEvidence;
      any = true;
    }

    const wn = this.recent(o.window);
    const win = this.win;
    // the "now" values: the last smoothSteps entries of the window, [a, wn)
    const a = Math.max(0, wn - o.smoothSteps);
    if (wn > a) {
      const lastE = win[wn - 1]!;
      const nLayers = lastE.dJdW.length;
      const acts = lastE.activations;
      const span = !words ? '' : wn - a > 1 ? `over steps ${win[a]!.step}-${lastE.step}` : `at step ${win[a]!.step}`;

      // saturated and dead-relus are direct measurements: reported from the first step
      let sat: string[] | null = null;
      let dead: string[] | null = null;
      for (let l = 0; l < nLayers; l++) {
        if (acts[l] === 'tanh' || acts[l] === 'sigmoid') {
          const s = this.layerMean('saturated', l, a, wn);
          if (s >= o.saturatedFraction) (sat ??= []).push(words ? `layer ${l} (${acts[l]}) ${pct(s)}` : '');
        }
        if (acts[l] === 'relu') {
          const d = this.layerMean('dead', l, a, wn);
          if (d >= o.deadFraction) (dead ??= []).push(words ? `layer ${l} ${pct(d)}` : '');
        }
      }
      if (sat !== null) {
        evidence.saturated = words
          ? `${sat.join(', ')} of (unit, example) pairs saturated (derivative < 1 % of its maximum) ${span} (threshold ${pct(o.saturatedFraction)}): their gradients barely flow`
          : '';
        any = true;
      }
      if (dead !== null) {
        evidence['dead-relus'] = words
          ? `${dead.join(', ')} of units inactive for every example of the batch ${span} (threshold ${pct(o.deadFraction)}): they get no gradient`
          : '';
        any = true;
      }

      let lossSum = 0;
      let gradSum = 0;
      for (let i = a; i < wn; i++) {
        lossSum += win[i]!.loss;
        gradSum += win[i]!.gradNorm;
      }
      const lossNow = lossSum / (wn - a);
      const gradNow = gradSum / (wn - a);
      const lossStart = this.startLoss;

      // exploding: update ratios are a direct measurement (from the first step); growth needs a warm-up
      let why: string[] | null = null;
      let big: string[] | null = null;
      for (let l = 0; l < nLayers; l++) {
        const u = this.layerMean('updateRatio', l, a, wn);
        if (u >= o.explodingUpdateRatio) (big ??= []).push(words ? `layer ${l} ${fmtNum(u)}` : '');
      }
      if (big !== null) {
        why = [
          words
            ? `update/weight ratio |dW|/|W| ${big.join(', ')} ${span} (threshold ${fmtNum(o.explodingUpdateRatio)}; healthy training sits near 1e-3)`
            : '',
        ];
      }
      let vanishing = false;
      if (this.finite >= o.warmupSteps) {
        let minE = win[0]!;
        for (let i = 0; i < wn; i++) if (win[i]!.gradNorm < minE.gradNorm) minE = win[i]!;
        const growth = minE.gradNorm > 0 ? gradNow / minE.gradNorm : gradNow > 0 ? Infinity : 0;
        if (growth >= o.explodingGrowth && lossNow >= minE.loss) {
          (why ??= []).unshift(
            words
              ? `global |g| grew ${fmtNum(growth)}x, from ${fmtNum(minE.gradNorm)} at step ${minE.step} to ${fmtNum(gradNow)} (mean ${span}), while the loss went from ${fmtNum(minE.loss)} to ${fmtNum(lossNow)}`
              : '',
          );
        }
        if (lossStart > 0 && lossNow >= o.explodingLossRatio * lossStart) {
          (why ??= []).push(
            words
              ? `the loss ${fmtNum(lossNow)} ${span} is ${fmtNum(lossNow / lossStart)}x its start ${fmtNum(lossStart)} (threshold ${fmtNum(o.explodingLossRatio)}x): the steps overshoot`
              : '',
          );
        }

        // vanishing: the first layer against the strongest later layer, while the loss is still high
        if (nLayers >= 2 && lossStart > 0) {
          const first = this.layerMean('dJdW', 0, a, wn);
          let maxL = 1;
          let later = this.layerMean('dJdW', 1, a, wn);
          for (let l = 2; l < nLayers; l++) {
            const m = this.layerMean('dJdW', l, a, wn);
            if (m > later) {
              maxL = l;
              later = m;
            }
          }
          const ratio = later > 0 ? first / later : NaN;
          if (ratio <= o.vanishingLayerRatio && lossNow >= o.vanishingLossRatio * lossStart) {
            vanishing = true;
            any = true;
            evidence.vanishing = words
              ? `|dJdW| of layer 0 is ${fmtNum(first)}, of layer ${maxL} ${fmtNum(later)} (ratio ${fmtNum(ratio)} <= ${fmtNum(o.vanishingLayerRatio)}) ${span}, ` +
                `while the loss ${fmtNum(lossNow)} is still ${pct(lossNow / lossStart)} of its start ${fmtNum(lossStart)}: the early layers are barely learning`
              : '';
          }
        }
      }
      if (why !== null) {
        evidence.exploding = words ? `${why.join('; ')}: lower the learning rate or clip the gradient norm` : '';
        any = true;
      }

      // converged: a full window, a plateau, and a small gradient everywhere
      if (this.finite >= Math.max(o.window, o.warmupSteps) && this.startGrad > 0) {
        const half = Math.floor(wn / 2);
        let s1 = 0;
        for (let i = 0; i < half; i++) s1 += win[i]!.loss;
        let s2 = 0;
        for (let i = wn - half; i < wn; i++) s2 += win[i]!.loss;
        const m1 = s1 / half;
        const m2 = s2 / half;
        const denom = Math.max(Math.abs(m1), Math.abs(m2));
        const rel = denom > 0 ? Math.abs(m2 - m1) / denom : 0;
        const gradRatio = gradNow / this.startGrad;
        if (rel < o.plateauRelChange && gradRatio <= o.convergedGradRatio) {
          if (evidence['dead-relus'] !== undefined) {
            if (words)
              evidence['dead-relus'] +=
                `; the loss is flat and the gradient small (${fmtNum(gradRatio)} of its start) because the units are dead, not because the run converged`;
          } else if (!vanishing && evidence.exploding === undefined && this.divergedAt === null) {
            let worst = 0;
            let worstM = this.layerMean('dJdW', 0, a, wn);
            for (let l = 1; l < nLayers; l++) {
              const m = this.layerMean('dJdW', l, a, wn);
              if (m > worstM) {
                worst = l;
                worstM = m;
              }
            }
            any = true;
            evidence.converged = words
              ? `loss ${fmtNum(m2)} changed ${fmtNum(rel)} (relative) over the last ${wn} steps (threshold ${fmtNum(o.plateauRelChange)}), ` +
                `global |g| ${fmtNum(gradNow)} is ${fmtNum(gradRatio)} of its start ${fmtNum(this.startGrad)} (threshold ${fmtNum(o.convergedGradRatio)}); ` +
                `largest layer |dJdW| ${fmtNum(worstM)} (layer ${worst}): a stationary point, gradients are small in every layer, not vanishing`
              : '';
          }
        }
      }
    }
    if (!any) return { states: ['ok'], evidence: {} };
    const states: DiagnosisState[] = [];
    for (const st of DIAGNOSIS_ORDER) if (evidence[st] !== undefined) states.push(st);
    return { states, evidence };
  }
}

/** "layer 2 dJdW = NaN, loss = null"-style list of the non-finite parts of a record, or null when all are finite. */
function nonFiniteParts(rec: DiagnosisInput, layers: LayerRecord[]): string | null {
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
