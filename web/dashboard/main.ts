/**
 * main.ts — the dashboard page: subscribes to the run (connect.ts), folds every record into a
 * DashState (observe/dash-state.ts) and redraws what changed at most every REDRAW_MS. The
 * page's state is also on `window.gradsyncDashboard` and in data attributes (body[data-status],
 * #loss[data-points], #lr[data-points], #layers[data-layers]) for a person's console and the browser tests.
 * A stream that breaks (the server dropped a page that fell behind) is opened again after
 * RETRY_MS with a fresh snapshot; one the run closed (1001) is not.
 */

import { DashState, type Table } from '../../src/observe/dash-state';
import type { LiveHello } from '../../src/observe/live-protocol';
import { Chart } from './charts';
import { liveInfo, openStream } from './connect';

const REDRAW_MS = 250;
const RETRY_MS = 2000;
/** The update/weight ratio's usual guide: about 1e-3, half a decade either side. */
const RATIO_GUIDE = { lo: 10 ** -3.5, hi: 10 ** -2.5, at: 1e-3 };

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls !== undefined) e.className = cls;
  return e;
}

const fmt = (v: number | null | undefined, digits = 4): string =>
  typeof v !== 'number'
    ? '–'
    : !Number.isFinite(v)
      ? String(v)
      : Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3)
        ? v.toExponential(2)
        : v.toPrecision(digits);

class Page {
  state = new DashState();
  hello: LiveHello | null = null;
  status = 'connecting';
  private charts: Chart[] = [];
  private layerCharts: Chart[] = [];
  private layerTables = new Set<Table>();
  private lossChart: Chart | null = null;
  private layerCount = -1;
  private drawn = -1;
  /** What the slower parts were last drawn from: they are rebuilt only when it changed. */
  private drawnInfo: unknown = null;
  private drawnDiagnosis = '';
  private drawnEvents = -1;

  constructor() {
    this.buildGlobal();
    $<HTMLInputElement>('loss-log').addEventListener('change', (e) => this.lossChart?.setLog((e.target as HTMLInputElement).checked));
    setInterval(() => this.draw(), REDRAW_MS);
  }

  reset(): void {
    this.state = new DashState();
    this.layerCount = -1;
    this.drawn = -1;
    this.drawnInfo = null;
    this.drawnDiagnosis = '';
    this.drawnEvents = -1;
    for (const c of [...this.charts, ...this.layerCharts]) c.destroy();
    this.charts = [];
    this.layerCharts = [];
    this.buildGlobal();
  }

  setStatus(status: string, text = status): void {
    this.status = status;
    document.body.dataset.status = status;
    $('status').textContent = text;
  }

  private add(elId: string, table: Table, spec: ConstructorParameters<typeof Chart>[1], list = this.charts): Chart {
    const chart = new Chart($(elId), spec, table);
    list.push(chart);
    return chart;
  }

  private buildGlobal(): void {
    const s = this.state;
    const log = $<HTMLInputElement>('loss-log').checked;
    this.lossChart = this.add('loss', s.loss, {
      title: 'loss per step',
      xLabel: 'step',
      log,
      series: [{ label: 'loss', col: 1, color: '#6aa9ff' }],
    });
    this.add('evals', s.evals, {
      title: 'held-out loss / accuracy per epoch',
      xLabel: 'epoch',
      log: true,
      series: [
        { label: 'held-out loss', col: 1, color: '#ff9f5a' },
        { label: 'accuracy', col: 2, color: '#7fd18b', right: true },
      ],
      rightRange: [0, 1],
    });
    this.add('gradnorm', s.gradNorm, {
      title: 'global ‖g‖',
      xLabel: 'step',
      log: true,
      series: [{ label: '‖g‖', col: 1, color: '#e07be0' }],
    });
    this.add('lr', s.lr, {
      title: 'learning rate per step',
      xLabel: 'step',
      log: false,
      series: [{ label: 'lr', col: 1, color: '#5ad1c8' }],
    });
    this.add('throughput', s.throughput, {
      title: 'throughput (examples/s)',
      xLabel: 'step',
      log: false,
      series: [{ label: 'examples/s', col: 1, color: '#c8c86a' }],
    });
  }

