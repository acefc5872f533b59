/**
 * dash-state.ts — the dashboard's data: what the page has learnt of a run from its records, in
 * bounded columns ready to draw. No Node and no DOM: the page (web/dashboard/) bundles it and the
 * tests run it in Node.
 *
 * Each chart's data is a Table: one x column (step or epoch) and y columns, decimated together
 * (past `cap` rows, every other row is dropped, the newest kept), so a long run costs the page
 * the same memory and drawing time as a short one. A step at or before the last one drawn (a
 * resumed run's log, a new snapshot) cuts the columns back to before it. Values that cannot be
 * drawn (non-finite; zero or less on a log axis) are null: a gap.
 * Not here: drawing (web/dashboard/), the socket (web/dashboard/connect.ts, live-server.ts).
 */

import type { Diagnosis, EvalRecord, ExecutorRecord, StepRecord } from './schema';
import { EvidenceCarry } from './evidence';

/** Rows kept per table before it is decimated. */
export const TABLE_CAP = 4000;

export class Table {
  /** [x, y1, y2, …], each of the same length (uPlot's AlignedData). */
  readonly cols: (number | null)[][];
  /** Rows added in all (before decimation). */
  added = 0;

  constructor(
    ys: number,
    /** Which y columns are drawn on a log axis (index from 0 over the ys). */
    private readonly logCols: readonly boolean[] = [],
    private readonly cap = TABLE_CAP,
  ) {
    this.cols = Array.from({ length: ys + 1 }, () => []);
  }

  get length(): number {
    return this.cols[0]!.length;
  }

  /** The last x, or -Infinity when empty. */
  get lastX(): number {
    const xs = this.cols[0]!;
    return xs.length === 0 ? -Infinity : (xs[xs.length - 1] as number);
  }

  push(x: number, ys: readonly (number | null | undefined)[]): void {
    if (x <= this.lastX) this.cutFrom(x);
    this.cols[0]!.push(x);
    for (let i = 1; i < this.cols.length; i++) {
      const v = ys[i - 1];
      const ok = typeof v === 'number' && Number.isFinite(v) && (!this.logCols[i - 1] || v > 0);
      this.cols[i]!.push(ok ? v : null);
    }
    this.added++;
    if (this.length > this.cap) this.decimate();
  }

  /** Drops the rows whose x is ≥ `x`. */
  cutFrom(x: number): void {
    const xs = this.cols[0]! as number[];
    let k = xs.length;
    while (k > 0 && xs[k - 1]! >= x) k--;
    for (const c of this.cols) c.length = k;
  }

  private decimate(): void {
    const n = this.length;
    for (const c of this.cols) {
      let w = 0;
      for (let r = 0; r < n; r++) if (r % 2 === 0 || r === n - 1) c[w++] = c[r]!;
      c.length = w;
    }
  }
}

/** One layer's columns: dJdW, dJdWb, W, updateRatio (log axes), saturated, dead (fractions). */
export const LAYER_COLS = ['dJdW', 'dJdWb', 'W', 'updateRatio', 'saturated', 'dead'] as const;

export interface LayerView {
  layer: number;
  activation: string;
  table: Table;
}

/** What the page shows of one executor, over the step records it received. */
export interface ExecutorView {
  id: string;
  kind: string;
  steps: number;
  examples: number;
  computeMs: number;
  transferMs: number;
  bytesIn: number;
  bytesOut: number;
  failures: number;
  late: number;
  stragglers: number;
  lastStep: number;
  /** The last failure's reason. */
  lastFailure: string | null;
}

export interface DashEvent {
  time: number;
  level: number;
  msg: string;
  /** Who it is about (executor, peer), and its reason or code, as one short text. */
  detail: string;
}

/** The start record's summary fields (docs/log-schema.md). */
export interface RunInfo {
  run: string;
  kernel: string;
  kernelNote: string | null;
  data: { name?: string; n?: number; sha256?: string; heldOut?: number } | null;
  params: number | null;
  totalSteps: number | null;
  host: string | null;
  executors: string[];
  config: unknown;
  model: unknown;
}

const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Events kept for the list, newest last. */
export const MAX_EVENTS = 200;
/** Diagnosis changes kept, newest last. */
export const MAX_CHANGES = 100;

export class DashState {
  info: RunInfo | null = null;
  readonly loss = new Table(1, [true]);
  readonly gradNorm = new Table(1, [true]);
  readonly throughput = new Table(1, [true]);
  /** The learning rate each step applied (the config's schedule): 0 is drawn (a warm-up from 0), so no log axis. */
  readonly lr = new Table(1, [false]);
  /** x = epoch + 1 (the epochs done), ys = held-out loss, accuracy. */
  readonly evals = new Table(2, [true, false]);
  layers: LayerView[] = [];
  diagnosis: (Diagnosis & { step: number }) | null = null;
  changes: (Diagnosis & { step: number })[] = [];
  /** Step records carry evidence now and then: the last sentence seen for each state. */
  private readonly carry = new EvidenceCarry();
  executors = new Map<string, ExecutorView>();
  examplesSeen = 0;
  events: DashEvent[] = [];
  /** The last step record received. */
  last: StepRecord | null = null;
  /** The end record, once the run ended. */
  end: Record<string, unknown> | null = null;
  /** Bumped by every record: the page redraws when it changed. */
  version = 0;

