/**
 * render.ts — what `gradsync tail` shows: a Summary of the records seen, and two renderings
 * of it as text lines: a terminal screen (width- and height-aware, optional colour) and plain
 * lines for a non-terminal stdout, plus the one-line-per-step form used while following.
 *
 * Sparklines are 8 block characters; gradient norms, update ratios and the loss use a log
 * scale over the shown window (they move by orders of magnitude), fractions a fixed 0–1
 * scale. '.' marks 0 on a log scale (or an exact 0 fraction), '!' a non-finite value.
 * Strings taken from records (run id, executor ids, activations, evidence) are stripped of
 * control characters before they reach a terminal: a log file is untrusted input.
 * Not here: writing to a stream or refreshing it (cli/tail.ts), reading files (tail.ts).
 */

import { Diagnoser, DIAGNOSIS_ORDER } from './diagnose';
import { fmtNum } from './diagnose-evidence';
import { isEval, isStep, type FollowStats, type GsRecord } from './tail';
import type { Diagnosis, DiagnosisState, ExecutorRecord, StepRecord } from './schema';
import { EvidenceCarry } from './evidence';

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

const METRICS = [
  { key: 'dJdW', head: '|dJdW|', scale: 'log' },
  { key: 'dJdWb', head: '|dJdWb|', scale: 'log' },
  { key: 'updateRatio', head: 'upd/W', scale: 'log' },
  { key: 'saturated', head: 'saturated', scale: 'fraction' },
  { key: 'dead', head: 'dead', scale: 'fraction' },
] as const;
type MetricKey = (typeof METRICS)[number]['key'];