  private buildLayers(): void {
    const host = $('layers');
    for (const c of this.layerCharts) c.destroy();
    this.layerCharts = [];
    host.innerHTML = '';
    this.layerTables = new Set();
    for (const l of this.state.layers) {
      const panel = el('div', undefined, 'panel layer-panel');
      panel.dataset.layer = String(l.layer);
      panel.append(el('h3', `layer ${l.layer} (${l.activation})`));
      const ids = ['norms', 'ratio', 'fractions'].map((k) => `layer-${l.layer}-${k}`);
      for (const id of ids) {
        const d = el('div', undefined, 'chart');
        d.id = id;
        panel.append(d);
      }
      host.append(panel);
      this.layerTables.add(l.table);
      this.add(
        ids[0]!,
        l.table,
        {
          title: '‖dJdW‖, ‖dJdWb‖, ‖W‖',
          xLabel: 'step',
          log: true,
          height: 160,
          series: [
            { label: '‖dJdW‖', col: 1, color: '#6aa9ff' },
            { label: '‖dJdWb‖', col: 2, color: '#ff9f5a' },
            { label: '‖W‖', col: 3, color: '#b0b0b0' },
          ],
        },
        this.layerCharts,
      );
      this.add(
        ids[1]!,
        l.table,
        {
          title: 'update/weight ratio (band: ~1e-3)',
          xLabel: 'step',
          log: true,
          height: 140,
          guide: RATIO_GUIDE,
          series: [{ label: '‖ΔW‖/‖W‖', col: 4, color: '#e07be0' }],
        },
        this.layerCharts,
      );
      this.add(
        ids[2]!,
        l.table,
        {
          title: 'saturated / dead',
          xLabel: 'step',
          log: false,
          height: 120,
          series: [
            { label: 'saturated', col: 5, color: '#d9a13b' },
            { label: 'dead', col: 6, color: '#e0564f' },
          ],
          yRange: [0, 1],
        },
        this.layerCharts,
      );
    }
    host.dataset.layers = String(this.state.layers.length);
    this.layerCount = this.state.layers.length;
  }

  draw(): void {
    const s = this.state;
    if (s.version === this.drawn) return;
    this.drawn = s.version;
    if (s.layers.length !== this.layerCount || (s.layers[0] && !this.layerTables.has(s.layers[0].table))) this.buildLayers();
    for (const c of [...this.charts, ...this.layerCharts]) c.redraw(s.version);
    $('loss').dataset.points = String(s.loss.length);
    $('evals').dataset.points = String(s.evals.length);
    $('lr').dataset.points = String(s.lr.length);
    this.drawHeader();
    this.drawDiagnosis();
    this.drawExecutors();
    this.drawEvents();
  }

  private drawHeader(): void {
    const s = this.state;
    const i = s.info;
    $('run').textContent = i ? `run ${i.run}` : 'waiting for the run';
    const step = s.last?.step ?? 0;
    const total = i?.totalSteps ?? null;
    const seen = this.hello?.steps;
    const thinned = seen && seen.seen > seen.sent ? ` · opened after ${seen.seen} steps: their history thinned to ${seen.sent}` : '';
    $('progress').textContent =
      `step ${step}${total !== null ? `/${total}` : ''} · epoch ${s.last?.epoch ?? 0} · loss ${fmt(s.last?.loss)}${thinned}`;
    if (s.end !== null && this.status === 'live') this.setStatus('ended', 'run ended');
    if (!i || (this.drawnInfo === i && s.end === null)) return;
    this.drawnInfo = i;
    const info = $('info');
    info.innerHTML = '';
    const rows: [string, string][] = [
      ['run', i.run],
      ['host', i.host ?? '–'],
      ['kernel', i.kernel + (i.kernelNote ? ` (${i.kernelNote})` : '')],
      ['data', i.data ? `${i.data.name ?? '?'}: ${i.data.n ?? '?'} examples, ${i.data.heldOut ?? 0} held out` : '–'],
      ['data sha256', i.data?.sha256 ?? '–'],
      ['parameters', String(i.params ?? '–')],
      ['steps', String(i.totalSteps ?? '–')],
    ];
    if (s.end) rows.push(['paramsSha256', String(s.end.paramsSha256 ?? '–')]);
    for (const [k, v] of rows) info.append(el('dt', k), el('dd', v));
    const cfg = JSON.stringify(i.config, null, 2);
    if ($('config').textContent !== cfg) $('config').textContent = cfg;
  }

