/**
 * The browser worker in a real browser: headless Chromium (test/helpers/chromium.ts) opens
 * /worker of `gradsync train --listen --threads 1` and joins the run as a remote worker with the
 * project's own WebAssembly kernels. The run ends with the single-thread run's paramsSha256 (the
 * invariant), a reload takes the dataset from IndexedDB, a tab closed mid-run costs only time, a
 * wrong token and an `fma` run are refused with the reason on the page, and every request the
 * page makes goes to the coordinator. Skips, saying why, without Chromium.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { waitForLine } from '../helpers/child-output';
import { repoRoot, tempDir } from '../helpers/paths';
import { guardedPage, launchChromium, noChromiumReason } from '../helpers/chromium';

const bin = path.join(repoRoot(), 'bin', 'gradsync.js');
const TOKEN = 'browser-worker-test-token';

interface Shown {
  state: string;
  why: string;
  executor: string | null;
  steps: number;
  share: number | null;
  samplesPerSec: number | null;
  dataFromCache: boolean | null;
  text: string;
}

const SHOWN = `(() => ({ ...(window.gradsyncWorker.state ?? { state: 'none', steps: 0 }), text: document.body.innerText }))()`;
const shown = (page: Page): Promise<Shown> => page.evaluate(SHOWN) as Promise<Shown>;

/** Polls the page's state until `ok` holds (not waitForFunction: the page's CSP forbids eval). */
async function until(page: Page, ok: (s: Shown) => boolean, what: string, timeoutMs = 60_000): Promise<Shown> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await shown(page).catch(() => null);
    if (s !== null && ok(s)) return s;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; the page shows ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const recordsOf = (file: string): Record<string, unknown>[] =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('the browser worker in a browser (integration)', function () {
  this.timeout(180_000);
  let browser: Browser | null = null;
  const children: ChildProcess[] = [];
  let dir = '';
  let cfgFile = '';
  let fmaCfg = '';
  let reference = '';
  /**
   * The reload test's run: full batches (1,438 examples), so that the main thread alone, while
   * the page reloads, takes ~10 ms a step and cannot finish the run before the page joins again.
   */
  let reloadCfg = '';
  let reloadReference = '';
  const RELOAD_STEPS = '300';
  const STEPS = '900';

  before(async function () {
    const reason = noChromiumReason();
    if (reason !== null) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    dir = tempDir();
    // the embedded default, with no duplicate of a slow node's range on the main thread: on a
    // loaded machine that duplicate can win a step, and the test asserts the browser computed its share
    const dflt = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'config', 'default.json'), 'utf8')) as Record<string, unknown>;
    cfgFile = path.join(dir, 'no-duplicates.json');
    fs.writeFileSync(cfgFile, JSON.stringify({ ...dflt, duplicateStragglers: false }));
    fmaCfg = path.join(dir, 'fma.json');
    fs.writeFileSync(fmaCfg, JSON.stringify({ ...dflt, duplicateStragglers: false, kernelProfile: 'fma' }));
    const r = spawnSync(
      process.execPath,
      [bin, 'train', cfgFile, '--steps', STEPS, '--threads', '1', '--no-progress', '--json', '--run-dir', path.join(dir, 'ref')],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stderr);
    reference = (JSON.parse(r.stdout) as { paramsSha256: string }).paramsSha256;
    reloadCfg = path.join(dir, 'full-batch.json');
    fs.writeFileSync(reloadCfg, JSON.stringify({ ...dflt, duplicateStragglers: false, batch: 'full', microBatch: 64 }));
    const rr = spawnSync(
      process.execPath,
      [
        bin,
        'train',
        reloadCfg,
        '--steps',
        RELOAD_STEPS,
        '--threads',
        '1',
        '--no-progress',
        '--json',
        '--run-dir',
        path.join(dir, 'ref-full'),
      ],
      { encoding: 'utf8' },
    );
    assert.equal(rr.status, 0, rr.stderr);
    reloadReference = (JSON.parse(rr.stdout) as { paramsSha256: string }).paramsSha256;
    browser = await launchChromium();
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await browser?.close();
  });

  /** `gradsync train` listening for one worker, with the token; resolves with its page's origin, its exit and its stdout. */
  async function trainer(
    cfg: string,
    runDir: string,
    steps = STEPS,
  ): Promise<{ origin: string; exited: Promise<number | null>; stdout: () => string; child: ChildProcess }> {
    const child = spawn(
      process.execPath,
      [
        bin,
        'train',
        cfg,
        '--steps',
        steps,
        '--threads',
        '1',
        '--listen',
        '127.0.0.1:0',
        '--wait-workers',
        '1',
        '--run-dir',
        runDir,
        '--no-progress',
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GRADSYNC_TOKEN: TOKEN } },
    );
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const [, origin] = await waitForLine(child, /browser worker: (http:\/\/127\.0\.0\.1:\d+)\/worker/);
    return { origin: origin!, exited, stdout: () => out, child };
  }

  const shaOf = (stdout: string): string => {
    const line = stdout.split('\n').find((l) => l.startsWith('{') && l.includes('paramsSha256'))!;
    return (JSON.parse(line) as { paramsSha256: string }).paramsSha256;
  };

  it('1 local thread + 1 browser worker end with the single-thread paramsSha256; the step records name the browser executor; a reload mid-run takes the dataset from IndexedDB; nothing is requested elsewhere', async () => {
    const runDir = path.join(dir, 'run-a');
    const t = await trainer(reloadCfg, runDir, RELOAD_STEPS);
    const g = await guardedPage(browser!, t.origin);
    await g.page.goto(`${t.origin}/worker#token=${TOKEN}`);
    const first = await until(g.page, (s) => s.state === 'computing' && s.steps >= 3, 'the first steps');
    assert.equal(first.dataFromCache, false, 'the first join downloads the dataset');
    assert.ok(first.executor?.startsWith('remote-browser-'), `executor ${first.executor}`);
    assert.ok(first.share !== null && first.share > 0 && first.share <= 1, `share ${first.share}`);
    assert.ok(first.samplesPerSec !== null && first.samplesPerSec > 0, 'samples/s shown');
    assert.ok(!String(await g.page.evaluate('location.href')).includes(TOKEN), 'the token is dropped from the address bar');
    // the token left the address bar when the page read it: the reloaded page asks for it
    await g.page.reload();
    await g.page.waitForSelector('#token-form:not([hidden])');
    await g.page.fill('#token', TOKEN);
    await g.page.click('#token-form button');
    const again = await until(g.page, (s) => (s.state === 'computing' && s.steps >= 1) || s.state === 'disconnected', 'the rejoin');
    assert.equal(again.dataFromCache, true, `the reload takes the dataset from IndexedDB: ${JSON.stringify(again)}`);
    assert.equal(await t.exited, 0, 'train exits 0');
    assert.equal(shaOf(t.stdout()), reloadReference, 'the single-thread paramsSha256');
    const log = recordsOf(path.join(runDir, 'log.ndjson'));
    const browserSteps = log.filter(
      (r) =>
        r.msg === 'step' &&
        (r.executors as { id: string; examples: number }[]).some((e) => e.id.startsWith('remote-browser-') && e.examples > 0),
    );
    assert.ok(browserSteps.length > 0, 'step records name the browser executor for its share');
    const streamed = log.filter((r) => r.msg === 'remote: streaming the dataset');
    assert.equal(streamed.length, 1, 'the dataset travels once: the reload joins with its cached copy');
    await until(g.page, (s) => s.state === 'disconnected', 'the end');
    assert.deepEqual(g.foreign, [], 'no request off the coordinator');
    assert.deepEqual(g.errors, [], 'no script error');
    await g.context.close();
  });

  it('a cached dataset that no longer matches its hash is discarded: the reload downloads it again, the same paramsSha256', async () => {
    const runDir = path.join(dir, 'run-corrupt');
    const t = await trainer(reloadCfg, runDir, RELOAD_STEPS);
    const g = await guardedPage(browser!, t.origin);
    await g.page.goto(`${t.origin}/worker#token=${TOKEN}`);
    await until(g.page, (s) => s.state === 'computing' && s.steps >= 3, 'the first steps');
    // flip one byte of every cached copy (web/worker/idb-cache.ts: database gradsync-worker, store datasets)
    const flipped = await g.page.evaluate(`new Promise((resolve, reject) => {
      const open = indexedDB.open('gradsync-worker', 1);
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const tx = open.result.transaction('datasets', 'readwrite');
        const store = tx.objectStore('datasets');
        let n = 0;
        store.openCursor().onsuccess = (e) => {
          const cur = e.target.result;
          if (cur === null) return;
          const b = new Uint8Array(cur.value.slice(0));
          b[b.length >> 1] ^= 0x40;
          cur.update(b.buffer);
          n++;
          cur.continue();
        };
        tx.oncomplete = () => resolve(n);
        tx.onerror = () => reject(tx.error);
      };
    })`);
    assert.equal(flipped, 1, 'one cached dataset to corrupt');
    await g.page.reload();
    await g.page.waitForSelector('#token-form:not([hidden])');
    await g.page.fill('#token', TOKEN);
    await g.page.click('#token-form button');
    const again = await until(g.page, (s) => (s.state === 'computing' && s.steps >= 1) || s.state === 'disconnected', 'the rejoin');
    assert.equal(again.dataFromCache, false, `the corrupted copy is not used: ${JSON.stringify(again)}`);
    assert.equal(await t.exited, 0, 'train exits 0');
    assert.equal(shaOf(t.stdout()), reloadReference, 'the single-thread paramsSha256');
    const streamed = recordsOf(path.join(runDir, 'log.ndjson')).filter((r) => r.msg === 'remote: streaming the dataset');
    assert.equal(streamed.length, 2, 'the dataset travels again after the corrupted copy is discarded');
    assert.deepEqual(g.foreign, [], 'no request off the coordinator');
    assert.deepEqual(g.errors, [], 'no script error');
    await g.context.close();
  });

  it('a tab closed mid-run costs time, never a result: the same paramsSha256', async () => {
    const t = await trainer(cfgFile, path.join(dir, 'run-b'));
    const g = await guardedPage(browser!, t.origin);
    await g.page.goto(`${t.origin}/worker#token=${TOKEN}`);
    await until(g.page, (s) => s.state === 'computing' && s.steps >= 3, 'the first steps');
    await g.page.close();
    assert.equal(await t.exited, 0, 'train exits 0');
    assert.equal(shaOf(t.stdout()), reference, 'the single-thread paramsSha256');
    assert.deepEqual(g.foreign, []);
    await g.context.close();
  });

  it('a wrong token is refused and the page says why; the token field is offered without one', async () => {
    const t = await trainer(cfgFile, path.join(dir, 'run-c'));
    const g = await guardedPage(browser!, t.origin);
    await g.page.goto(`${t.origin}/worker#token=not-the-token`);
    const s = await until(g.page, (x) => x.state === 'refused', 'the refusal');
    assert.match(s.why, /wrong token/);
    assert.match(s.text, /wrong token/);
    const h = await guardedPage(browser!, t.origin);
    await h.page.goto(`${t.origin}/worker`);
    await h.page.waitForSelector('#token-form:not([hidden])');
    await h.page.fill('#token', TOKEN);
    await h.page.click('#token-form button');
    await until(h.page, (x) => x.state === 'computing', 'the join with the typed token');
    assert.equal(await t.exited, 0);
    assert.deepEqual([...g.foreign, ...h.foreign], []);
    await g.context.close();
    await h.context.close();
  });

  it('an `fma` kernel-profile run is refused: WebAssembly has no deterministic FMA, and the page says so', async () => {
    const t = await trainer(fmaCfg, path.join(dir, 'run-d'));
    const g = await guardedPage(browser!, t.origin);
    await g.page.goto(`${t.origin}/worker#token=${TOKEN}`);
    const s = await until(g.page, (x) => x.state === 'refused', 'the refusal');
    assert.match(s.why, /fused multiply-add/);
    t.child.kill('SIGKILL');
    await t.exited;
    await g.context.close();
  });
});