/** Replaces control characters (ESC included) and caps the length of a string from a record. */
export function clean(v: unknown, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const s = String(v ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

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

export interface ScreenOptions {
  /** Terminal width. Default 80. */
  columns?: number;
  /** Terminal height; when set, layer rows are cut so that the diagnosis stays visible. */
  rows?: number;
  /** ANSI colours for the diagnosis. Default false. */
  color?: boolean;
}

const SEVERITY_COLOR: Record<DiagnosisState, string> = {
  diverged: '31',
  exploding: '31',
  vanishing: '33',
  'dead-relus': '33',
  saturated: '33',
  'target-out-of-range': '33',
  converged: '32',
  ok: '32',
};

const num = (v: unknown): number => (typeof v === 'number' ? v : NaN);
const pad = (s: string, w: number): string => (s.length >= w ? s : s + ' '.repeat(w - s.length));
const lpad = (s: string, w: number): string => (s.length >= w ? s : ' '.repeat(w - s.length) + s);
const frac = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : String(v));
const metricText = (key: MetricKey, v: number): string => (key === 'saturated' || key === 'dead' ? frac(v) : fmtNum(v));
const rate = (v: number): string => (Number.isFinite(v) ? `${Math.round(v).toLocaleString('en-US')} ex/s` : '-');

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

const bytes = (n: number): string => (n >= 1 << 20 ? `${fmtNum(n / (1 << 20))} MiB` : n >= 1024 ? `${fmtNum(n / 1024)} KiB` : `${n} B`);

function executorsText(ex: ExecutorRecord[] | undefined): string[] {
  if (!Array.isArray(ex) || ex.length === 0) return [];
  return ex.slice(0, 256).map((e) => {
    const id = clean(e.id, 40);
    const kind = clean(e.kind, 10);
    const mark = e.slowest ? ' slowest' : '';
    const failed = e.failed ? ` FAILED (${clean(e.failed, 80)})` : '';
    const transfer =
      typeof e.transferMs === 'number'
        ? ` (transfer ${fmtNum(e.transferMs)} ms${typeof e.bytesIn === 'number' && typeof e.bytesOut === 'number' ? `, ${bytes(e.bytesOut)} out, ${bytes(e.bytesIn)} in` : ''})`
        : '';
    return `${id} (${kind}) ${fmtNum(num(e.examples))} ex ${fmtNum(num(e.computeMs))} ms${transfer}${mark}${failed}`;
  });
}

function diagnosisLines(d: Diagnosis | null, width: number, color: boolean): string[] {
  if (!d) return ['diagnosis  -'];
  const states = d.states.filter((s): s is DiagnosisState => typeof s === 'string').map((s) => clean(s, 40) as DiagnosisState);
  const paint = (s: DiagnosisState): string => (color && SEVERITY_COLOR[s] ? `\x1b[1;${SEVERITY_COLOR[s]}m${s}\x1b[0m` : s);
  const lines = [`diagnosis  ${states.map(paint).join(', ')}`];
  const ev = d.evidence ?? {};
  const order = [...DIAGNOSIS_ORDER, ...states.filter((s) => !DIAGNOSIS_ORDER.includes(s))];
  for (const s of order) {
    const text = (ev as Record<string, unknown>)[s];
    if (typeof text === 'string' && states.includes(s)) lines.push(...wrap(`  ${s}: ${clean(text, 2000)}`, width, '    '));
  }
  return lines;
}

function footer(s: Summary): string {
  const st = s.stats;
  if (!st) return `records ${s.steps} steps`;
  const sk = st.skipped;
  const other = sk.notJson + sk.notRecord + sk.newerSchema + sk.tooLong;
  const parts = [`records ${st.records}`, `other lines ${other}`];
  if (other > 0)
    parts.push(`(not JSON ${sk.notJson}, not gradsync ${sk.notRecord}, newer schema ${sk.newerSchema}, too long ${sk.tooLong})`);
  if (st.newestSchemaSeen > 0) parts.push(`schema ${st.newestSchemaSeen} is newer than this reader: upgrade gradsync`);
  if (st.truncations > 0) parts.push(`truncated ${st.truncations}x`);
  if (st.rotations > 0) parts.push(`rotated ${st.rotations}x`);
  return parts.join('  ');
}

/** The terminal screen: header, loss, the layer table with sparklines, executors, diagnosis, counters. */
export function renderScreen(s: Summary, opts: ScreenOptions = {}): string[] {
  const width = Math.max(20, Math.floor(opts.columns ?? 80));
  const color = opts.color ?? false;
  const r = s.latest;
  const head: string[] = [];
  head.push(
    `gradsync tail  step ${r ? r.step : '-'}${r ? ` (epoch ${fmtNum(num(r.epoch))})` : ''}${s.ended ? '  [run ended]' : ''}  run ${clean(s.run, 60) || '-'}  schema ${s.schema >= 0 ? s.schema : '-'}`,
  );
  if (s.model) head.push(`model  ${s.model}`);
  if (!r) {
    head.push('', 'no step records yet');
    return [...head, '', ...diagnosisLines(null, width, color), footer(s)].map((l) => fitWidth(l, width));
  }
  const sparkW = Math.max(0, Math.min(s.window, width - 34)); // the loss and |g| lines
  head.push(`loss   ${pad(fmtNum(r.loss), 8)} ${sparkline(s.lossSeries(sparkW), 'log')}`);
  head.push(`|g|    ${pad(fmtNum(r.gradNorm), 8)} ${sparkline(s.gradSeries(sparkW), 'log')}${r.clipped ? '  (clipped)' : ''}`);
  head.push(
    `throughput ${rate(num(r.throughput))}   step ${fmtNum(num(r.stepMs))} ms   lr ${fmtNum(num(r.lr))}   batch ${fmtNum(num(r.examples))}${typeof r.skipped === 'string' ? `   SKIPPED: ${clean(r.skipped, 80)}` : ''}`,
  );
  if (s.lastEval) {
    const acc = typeof s.lastEval.accuracy === 'number' ? `  accuracy ${frac(s.lastEval.accuracy)}` : '';
    head.push(`eval   loss ${fmtNum(num(s.lastEval.loss))}${acc}  (step ${s.lastEval.step})`);
  }
  if (s.earlyStop) head.push(earlyStopText(s.earlyStop));

  // the layer table: saturated / dead columns only when some layer can have them
  const acts = r.layers.map((l) => clean(l.activation, 8));
  const metrics = METRICS.filter((m) =>
    m.key === 'saturated' ? acts.some((a) => a === 'tanh' || a === 'sigmoid') : m.key === 'dead' ? acts.includes('relu') : true,
  );
  const fixed = 14;
  const valueW = 8;
  // sparkline columns per metric: an equal share of the room; when that is too narrow, the
  // fractions (saturated, dead) give theirs to the norms. Never longer than the steps seen.
  const room = width - fixed - metrics.length * (valueW + 2);
  const most = Math.min(s.window, s.stepsShown);
  const norms = metrics.filter((m) => m.scale !== 'fraction').length;
  const equal = Math.floor(room / metrics.length);
  const sparkOf = (m: (typeof metrics)[number]): number => {
    const w = equal >= 6 ? equal : m.scale === 'fraction' ? 0 : Math.floor(room / norms);
    return Math.max(0, Math.min(most, w));
  };
  const cellWOf = (m: (typeof metrics)[number]): number => Math.max(m.head.length + 1, valueW + (sparkOf(m) > 0 ? sparkOf(m) + 1 : 0) + 1);
  const table: string[] = [`${pad('layer', 6)}${pad('act', 8)}${metrics.map((m) => pad(m.head, cellWOf(m))).join('')}`.trimEnd()];
  for (let l = 0; l < r.layers.length; l++) {
    const lr = r.layers[l]!;
    const cells = metrics.map((m) => {
      const cellW = cellWOf(m);
      const cellSpark = sparkOf(m);
      // saturation is measured for tanh/sigmoid only, deadness for relu only
      const applies = m.key === 'saturated' ? acts[l] === 'tanh' || acts[l] === 'sigmoid' : m.key === 'dead' ? acts[l] === 'relu' : true;
      if (!applies) return pad(lpad('-', valueW - 1), cellW);
      const v = metricText(m.key, lr[m.key]);
      const spark = cellSpark > 0 ? ` ${lpad(sparkline(s.series(l, m.key, cellSpark), m.scale), cellSpark)}` : '';
      return pad(`${lpad(v, valueW - 1)}${spark}`, cellW);
    });
    table.push(`${pad(String(lr.layer), 6)}${pad(acts[l]!, 8)}${cells.join('')}`.trimEnd());
  }

  const ex = executorsText(r.executors);
  const exLines = ex.length > 0 ? wrap(`executors  ${ex.join(';  ')}`, width, '           ') : [];
  const diag = diagnosisLines(s.diagnosis, width, color);
  const foot = footer(s);
  if (opts.rows !== undefined) {
    // keep the diagnosis on screen: cut the layer rows first
    const room = Math.floor(opts.rows) - 1 - head.length - 2 - exLines.length - diag.length - 1;
    if (table.length > Math.max(2, room)) {
      const keep = Math.max(2, room) - 1;
      const hidden = table.length - keep;
      table.splice(keep, hidden, `... ${hidden} more layer(s): widen the terminal's height`);
    }
  }
  return [...head, '', ...table, '', ...exLines, ...diag, foot].map((l) => fitWidth(l, width));
}

/** The summary as plain text lines (no escapes, no width limit) for a non-terminal stdout. */
export function renderPlain(s: Summary): string[] {
  return renderScreen(s, { columns: 10_000, color: false }).map((l) => l.trimEnd());
}

/** One line per step while following without a terminal. */
export function stepLine(r: StepRecord): string {
  const states = r.diagnosis && Array.isArray(r.diagnosis.states) ? r.diagnosis.states.map((x) => clean(x, 40)).join(',') : '-';
  return `step ${r.step} epoch ${fmtNum(num(r.epoch))} loss ${fmtNum(r.loss)} |g| ${fmtNum(r.gradNorm)} ${rate(num(r.throughput))} [${states}]${typeof r.skipped === 'string' ? ` skipped: ${clean(r.skipped, 120)}` : ''}`;
}

/** Plain lines for any other record while following: start, eval, end; null for the rest. */
export function recordLine(rec: GsRecord): string | null {
  if (rec.msg === 'start')
    return `start run ${clean(rec.run, 60)}${typeof rec.totalSteps === 'number' ? ` (${rec.totalSteps} steps)` : ''}`;
  if (isEval(rec))
    return `eval step ${rec.step} loss ${fmtNum(num(rec.loss))}${typeof rec.accuracy === 'number' ? ` accuracy ${frac(rec.accuracy)}` : ''}`;
  if (rec.msg === 'end') return `end run ${clean(rec.run, 60)} steps ${fmtNum(num(rec.steps))} loss ${fmtNum(num(rec.loss))}`;
  if (rec.msg === 'early-stop') return earlyStopText(rec);
  return null;
}

/** "stopped early after epoch E: best epoch B, held-out loss X, weights restored" from an 'early-stop' record. */
function earlyStopText(rec: GsRecord): string {
  const best =
    typeof rec.bestEpoch === 'number' ? `best epoch ${rec.bestEpoch}, held-out loss ${fmtNum(num(rec.bestHeldOutLoss))}` : 'no best';
  return `stopped early after epoch ${fmtNum(num(rec.epoch))}: ${best}${rec.restored === true ? ', its weights restored' : ''}`;
}

/** Evidence lines when the set of states changed, else []. */
export function diagnosisChange(prev: Diagnosis | null, next: Diagnosis | null | undefined, step: number): string[] {
  if (!next || !Array.isArray(next.states)) return [];
  const key = (d: Diagnosis | null): string => (d ? d.states.join(',') : '');
  if (key(prev) === key(next)) return [];
  return [
    `diagnosis at step ${step}: ${next.states.map((x) => clean(x, 40)).join(', ')}`,
    ...next.states.filter((x) => typeof next.evidence?.[x] === 'string').map((x) => `  ${clean(x, 40)}: ${clean(next.evidence[x], 2000)}`),
  ];
}