  private drawDiagnosis(): void {
    const d = this.state.diagnosis;
    if (!d) return;
    $('diagnosis-step').textContent = `at step ${d.step}`;
    const key = JSON.stringify([d.states, d.evidence, this.state.changes.length]);
    if (key === this.drawnDiagnosis) return;
    this.drawnDiagnosis = key;
    const box = $('diagnosis');
    box.innerHTML = '';
    const ev = $('evidence');
    ev.innerHTML = '';
    for (const st of d.states) box.append(el('span', st, `state ${st}`));
    for (const [k, v] of Object.entries(d.evidence)) ev.append(el('li', `${k}: ${String(v)}`));
    const ch = $('changes');
    ch.innerHTML = '';
    for (const c of this.state.changes) ch.append(el('li', `step ${c.step}: ${c.states.join(', ')}`));
  }

  private drawExecutors(): void {
    const body = $('executors').querySelector('tbody')!;
    body.innerHTML = '';
    for (const x of this.state.executorRows()) {
      const tr = el('tr');
      const cells = [
        x.id,
        x.kind,
        `${(x.share * 100).toFixed(1)} %`,
        String(x.steps),
        fmt(x.computeMs / Math.max(1, x.steps), 3),
        x.kind === 'remote' ? fmt(x.transferMs / Math.max(1, x.steps), 3) : '–',
        String(x.failures),
        String(x.late),
        String(x.stragglers),
        x.lastFailure ?? '',
      ];
      for (const c of cells) tr.append(el('td', c));
      body.append(tr);
    }
  }

  private drawEvents(): void {
    const events = this.state.events;
    const key = events.length === 0 ? 0 : events.length + events[events.length - 1]!.time;
    if (key === this.drawnEvents) return;
    this.drawnEvents = key;
    const list = $('events');
    list.innerHTML = '';
    if (this.state.events.length === 0) list.append(el('li', 'no worker events or warnings', 'none'));
    for (const e of this.state.events.slice(-100)) {
      const t = e.time ? new Date(e.time).toLocaleTimeString() : '';
      list.append(el('li', `${t} ${e.msg}${e.detail ? ` (${e.detail})` : ''}`, e.level >= 50 ? 'error' : e.level >= 40 ? 'warn' : ''));
    }
  }
}

function tokenFromFragment(): string | null {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  return m ? decodeURIComponent(m[1]!) : null;
}

async function start(): Promise<void> {
  const page = new Page();
  (window as unknown as { gradsyncDashboard: Page }).gradsyncDashboard = page;
  let token = tokenFromFragment();
  const form = $<HTMLFormElement>('token-form');
  const askToken = (why: string): void => {
    form.hidden = false;
    $('token-why').textContent = why;
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    token = $<HTMLInputElement>('token').value.trim() || null;
    form.hidden = true;
    void connect();
  });
  let needsToken = false;
  const connect = async (): Promise<void> => {
    if (needsToken && token === null) {
      page.setStatus('refused', 'token required');
      askToken('this run requires its token (or open the page as …/#token=…)');
      return;
    }
    page.setStatus('connecting');
    try {
      await openStream(needsToken ? token : null, {
        onHello: (h) => {
          page.reset();
          page.hello = h;
          page.setStatus('live');
        },
        onRecord: (r) => page.state.add(r),
        onClose: (code, why, opened) => {
          page.draw();
          if (code === 1001 || (page.state.end !== null && opened)) page.setStatus('ended', `run ended (${why})`);
          else if (!opened) {
            // refused, or nobody there any more: the info request tells them apart
            void liveInfo().then(
              () => {
                page.setStatus('refused', why);
                if (needsToken) askToken(why);
              },
              () => {
                page.setStatus('closed', 'cannot reach the coordinator (the run was stopped?); retrying');
                setTimeout(() => void connect(), RETRY_MS * 2);
              },
            );
          } else {
            page.setStatus('closed', `${why}; reconnecting`);
            setTimeout(() => void connect(), RETRY_MS);
          }
        },
      });
    } catch (e) {
      page.setStatus('closed', `${(e as Error).message}; retrying`);
      setTimeout(() => void connect(), RETRY_MS);
    }
  };
  try {
    needsToken = (await liveInfo()).authRequired;
  } catch (e) {
    page.setStatus('closed', (e as Error).message);
    return;
  }
  await connect();
}

void start();
