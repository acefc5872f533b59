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
 * Each step is measured once (measure): the numbers every state and every sentence needs go
 * into a Measures object allocated once per Diagnoser, and the states that hold come back as a
 * bit mask (bit i: DIAGNOSIS_ORDER[i]). The sentences are written from those numbers only when
 * asked for (push, explain: diagnose-words.ts); pushStates gives the states alone, as one
 * frozen object per set of states.
 *
 * Numbers read from a log may be null (JSON has no NaN/Infinity): null counts as non-finite.
 * Not here: the options, their defaults and their checks (diagnose-options.ts), the sentences (diagnose-words.ts),
 * number formatting and the target-range check (diagnose-evidence.ts), computing per-layer norms
 * (grad-stats.ts), rendering (render.ts).
 */

import type { Diagnosis, DiagnosisState, LayerRecord, StepRecord } from './schema';
import { checkOptions, DIAGNOSIS_DEFAULTS, type DiagnosisContext, type DiagnosisOptions } from './diagnose-options';
import { fin, targetRangeEvidence } from './diagnose-evidence';
import { Bit, evidenceOf, growLayers, newMeasures, nonFiniteParts, type Measures } from './diagnose-words';

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

/** The states alone, as pushStates() gives them: frozen, one object per set of states. */
export interface DiagnosisStates {
  readonly states: readonly DiagnosisState[];
}

interface Entry {
  /** Its place among the finite steps (1, 2, …): what the minimum's queue expires by. */
  seq: number;
  step: number;
  loss: number;
  gradNorm: number;
  dJdW: Float64Array;
  updateRatio: Float64Array;
  saturated: Float64Array;
  dead: Float64Array;
  activations: string[];
}

/** The record fields a Diagnoser reads. */
export type DiagnosisInput = Pick<StepRecord, 'step' | 'loss' | 'gradNorm' | 'layers'>;

type LayerField = 'dJdW' | 'updateRatio' | 'saturated' | 'dead';

/** The states of a mask, in DIAGNOSIS_ORDER; ['ok'] for none. */
function statesOf(mask: number): DiagnosisState[] {
  const states: DiagnosisState[] = [];
  for (let i = 0; i < DIAGNOSIS_ORDER.length; i++) if (mask & (1 << i)) states.push(DIAGNOSIS_ORDER[i]!);
  return mask === 0 ? ['ok'] : states;
}

/** pushStates()'s objects, by mask, made on first use and shared by every Diagnoser. */
const STATES_BY_MASK: (DiagnosisStates | undefined)[] = [];

function frozenStates(mask: number): DiagnosisStates {
  let s = STATES_BY_MASK[mask];
  if (s === undefined) {
    s = Object.freeze({ states: Object.freeze(statesOf(mask)) });
    STATES_BY_MASK[mask] = s;
  }
  return s;
}

/**
 * Runs after every step on the coordinator's thread, in the step's critical path on a pool
 * (the record is written while the threads compute): pushStates allocates nothing for a finite
 * step whose states were seen before and whose layer count is the ring entry's it reuses — the
 * Measures and the entries are reused, the window is read in place in the ring, its smallest
 * |g| is kept by a queue as the steps come, sums are loops in the order the means are defined in
 * (oldest first, from +0), the plateau's only once the gradient is small — and only push and
 * explain write sentences.
 */
export class Diagnoser {
  private readonly opts: DiagnosisOptions;
  private readonly ctx: DiagnosisContext;
  private readonly targetEvidence: string | null;
  /**
   * Ring of the last `window` finite steps, each entry stored twice, at slot h and h + window:
   * the last k entries, oldest first, are ring[w0 … w0 + k) for w0 = head − k + window, a
   * window read in place (recent() copies nothing). Entries are reused.
   */
  private readonly ring: (Entry | undefined)[];
  private head = 0;
  /** The window of the diagnosis in progress: ring[w0 …] (recent()). */
  private w0 = 0;
  /**
   * The window's entries of increasing gradNorm from the oldest minimum on (a monotonic queue,
   * circular, `window` slots): its first is the window's smallest gradNorm, the oldest of equal
   * ones — what exploding's growth is measured from, kept as the steps come (O(1) a step).
   */
  private readonly minQ: (Entry | undefined)[];
  private qFirst = 0;
  private qLen = 0;
  /** Finite steps seen so far. */
  private finite = 0;
  /** Loss and global gradient norm of the first finite step ("the start"). */
  private startLoss = NaN;
  private startGrad = NaN;
  private divergedAt: string | null = null;
  private nonFiniteSteps = 0;
  /** The last measure's numbers, and the states it found (a mask of Bit). */
  private readonly m: Measures;
  private mask = 0;

  constructor(ctx: DiagnosisContext, opts: Partial<DiagnosisOptions> = {}) {
    const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
    this.opts = { ...DIAGNOSIS_DEFAULTS, ...defined };
    checkOptions(this.opts);
    this.ctx = ctx;
    this.targetEvidence = targetRangeEvidence(ctx);
    this.ring = new Array<Entry | undefined>(2 * this.opts.window);
    this.minQ = new Array<Entry | undefined>(this.opts.window);
    this.m = newMeasures(this.targetEvidence, ctx.layerActivations.length);
    this.mask = this.measure();
  }

