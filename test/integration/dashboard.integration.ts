/**
 * The dashboard in a real browser: headless Chromium (test/helpers/chromium.ts) opens the page
 * of `gradsync train --monitor` while it trains with a remote worker, and of `gradsync view` of
 * a finished run, and reads back what the page holds (its DOM and its JS state) against the
 * run's log. Every request the page makes must go to the server that served it. Screenshots go
 * to the folder screenshotDir() names (kept). Skips, saying why, without Chromium.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { waitForLine } from '../helpers/child-output';
import { repoRoot, tempDir } from '../helpers/paths';
import { guardedPage, launchChromium, noChromiumReason, screenshotDir } from '../helpers/chromium';

const bin = path.join(repoRoot(), 'bin', 'gradsync.js');

const recordsOf = (file: string): Record<string, unknown>[] =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** What the page shows, read from its DOM and its state (web/dashboard/main.ts). */
interface Shown {
  status: string;
  statusText: string;
  points: number;
  layers: number;
  panels: number;
  layerCanvases: number;
  lossSteps: number[];
  losses: (number | null)[];
  lrPoints: number;
  lrs: (number | null)[];
  evals: number;
  diagnosis: string[];
  evidence: string[];
  executors: string[];
  events: string[];
  info: string;
}

const SHOWN = `(() => {
  const q = (id) => document.getElementById(id);
  const all = (sel) => [...document.querySelectorAll(sel)].map((e) => e.textContent);
  const st = window.gradsyncDashboard.state;
  return {
    status: document.body.dataset.status,
    statusText: q('status').textContent,
    points: Number(q('loss').dataset.points),
    layers: Number(q('layers').dataset.layers),
    panels: document.querySelectorAll('.layer-panel').length,
    layerCanvases: document.querySelectorAll('.layer-panel canvas').length,
    lossSteps: st.loss.cols[0].slice(),
    losses: st.loss.cols[1].slice(),
    lrPoints: Number(q('lr').dataset.points),
    lrs: st.lr.cols[1].slice(),
    evals: Number(q('evals').dataset.points),
    diagnosis: all('#diagnosis .state'),
    evidence: all('#evidence li'),
    executors: all('#executors tbody tr td:first-child'),
    events: all('#events li'),
    info: q('info').textContent,
  };
})()`;

const shown = (page: Page): Promise<Shown> => page.evaluate(SHOWN) as Promise<Shown>;

/**
 * Polls `expr` in the page until it is true. Not page.waitForFunction: that evaluates a string
 * inside the page, which the page's Content Security Policy forbids (no 'unsafe-eval').
 */
async function waitFor(page: Page, expr: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await page.evaluate(expr))) {
    if (Date.now() > until)
      throw new Error(`timed out waiting for ${expr}; the page shows ${JSON.stringify(await shown(page).catch(() => null))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the page has drawn the whole run: the end record in and `steps` loss points. */
async function untilDrawn(page: Page, steps: number): Promise<Shown> {
  await waitFor(page, `document.body.dataset.status === 'ended' && document.getElementById('loss').dataset.points === '${steps}'`, 60_000);
  return shown(page);
}

/** Asserts the page shows the run of `log`: one loss point per step with the log's values, a panel per layer, the last diagnosis. */
function assertShowsRun(s: Shown, log: Record<string, unknown>[], what: string): void {
  const steps = log.filter((r) => r.msg === 'step');
  const last = steps[steps.length - 1]!;
  assert.deepEqual(
    s.lossSteps,
    steps.map((r) => r.step),
    `${what}: a loss point per step`,
  );
  assert.deepEqual(
    s.losses,
    steps.map((r) => r.loss),
    `${what}: the log's losses`,
  );
  assert.deepEqual(
    s.lrs,
    steps.map((r) => r.lr),
    `${what}: the log's learning rates`,
  );
  assert.equal(s.lrPoints, steps.length, `${what}: a learning-rate point per step`);
  const layers = (last.layers as unknown[]).length;
  assert.equal(s.layers, layers, `${what}: layers`);
  assert.equal(s.panels, layers, `${what}: one panel per layer`);
  assert.ok(s.layerCanvases >= 3 * layers, `${what}: three charts per layer (${s.layerCanvases} canvases)`);
  const diag = last.diagnosis as { states: string[]; evidence: Record<string, string> };
  assert.deepEqual(s.diagnosis, diag.states, `${what}: the diagnosis`);
  assert.deepEqual(
    s.evidence,
    Object.entries(diag.evidence).map(([k, v]) => `${k}: ${v}`),
    `${what}: its evidence`,
  );
  assert.equal(s.evals, log.filter((r) => r.msg === 'eval').length, `${what}: a held-out point per epoch`);
  const start = log.find((r) => r.msg === 'start')!;
  assert.ok(s.info.includes((start.data as { sha256: string }).sha256), `${what}: the data hash`);
  assert.ok(s.info.includes(String(start.kernel)), `${what}: the kernel`);
}

