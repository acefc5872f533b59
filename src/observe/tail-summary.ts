/**
 * tail-summary.ts — everything `gradsync tail` shows, updated one record at a time: the run,
 * the model line, the latest step, eval, end and early-stop records, a window of the loss, the
 * global gradient norm and every layer's metrics (METRICS) for the sparklines, and the diagnosis
 * (the record's own with the evidence last seen for its states, or one computed here for records
 * that carry none). A record of another run starts the summary afresh.
 * Not here: drawing it (render.ts), reading records (tail.ts).
 */

import { Diagnoser } from './diagnose';
import { isEval, isStep, type FollowStats, type GsRecord } from './tail';
import type { Diagnosis, StepRecord } from './schema';
import { EvidenceCarry } from './evidence';
import { clean } from './terminal-text';

/** Fixed-size ring of numbers; values() returns the last `n` in order. */
class Series {
  private readonly data: Float64Array;
  private count = 0;
  constructor(cap: number) {
    this.data = new Float64Array(cap);
  }
  push(v: number): void {
    this.data[this.count % this.data.length] = v;
    this.count++;
  }
  get length(): number {
    return Math.min(this.count, this.data.length);
  }
  values(n = this.data.length): Float64Array {
    const k = Math.min(n, this.length);
    const out = new Float64Array(k);
    for (let i = 0; i < k; i++) out[i] = this.data[(this.count - k + i) % this.data.length]!;
    return out;
  }
}

export const METRICS = [
  { key: 'dJdW', head: '|dJdW|', scale: 'log' },
  { key: 'dJdWb', head: '|dJdWb|', scale: 'log' },
  { key: 'updateRatio', head: 'upd/W', scale: 'log' },
  { key: 'saturated', head: 'saturated', scale: 'fraction' },
  { key: 'dead', head: 'dead', scale: 'fraction' },
] as const;
export type MetricKey = (typeof METRICS)[number]['key'];

export interface SummaryOptions {
  /** Steps kept per series (the longest sparkline). Default 60. */
  window?: number;
}

/** Everything `tail` shows, updated one record at a time. */
export class Summary {
  readonly window: number;
  run = '';
  schema = -1;
  steps = 0;
  latest: (GsRecord & StepRecord) | null = null;
  lastEval: (GsRecord & { loss: number; accuracy?: number; step: number }) | null = null;
  ended: GsRecord | null = null;
  /** The 'early-stop' record, when early stopping ended the run. */
  earlyStop: GsRecord | null = null;
  model = '';
  /** Counters of the reader (set by the caller). */
  stats: FollowStats | null = null;
  private loss: Series;
  private grad: Series;
  private layers: Record<MetricKey, Series>[] = [];
  private fallback: Diagnoser | null = null;
  private fallbackDiagnosis: Diagnosis | null = null;
  /** The latest record's diagnosis, with the evidence last seen for its states. */
  private recordDiagnosis: Diagnosis | null = null;
  private readonly carry = new EvidenceCarry();
  private startModel: { layers: string[]; loss: string } | null = null;

  constructor(opts: SummaryOptions = {}) {
    const w = opts.window ?? 60;
    if (!Number.isInteger(w) || w < 1 || w > 10_000) throw new RangeError(`window must be an integer in [1, 10000], got ${String(w)}`);
    this.window = w;
    this.loss = new Series(w);
    this.grad = new Series(w);
  }

  add(rec: GsRecord): void {
    const run = typeof rec.run === 'string' ? rec.run : '';
    if (run !== '' && this.run !== '' && run !== this.run) this.reset();
    if (run !== '') this.run = run;
    this.schema = rec.schema;
    if (rec.msg === 'start') this.onStart(rec);
    else if (isStep(rec)) this.onStep(rec);
    else if (isEval(rec) && typeof rec.step === 'number') this.lastEval = rec;
    else if (rec.msg === 'end') this.ended = rec;
    else if (rec.msg === 'early-stop') this.earlyStop = rec;
  }