  /** Steps in the diagnosis's sliding window. */
  get window(): number {
    return this.opts.window;
  }

  /** Adds a step and returns the diagnosis after it, with its evidence sentences (a new object). */
  push(rec: DiagnosisInput): Diagnosis {
    this.observe(rec);
    this.mask = this.measure();
    return this.explain();
  }

  /**
   * Adds a step and returns the states after it alone (no `evidence`): push()'s states, without
   * the sentences; explain() writes them for the same moment. The object is frozen and the same
   * one for the same states (across Diagnosers too): a caller may compare two by identity.
   */
  pushStates(rec: DiagnosisInput): DiagnosisStates {
    this.observe(rec);
    this.mask = this.measure();
    return frozenStates(this.mask);
  }

  /** The diagnosis after the last step added, with its evidence (what push() returned for it; a new object). */
  explain(): Diagnosis {
    if (this.mask === 0) return { states: ['ok'], evidence: {} };
    return { states: statesOf(this.mask), evidence: evidenceOf(this.m, this.mask, this.opts) };
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
    const W = this.opts.window;
    const seq = this.finite + 1;
    // the entry leaving the window (the one about to be reused) leaves the minimum's queue first
    while (this.qLen > 0 && this.minQ[this.qFirst]!.seq <= seq - W) {
      this.qFirst = (this.qFirst + 1) % W;
      this.qLen--;
    }
    let e = this.ring[this.head];
    if (e === undefined || e.dJdW.length !== n) {
      e = {
        seq: 0,
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
      this.ring[this.head + W] = e;
    }
    e.seq = seq;
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
    // into the minimum's queue: the larger ones before it can no longer be the window's minimum
    while (this.qLen > 0 && this.minQ[(this.qFirst + this.qLen - 1) % W]!.gradNorm > e.gradNorm) this.qLen--;
    this.minQ[(this.qFirst + this.qLen) % W] = e;
    this.qLen++;
    this.head = (this.head + 1) % W;
    this.finite = seq;
    if (this.finite === 1) {
      this.startLoss = rec.loss;
      this.startGrad = rec.gradNorm;
    }
  }

  /** The window: the last min(window, finite) entries, at ring[w0 …), oldest first; returns how many. */
  private recent(): number {
    const W = this.opts.window;
    const k = Math.min(W, this.finite);
    this.w0 = this.head - k + W;
    return k;
  }

  /** Mean of a layer's field over window entries [from, to), summed oldest first from +0. */
  private layerMean(k: LayerField, l: number, from: number, to: number): number {
    let s = 0;
    for (let i = from; i < to; i++) s += this.ring[this.w0 + i]![k][l] ?? 0;
    return s / (to - from);
  }

  /** The states now, as a mask of Bit, with their numbers in this.m. */
  private measure(): number {
    const o = this.opts;
    const m = this.m;
    let mask = 0;
    m.divergedAt = this.divergedAt;
    m.nonFiniteSteps = this.nonFiniteSteps;
    if (this.divergedAt !== null) mask |= Bit.diverged;
    if (this.targetEvidence) mask |= Bit.targetOutOfRange;
    const wn = this.recent();
    // the "now" values: the last smoothSteps entries of the window, [a, wn)
    const a = Math.max(0, wn - o.smoothSteps);
    if (wn > a) mask |= this.measureWindow(wn, a, mask);
    return mask;
  }

  /** measure() over a window of wn entries, the "now" span [a, wn); `mask`: the states so far. */
  private measureWindow(wn: number, a: number, mask: number): number {
    const m = this.m;
    const ring = this.ring;
    const w0 = this.w0;
    const lastE = ring[w0 + wn - 1]!;
    const n = lastE.dJdW.length;
    if (m.sat.length < n) growLayers(m, n);
    m.spanFrom = ring[w0 + a]!.step;
    m.spanTo = lastE.step;
    m.spanSteps = wn - a;
    m.windowSteps = wn;
    m.layers = n;
    m.acts = lastE.activations;
    let lossSum = 0;
    let gradSum = 0;
    for (let i = a; i < wn; i++) {
      const e = ring[w0 + i]!;
      lossSum += e.loss;
      gradSum += e.gradNorm;
    }
    m.lossNow = lossSum / (wn - a);
    m.gradNow = gradSum / (wn - a);
    m.lossStart = this.startLoss;
    m.gradStart = this.startGrad;
    mask |= this.measureLayers(wn, a);
    // exploding: update ratios are a direct measurement (from the first step); growth needs a warm-up
    m.grew = false;
    m.lossRose = false;
    if (this.finite >= this.opts.warmupSteps) mask |= this.measureTrend(wn, a);
    if (m.bigAny || m.grew || m.lossRose) mask |= Bit.exploding;
    return mask | this.measureConverged(wn, a, mask);
  }

  /** saturated, dead-relus and the update ratios: direct measurements, reported from the first step. */
  private measureLayers(wn: number, a: number): number {
    const o = this.opts;
    const m = this.m;
    const acts = m.acts;
    let mask = 0;
    m.bigAny = false;
    for (let l = 0; l < m.layers; l++) {
      m.satHit[l] = 0;
      m.deadHit[l] = 0;
      m.bigHit[l] = 0;
      if (acts[l] === 'tanh' || acts[l] === 'sigmoid') {
        const s = this.layerMean('saturated', l, a, wn);
        if (s >= o.saturatedFraction) {
          m.satHit[l] = 1;
          m.sat[l] = s;
          mask |= Bit.saturated;
        }
      }
      if (acts[l] === 'relu') {
        const d = this.layerMean('dead', l, a, wn);
        if (d >= o.deadFraction) {
          m.deadHit[l] = 1;
          m.dead[l] = d;
          mask |= Bit.deadRelus;
        }
      }
      const u = this.layerMean('updateRatio', l, a, wn);
      if (u >= o.explodingUpdateRatio) {
        m.bigHit[l] = 1;
        m.big[l] = u;
        m.bigAny = true;
      }
    }
    return mask;
  }

  /** After the warm-up: exploding's growth of ‖g‖ and rise of the loss, and vanishing. */
  private measureTrend(wn: number, a: number): number {
    const o = this.opts;
    const m = this.m;
    // the window's smallest gradNorm, the oldest of equal ones (the minimum's queue keeps it)
    const minE = this.minQ[this.qFirst]!;
    const growth = minE.gradNorm > 0 ? m.gradNow / minE.gradNorm : m.gradNow > 0 ? Infinity : 0;
    m.grew = growth >= o.explodingGrowth && m.lossNow >= minE.loss;
    m.growth = growth;
    m.minStep = minE.step;
    m.minGrad = minE.gradNorm;
    m.minLoss = minE.loss;
    const lossStart = m.lossStart;
    m.lossRose = lossStart > 0 && m.lossNow >= o.explodingLossRatio * lossStart;

    // vanishing: the first layer against the strongest later layer, while the loss is still high
    if (m.layers < 2 || !(lossStart > 0)) return 0;
    const first = this.layerMean('dJdW', 0, a, wn);
    const maxL = this.largestDJdW(1, a, wn);
    const later = this.layerMean('dJdW', maxL, a, wn);
    // if/else, not a ternary with a NaN arm: that one boxed the quotient (an allocation a step, Node 20)
    let ratio = NaN;
    if (later > 0) ratio = first / later;
    m.first = first;
    m.later = later;
    m.maxL = maxL;
    m.ratio = ratio;
    return ratio <= o.vanishingLayerRatio && m.lossNow >= o.vanishingLossRatio * lossStart ? Bit.vanishing : 0;
  }

  /** converged: a full window, a plateau, and a small gradient everywhere; `mask`: the states so far. */
  private measureConverged(wn: number, a: number, mask: number): number {
    const o = this.opts;
    const m = this.m;
    m.deadFlat = false;
    if (!(this.finite >= Math.max(o.window, o.warmupSteps) && this.startGrad > 0)) return 0;
    // the gradient first: while it is not small, the plateau's sums are not needed (nor read)
    const gradRatio = m.gradNow / this.startGrad;
    m.gradRatio = gradRatio;
    if (!(gradRatio <= o.convergedGradRatio)) return 0;
    const ring = this.ring;
    const w0 = this.w0;
    const half = Math.floor(wn / 2);
    let s1 = 0;
    for (let i = 0; i < half; i++) s1 += ring[w0 + i]!.loss;
    let s2 = 0;
    for (let i = wn - half; i < wn; i++) s2 += ring[w0 + i]!.loss;
    const m1 = s1 / half;
    const m2 = s2 / half;
    const denom = Math.max(Math.abs(m1), Math.abs(m2));
    const rel = denom > 0 ? Math.abs(m2 - m1) / denom : 0;
    m.m2 = m2;
    m.rel = rel;
    if (!(rel < o.plateauRelChange)) return 0;
    // a gradient that is small because the units are dead is not convergence
    if (mask & Bit.deadRelus) {
      m.deadFlat = true;
      return 0;
    }
    if (mask & (Bit.vanishing | Bit.exploding | Bit.diverged)) return 0;
    m.worst = this.largestDJdW(0, a, wn);
    m.worstM = this.layerMean('dJdW', m.worst, a, wn);
    return Bit.converged;
  }

  /** The layer of [from, layers) whose mean |dJdW| over [a, wn) is the largest, the first of equal ones. */
  private largestDJdW(from: number, a: number, wn: number): number {
    let best = from;
    let bestMean = this.layerMean('dJdW', from, a, wn);
    for (let l = from + 1; l < this.m.layers; l++) {
      const x = this.layerMean('dJdW', l, a, wn);
      if (x > bestMean) {
        best = l;
        bestMean = x;
      }
    }
    return best;
  }
}
