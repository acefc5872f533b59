/**
 * render.ts — what `gradsync tail` shows of a Summary (tail-summary.ts), as text lines: a
 * terminal screen (width- and height-aware, optional colour: header, loss, the layer table with
 * sparklines, executors, diagnosis, counters) and plain lines for a non-terminal stdout, plus the
 * one-line-per-record form used while following. Every string taken from a record goes through
 * clean() (terminal-text.ts) before it reaches a terminal.
 * Not here: text primitives (terminal-text.ts), writing to a stream or refreshing it (cli/tail.ts),
 * reading files (tail.ts).
 */

import { DIAGNOSIS_ORDER } from './diagnose';
import { fmtNum } from './diagnose-evidence';
import { isEval, type GsRecord } from './tail';
import type { Diagnosis, DiagnosisState, ExecutorRecord, StepRecord } from './schema';
import { METRICS, type MetricKey, type Summary } from './tail-summary';
import { clean, fitWidth, sparkline, wrap } from './terminal-text';

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
