/**
 * bench-dashboard.ts — what the dashboard costs a run, and what it costs the browser.
 *
 *   node dist/scripts/bench-dashboard.js [--epochs 1] [--rounds 3] [--threads 1] [--config FILE]
 *
 * Runs `gradsync train --monitor 127.0.0.1:0` on the bench workload (config/examples/
 * fashion-mnist-mlp.json; the embedded digits run where the data is absent) --rounds times in
 * each of three settings, in an order that rotates each round: no subscriber; a dashboard
 * subscription read by a Node websocket that draws nothing (what the coordinator pays); one
 * dashboard page open in headless Chromium from the first step (that, plus the browser drawing
 * on the same machine). Prints, per setting, the median step time (stepMs of
 * the step records after the first 10) and its spread (the 10th–90th percentile), the page's
 * JavaScript heap when its run ended (decimation keeps it bounded), and the page's script size.
 * Timings are printed, never asserted.
 */

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type { Browser } from 'playwright-core';
import { WebSocket } from 'ws';
import { DASHBOARD_STREAM_PATH } from '../src/observe/live-protocol';
import { guardedPage, launchChromium, noChromiumReason } from '../test/helpers/chromium';
import { benchArgs, findData, machineHeader, median } from './bench-common';

const USAGE = 'usage: node dist/scripts/bench-dashboard.js [--epochs 1] [--rounds 3] [--threads 1] [--config FILE]';
const root = path.resolve(__dirname, '..', '..');
const bin = path.join(root, 'bin', 'gradsync.js');

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

interface RunResult {
  stepMs: number[];
  heapMiB: number | null;
  points: number | null;
}

type Setting = 'none' | 'reader' | 'page';
const SETTINGS: Setting[] = ['none', 'reader', 'page'];
const LABEL: Record<Setting, string> = { none: 'no subscriber    ', reader: 'a reader (no page)', page: 'one page open    ' };

async function oneRun(args: string[], setting: Setting, browser: Browser): Promise<RunResult> {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-bench-dash-'));
  try {
    const child = spawn(process.execPath, [bin, 'train', ...args, '--monitor', '127.0.0.1:0', '--run-dir', runDir, '--no-progress'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /dashboard on (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
        if (m) resolve(m[1]!);
      });
      void exited.then((c) => reject(new Error(`train exited (${c}): ${out}`)));
    });
    let heapMiB: number | null = null;
    let points: number | null = null;
    if (setting === 'reader') {
      const ws = new WebSocket(url.replace(/^http/, 'ws') + DASHBOARD_STREAM_PATH, { perMessageDeflate: false });
      let frames = 0;
      ws.on('message', () => frames++);
      if ((await exited) !== 0) throw new Error('train failed');
      points = frames;
    } else if (setting === 'page') {
      const p = await guardedPage(browser, url);
      await p.page.goto(`${url}/`);
      const code = await exited;
      if (code !== 0) throw new Error(`train exited ${code}`);
      for (let i = 0; i < 200 && (await p.page.evaluate(`document.body.dataset.status`)) !== 'ended'; i++)
        await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 500)); // the last redraw
      const cdp = await p.context.newCDPSession(p.page);
      await cdp.send('HeapProfiler.collectGarbage');
      await cdp.send('Performance.enable');
      const m = (await cdp.send('Performance.getMetrics')) as { metrics: { name: string; value: number }[] };
      heapMiB = (m.metrics.find((x) => x.name === 'JSHeapUsedSize')?.value ?? NaN) / 2 ** 20;
      points = Number(await p.page.evaluate(`document.getElementById('loss').dataset.points`));
      if (p.foreign.length > 0) throw new Error(`the page asked for ${p.foreign.join(', ')}`);
      await p.context.close();
    } else if ((await exited) !== 0) throw new Error('train failed');
    const stepMs = fs
      .readFileSync(path.join(runDir, 'log.ndjson'), 'utf8')
      .split('\n')
      .filter((l) => l.endsWith('"msg":"step"}'))
      .map((l) => (JSON.parse(l) as { stepMs: number }).stepMs)
      .slice(10);
    return { stepMs, heapMiB, points };
  } finally {
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const v = benchArgs('bench-dashboard', USAGE, {
    epochs: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '1' },
    config: { type: 'string' },
  });
  const why = noChromiumReason();
  if (why !== null) {
    process.stdout.write(`bench-dashboard: not measured: ${why}\n`);
    return;
  }
  const js = fs.readFileSync(path.join(root, 'dist', 'web', 'dashboard.js'));
  process.stdout.write(machineHeader());
  process.stdout.write(
    `page script: dist/web/dashboard.js ${(js.length / 1024).toFixed(1)} KiB (${(zlib.gzipSync(js).length / 1024).toFixed(1)} KiB gzip)\n`,
  );
  const config = v.config ?? (findData() !== null ? path.join(root, 'config', 'examples', 'fashion-mnist-mlp.json') : undefined);
  const args = [...(config ? [config] : []), '--epochs', v.epochs!, '--threads', v.threads!];
  process.stdout.write(
    `workload: ${config ? path.basename(config) : 'the embedded digits run'}, ${v.epochs} epoch(s), --threads ${v.threads}\n`,
  );
  const browser = await launchChromium();
  const res: Record<Setting, RunResult[]> = { none: [], reader: [], page: [] };
  try {
    for (let r = 0; r < Number(v.rounds); r++) {
      const order = [...SETTINGS.slice(r % 3), ...SETTINGS.slice(0, r % 3)];
      for (const s of order) res[s].push(await oneRun(args, s, browser));
    }
  } finally {
    await browser.close();
  }
  for (const s of SETTINGS) {
    const all = res[s].flatMap((x) => x.stepMs);
    const per = res[s].map((x) => median(x.stepMs).toFixed(3)).join(', ');
    const heap = res[s].map((x) => x.heapMiB).filter((x): x is number => x !== null);
    process.stdout.write(
      `${LABEL[s]}: step ${median(all).toFixed(3)} ms median (p10 ${pct(all, 10).toFixed(3)}, p90 ${pct(all, 90).toFixed(3)}; per run ${per})` +
        (heap.length ? `; page heap at the end ${heap.map((h) => h.toFixed(1)).join(', ')} MiB, ${res[s][0]!.points} loss points` : '') +
        (s === 'reader' ? `; ${res[s][0]!.points} frames read` : '') +
        '\n',
    );
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench-dashboard: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