  add(rec: Record<string, unknown>): void {
    this.version++;
    switch (rec.msg) {
      case 'start':
        return this.onStart(rec);
      case 'step':
        return this.onStep(rec as unknown as StepRecord);
      case 'eval': {
        const e = rec as unknown as EvalRecord;
        this.evals.push(e.epoch + 1, [e.loss, e.accuracy]);
        return;
      }
      case 'end':
        this.end = rec;
        return;
      default:
        this.onOther(rec);
    }
  }

  private onStart(rec: Record<string, unknown>): void {
    const data = typeof rec.data === 'object' && rec.data !== null ? (rec.data as RunInfo['data']) : null;
    this.info = {
      run: str(rec.run) ?? '?',
      kernel: str(rec.kernel) ?? '?',
      kernelNote: str(rec.kernelNote),
      data,
      params: num(rec.params),
      totalSteps: num(rec.totalSteps),
      host: str(rec.host),
      executors: Array.isArray(rec.executors) ? rec.executors.filter((x): x is string => typeof x === 'string') : [],
      config: rec.config ?? null,
      model: rec.model ?? null,
    };
    this.end = null;
  }

  private onStep(r: StepRecord): void {
    if (typeof r.step !== 'number' || !Array.isArray(r.layers)) return;
    this.last = r;
    this.loss.push(r.step, [r.loss]);
    this.gradNorm.push(r.step, [r.gradNorm]);
    this.throughput.push(r.step, [r.throughput]);
    this.lr.push(r.step, [r.lr]);
    if (this.layers.length !== r.layers.length) {
      // a new model (a new start record, another log): its layers from here on
      this.layers = r.layers.map((l, i) => ({
        layer: typeof l.layer === 'number' ? l.layer : i,
        activation: String(l.activation),
        table: new Table(LAYER_COLS.length, [true, true, true, true, false, false]),
      }));
    }
    r.layers.forEach((l, i) =>
      this.layers[i]!.table.push(
        r.step,
        LAYER_COLS.map((k) => l[k]),
      ),
    );
    if (r.diagnosis && Array.isArray(r.diagnosis.states)) {
      const d = { ...this.carry.of(r.diagnosis), step: r.step };
      const prev = this.diagnosis;
      if (prev === null || prev.states.join(',') !== d.states.join(',')) {
        this.changes.push(d);
        if (this.changes.length > MAX_CHANGES) this.changes.shift();
      }
      this.diagnosis = d;
    }
    for (const e of Array.isArray(r.executors) ? r.executors : []) this.onExecutor(e, r.step);
    if (typeof r.examples === 'number') this.examplesSeen += r.examples;
  }

  private onExecutor(e: ExecutorRecord, step: number): void {
    if (typeof e.id !== 'string') return;
    let v = this.executors.get(e.id);
    if (v === undefined) {
      v = {
        id: e.id,
        kind: String(e.kind),
        steps: 0,
        examples: 0,
        computeMs: 0,
        transferMs: 0,
        bytesIn: 0,
        bytesOut: 0,
        failures: 0,
        late: 0,
        stragglers: 0,
        lastStep: step,
        lastFailure: null,
      };
      this.executors.set(e.id, v);
    }
    v.steps++;
    v.examples += num(e.examples) ?? 0;
    v.computeMs += num(e.computeMs) ?? 0;
    v.transferMs += num(e.transferMs) ?? 0;
    v.bytesIn += num(e.bytesIn) ?? 0;
    v.bytesOut += num(e.bytesOut) ?? 0;
    v.lastStep = step;
    if (e.failed !== undefined) {
      v.failures++;
      v.lastFailure = String(e.failed);
    }
    if (e.late !== undefined) v.late++;
    if (e.straggler !== undefined) v.stragglers++;
  }

  private onOther(rec: Record<string, unknown>): void {
    const msg = str(rec.msg);
    if (msg === null) return;
    const level = num(rec.level) ?? 30;
    // executors and servers, and anything at warn or above; checkpoints and the like are not news
    if (level < 40 && !msg.startsWith('remote: ') && msg !== 'early-stop') return;
    const who = [str(rec.executor), str(rec.peer)].filter((x) => x !== null).join(' ');
    const why = str(rec.reason) ?? str(rec.err) ?? str(rec.code) ?? (num(rec.closeCode) !== null ? `close ${String(rec.closeCode)}` : null);
    this.events.push({ time: num(rec.time) ?? 0, level, msg, detail: [who, why].filter((x) => x).join(': ') });
    if (this.events.length > MAX_EVENTS) this.events.shift();
  }

  /** The executors, most examples first, with each one's share of the examples received. */
  executorRows(): (ExecutorView & { share: number })[] {
    const total = this.examplesSeen;
    return [...this.executors.values()]
      .map((v) => ({ ...v, share: total > 0 ? v.examples / total : 0 }))
      .sort((a, b) => b.examples - a.examples || a.id.localeCompare(b.id));
  }
}
