/**
 * charts.ts — the dashboard's charts: uPlot (a small canvas library made for streaming time
 * series) over dash-state.ts's Tables, one x axis (step or epoch), linear or log y, and the
 * update/weight ratio's guide band around 1e-3 drawn under the lines.
 */

import uPlot from 'uplot';
import type { Table } from '../../src/observe/dash-state';

export interface SeriesSpec {
  label: string;
  /** Column of the table (1 = its first y). */
  col: number;
  color: string;
  /** A second y axis on the right (0..1 fractions beside a log scale). */
  right?: boolean;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  series: SeriesSpec[];
  log: boolean;
  /** A shaded band [lo, hi] and a dashed line at `at` (the update/weight ratio guide). */
  guide?: { lo: number; hi: number; at: number };
  /** The right axis' range (fractions: [0, 1]). */
  rightRange?: [number, number];
  /** A fixed range of the y axis (fractions: [0, 1]); default: fitted to the data. */
  yRange?: [number, number];
  height?: number;
}

/** An axis tick: short enough for the axis (1.2k, 3M, 1e-4); uPlot passes null for a split it leaves blank. */
function tick(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '';
  const a = Math.abs(v);
  if (v === 0) return '0';
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a < 1e-2) return v.toExponential(0);
  return String(+v.toPrecision(3));
}

/** A chart drawing `table`'s columns; redraw() after the table changed. */
export class Chart {
  private plot: uPlot | null = null;
  private drawnVersion = -1;
  private readonly resize: ResizeObserver;

  constructor(
    private readonly el: HTMLElement,
    private spec: ChartSpec,
    private readonly table: Table,
  ) {
    this.build();
    this.resize = new ResizeObserver(() => this.plot?.setSize(this.size()));
    this.resize.observe(el);
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }

  /** Switches the y axis between linear and log (the chart is built again). */
  setLog(log: boolean): void {
    this.spec = { ...this.spec, log };
    this.plot?.destroy();
    this.build();
  }

  redraw(version: number): void {
    if (version === this.drawnVersion || this.plot === null) return;
    this.drawnVersion = version;
    this.plot.setData(this.data());
  }

  private size(): { width: number; height: number } {
    return { width: Math.max(200, this.el.clientWidth), height: this.spec.height ?? 180 };
  }

  private data(): uPlot.AlignedData {
    const cols = this.table.cols;
    return [cols[0]! as number[], ...this.spec.series.map((s) => cols[s.col]!)];
  }

  private build(): void {
    const s = this.spec;
    const guide = s.guide;
    const hooks: uPlot.Hooks.Arrays = guide
      ? {
          drawAxes: [
            (u: uPlot) => {
              const ctx = u.ctx;
              const { left, width } = u.bbox;
              const y0 = u.valToPos(guide.hi, 'y', true);
              const y1 = u.valToPos(guide.lo, 'y', true);
              const top = Math.max(u.bbox.top, Math.min(y0, y1));
              const bottom = Math.min(u.bbox.top + u.bbox.height, Math.max(y0, y1));
              ctx.save();
              ctx.fillStyle = 'rgba(60, 160, 90, 0.12)';
              if (bottom > top) ctx.fillRect(left, top, width, bottom - top);
              const y = u.valToPos(guide.at, 'y', true);
              if (y >= u.bbox.top && y <= u.bbox.top + u.bbox.height) {
                ctx.strokeStyle = 'rgba(60, 160, 90, 0.8)';
                ctx.setLineDash([6, 4]);
                ctx.beginPath();
                ctx.moveTo(left, y);
                ctx.lineTo(left + width, y);
                ctx.stroke();
              }
              ctx.restore();
            },
          ],
        }
      : {};
    const hasRight = s.series.some((x) => x.right);
    const opts: uPlot.Options = {
      title: s.title,
      ...this.size(),
      scales: {
        x: { time: false },
        y: s.log ? { distr: 3, log: 10 } : s.yRange ? { range: s.yRange } : {},
        ...(hasRight ? { r: { range: s.rightRange ?? [0, 1] } } : {}),
      },
      axes: [
        { label: s.xLabel, stroke: '#888', grid: { stroke: '#2a2f3a' } },
        { stroke: '#888', grid: { stroke: '#2a2f3a' }, size: 60, values: (_u: uPlot, splits: (number | null)[]) => splits.map(tick) },
        ...(hasRight ? [{ scale: 'r', side: 1 as const, stroke: '#888', grid: { show: false } }] : []),
      ],
      series: [
        { label: s.xLabel },
        ...s.series.map((x) => ({ label: x.label, stroke: x.color, width: 1.5, spanGaps: false, ...(x.right ? { scale: 'r' } : {}) })),
      ],
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      hooks,
    };
    this.plot = new uPlot(opts, this.data(), this.el);
    this.drawnVersion = -1;
  }
}