  /** The diagnosis to show: the record's own, else one computed here (v0 records carry none). */
  get diagnosis(): Diagnosis | null {
    return this.recordDiagnosis ?? this.fallbackDiagnosis;
  }

  /** Steps available to the sparklines (at most the window). */
  get stepsShown(): number {
    return Math.min(this.steps, this.window);
  }

  series(l: number, key: MetricKey, n: number): Float64Array {
    return this.layers[l]?.[key].values(n) ?? new Float64Array(0);
  }
  lossSeries(n: number): Float64Array {
    return this.loss.values(n);
  }
  gradSeries(n: number): Float64Array {
    return this.grad.values(n);
  }

  private reset(): void {
    this.steps = 0;
    this.latest = null;
    this.lastEval = null;
    this.ended = null;
    this.earlyStop = null;
    this.model = '';
    this.loss = new Series(this.window);
    this.grad = new Series(this.window);
    this.layers = [];
    this.fallback = null;
    this.fallbackDiagnosis = null;
    this.recordDiagnosis = null;
    this.carry.reset();
    this.startModel = null;
  }

  private onStart(rec: GsRecord): void {
    if (this.steps > 0) this.reset();
    const m = rec.model as { inputs?: unknown; layers?: unknown; loss?: unknown; dtype?: unknown } | undefined;
    if (m && Array.isArray(m.layers)) {
      const ls = m.layers.slice(0, 64) as {
        type?: unknown;
        units?: unknown;
        filters?: unknown;
        kernel?: unknown;
        size?: unknown;
        activation?: unknown;
      }[];
      // a layer without type is dense (the records of MLP-only runs)
      const desc = (l: (typeof ls)[number]): string => {
        const t = l?.type ?? 'dense';
        if (t === 'dense') return `${String(l?.units)} ${String(l?.activation)}`;
        if (t === 'conv2d') return `conv ${String(l?.filters)}×${String(l?.kernel)} ${String(l?.activation)}`;
        if (t === 'maxpool2d' || t === 'avgpool2d') return `${t === 'maxpool2d' ? 'max' : 'avg'}pool ${String(l?.size)}`;
        return String(t);
      };
      const input = Array.isArray((m as { input?: unknown }).input)
        ? `[${(m as { input: unknown[] }).input.join(', ')}]`
        : String(m.inputs ?? '?');
      this.model = clean(
        `${input} > ${ls.map(desc).join(' > ')}${m.layers.length > 64 ? ' > ...' : ''}, ${String(m.loss)}, ${String(m.dtype)}`,
        300,
      );
      // the records have a row per layer with parameters (dense, conv2d)
      const withParams = ls.filter((l) => l?.type === undefined || l.type === 'dense' || l.type === 'conv2d');
      this.startModel = { layers: withParams.map((l) => String(l?.activation ?? '')), loss: String(m.loss ?? '') };
    }
  }

  private onStep(rec: GsRecord & StepRecord): void {
    this.steps++;
    this.latest = rec;
    this.loss.push(rec.loss);
    this.grad.push(rec.gradNorm);
    while (this.layers.length < rec.layers.length) {
      const s = {} as Record<MetricKey, Series>;
      for (const m of METRICS) s[m.key] = new Series(this.window);
      this.layers.push(s);
    }
    rec.layers.forEach((l, i) => {
      for (const m of METRICS) this.layers[i]![m.key].push(l[m.key]);
    });
    this.recordDiagnosis = rec.diagnosis && Array.isArray(rec.diagnosis.states) ? this.carry.of(rec.diagnosis) : null;
    if (!rec.diagnosis) {
      // v0 records carry no diagnosis: compute one without target information
      if (!this.fallback) {
        const acts = this.startModel?.layers ?? rec.layers.map((l) => l.activation);
        this.fallback = new Diagnoser({
          outputActivation: acts[acts.length - 1] ?? '',
          loss: this.startModel?.loss === 'cross-entropy' ? 'cross-entropy' : 'half-sse',
          targetMin: NaN,
          targetMax: NaN,
          layerActivations: acts,
        });
      }
      this.fallbackDiagnosis = this.fallback.push(rec);
    }
  }
}