describe('the dashboard in a browser (integration)', function () {
  this.timeout(180_000);
  let browser: Browser | null = null;
  const children: ChildProcess[] = [];

  before(async function () {
    const reason = noChromiumReason();
    if (reason !== null) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    browser = await launchChromium();
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await browser?.close();
  });

  it('shows a running training with a remote worker: a page opened before the first step and one opened mid-run end with a loss point per step, a panel per layer, the diagnosis and the executors; nothing is requested elsewhere', async () => {
    const runDir = path.join(tempDir(), 'run');
    const train = spawn(
      process.execPath,
      [
        bin,
        'train',
        ...['--steps', '600', '--batch', '256', '--kernels', 'ref', '--threads', '1'],
        ...['--listen', '127.0.0.1:0', '--wait-workers', '1', '--monitor', '127.0.0.1:0'],
        ...['--run-dir', runDir, '--no-progress', '--json'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(train);
    let stdout = '';
    train.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => train.once('exit', resolve));
    const [, page] = await waitForLine(train, /dashboard on (http:\/\/127\.0\.0\.1:\d+)\//);
    const [, join] = await waitForLine(train, /listening for workers on (ws:\/\/127\.0\.0\.1:\d+)/);
    const a = await guardedPage(browser!, page!);
    await a.page.goto(`${page}/`);
    await waitFor(a.page, `document.body.dataset.status === 'live'`, 30_000);
    const worker = spawn(process.execPath, [bin, 'worker', '--join', join!, '--threads', '0', '--id', 'w1'], { stdio: 'ignore' });
    children.push(worker);
    // the second page opens while the run trains: it gets the history first, then live points
    await waitFor(a.page, `Number(document.getElementById('loss').dataset.points) >= 50`, 60_000);
    const b = await guardedPage(browser!, page!);
    await b.page.goto(`${page}/`);
    await waitFor(b.page, `document.body.dataset.status === 'live'`, 30_000);
    const midRun = await shown(b.page);
    assert.equal(await exited, 0, 'train exits 0');
    const summary = JSON.parse(stdout) as { steps: number; diagnosis: { states: string[] } };
    assert.equal(summary.steps, 600);
    assert.ok(midRun.points < 600, `the second page opened mid-run (it had ${midRun.points} points)`);
    const log = recordsOf(path.join(runDir, 'log.ndjson'));
    for (const [p, what] of [
      [a, 'the page opened first'],
      [b, 'the page opened mid-run'],
    ] as const) {
      const s = await untilDrawn(p.page, 600);
      assertShowsRun(s, log, what);
      assert.deepEqual(s.diagnosis, summary.diagnosis.states);
      assert.deepEqual([...s.executors].sort(), ['main', 'remote-w1'], `${what}: the executors`);
      assert.ok(
        s.events.some((e) => e.includes('remote: worker joined') && e.includes('remote-w1')),
        `${what}: the worker's joining is listed: ${s.events.join(' | ')}`,
      );
      assert.deepEqual(p.foreign, [], `${what}: no request left the coordinator`);
      assert.deepEqual(p.errors, [], `${what}: no script error`);
    }
    const shot = path.join(screenshotDir(), 'dashboard-train.png');
    await a.page.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 10_000, `a screenshot in ${shot}`);
    console.log(`      screenshot: ${shot}`);
    await a.context.close();
    await b.context.close();
  });

  describe('gradsync view', () => {
    let runDir = '';
    before(() => {
      runDir = path.join(tempDir(), 'run');
      // a schedule (linear warm-up, then cosine annealing per step), so the lr chart has a shape to show
      const cfgFile = path.join(tempDir(), 'schedule.json');
      const dflt = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'config', 'default.json'), 'utf8'));
      fs.writeFileSync(cfgFile, JSON.stringify({ ...dflt, schedule: { kind: 'cosine', unit: 'step', tMax: 250, warmup: 50 } }));
      const r = spawnSync(
        process.execPath,
        [bin, 'train', cfgFile, '--steps', '300', '--threads', '0', '--run-dir', runDir, '--no-progress'],
        {
          encoding: 'utf8',
        },
      );
      assert.equal(r.status, 0, r.stderr);
    });

    const view = async (
      env: NodeJS.ProcessEnv = process.env,
    ): Promise<{ child: ChildProcess; url: string; exited: Promise<number | null> }> => {
      const child = spawn(process.execPath, [bin, 'view', runDir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env });
      children.push(child);
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const [, url] = await waitForLine(child, /on (http:\/\/127\.0\.0\.1:\d+)\//);
      return { child, url: url!, exited };
    };

    it('of a finished run shows the same: a loss point per step, a panel per layer, the diagnosis; it stops with 0 on SIGTERM', async () => {
      const v = await view();
      const p = await guardedPage(browser!, v.url);
      await p.page.goto(`${v.url}/`);
      const s = await untilDrawn(p.page, 300);
      assertShowsRun(s, recordsOf(path.join(runDir, 'log.ndjson')), 'view');
      assert.deepEqual(s.executors, ['main']);
      assert.deepEqual(p.foreign, []);
      assert.deepEqual(p.errors, []);
      const shot = path.join(screenshotDir(), 'dashboard-view.png');
      await p.page.screenshot({ path: shot, fullPage: true });
      console.log(`      screenshot: ${shot}`);
      await p.context.close();
      v.child.kill('SIGTERM');
      assert.equal(await v.exited, 0);
    });

    it('with a token: a page with a wrong token in its fragment is refused and says so; the right one reads the run; the token is never sent', async () => {
      const token = 'view-token-51c2a7e9';
      const v = await view({ ...process.env, GRADSYNC_TOKEN: token });
      const wrong = await guardedPage(browser!, v.url);
      const sent: string[] = [];
      wrong.page.on('request', (r) => sent.push(r.url()));
      await wrong.page.goto(`${v.url}/#token=not-the-token`);
      await waitFor(wrong.page, `document.body.dataset.status === 'refused'`, 30_000);
      assert.match((await shown(wrong.page)).statusText, /refused the connection: wrong token/);
      assert.equal(await wrong.page.isVisible('#token-form'), true, 'the page asks for the token');
      const right = await guardedPage(browser!, v.url);
      right.page.on('request', (r) => sent.push(r.url()));
      right.page.on('websocket', (ws) => sent.push(ws.url()));
      await right.page.goto(`${v.url}/#token=${token}`);
      await untilDrawn(right.page, 300);
      assert.ok(sent.length > 0);
      assert.ok(!sent.some((u) => u.includes(token) || u.includes('not-the-token')), `no request carries a token: ${sent.join(' ')}`);
      assert.deepEqual([...wrong.foreign, ...right.foreign], []);
      await wrong.context.close();
      await right.context.close();
      v.child.kill('SIGTERM');
      assert.equal(await v.exited, 0);
    });

    it('of a run still being written follows its log as it grows; a server that dies is said to be gone, and what was drawn stays', async () => {
      const lines = fs.readFileSync(path.join(runDir, 'log.ndjson'), 'utf8').split('\n');
      const steps = lines.filter((l) => l.includes('"msg":"step"'));
      const growing = path.join(tempDir(), 'log.ndjson');
      fs.writeFileSync(growing, `${lines.find((l) => l.includes('"msg":"start"'))!}\n${steps.slice(0, 100).join('\n')}\n`);
      const child = spawn(process.execPath, [bin, 'view', growing], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const [, url] = await waitForLine(child, /on (http:\/\/127\.0\.0\.1:\d+)\//);
      const p = await guardedPage(browser!, url!);
      await p.page.goto(`${url}/`);
      await waitFor(p.page, `document.getElementById('loss').dataset.points === '100'`);
      fs.appendFileSync(growing, `${steps.slice(100, 200).join('\n')}\n`);
      await waitFor(p.page, `document.getElementById('loss').dataset.points === '200'`);
      assert.equal((await shown(p.page)).status, 'live', 'no end record: the run goes on');
      child.kill('SIGKILL');
      await exited;
      await waitFor(p.page, `/cannot reach the coordinator/.test(document.getElementById('status').textContent)`, 30_000);
      assert.equal((await shown(p.page)).points, 200);
      assert.deepEqual(p.foreign, []);
      assert.deepEqual(p.errors, []);
      await p.context.close();
    });
  });
});
