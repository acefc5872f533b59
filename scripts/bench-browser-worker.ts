/**
 * bench-browser-worker.ts — npm run bench:browser-worker: the browser worker's samples/s against
 * a Node `gradsync worker --kernels wasm --threads 0` (the same WebAssembly kernels) on the same
 * workload: `--threads 1` on the coordinator plus the one remote worker, no straggler duplicates.
 * The browser is headless Chromium in two ways: opening the page with nothing attached (a user's
 * browser), and driven by playwright as the tests drive it (DevTools' network domain reports
 * every WebSocket frame to the driver). Rounds rotate the three in one sitting. A worker's
 * figure is from the coordinator's step records: its examples over its executor time
 * (computeMs, which counts the transfer too, for all alike), with that time's split: the
 * worker's own compute, the rest (transferMs: decode, encode, the wire both ways), and the
 * coordinator's main-thread share, which the remote's answer waits behind. For the plain browser
 * and the Node worker, each round also prints where the worker's CPU went over the middle of the
 * run, per step and thread (thread-times.ts): time on a CPU, time waiting for one, wake-ups; the
 * coordinator's beside. A diagnostic round, labelled so, runs the plain browser with
 * --single-process (no user's browser runs so): the same page without Chromium's process hops.
 * Two workloads: the default digits run (a remote share of 8 examples a step: the round trip
 * dominates) and batch 512 (a share of 256: the kernels dominate).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { guardedPage, launchChromium, noChromiumReason, openPlain } from '../test/helpers/chromium';
import { snapshotThreads, threadShares, type ThreadShare, type ThreadSnapshot } from './thread-times';

const root = path.resolve(__dirname, '..', '..');
const bin = path.join(root, 'bin', 'gradsync.js');
const ROUNDS = Number(process.env.GRADSYNC_BENCH_ROUNDS ?? 3);

const KINDS = ['browser', 'devtools', 'node', 'single'] as const;
type Kind = (typeof KINDS)[number];
const LABEL: Record<Kind, string> = {
  browser: 'browser',
  devtools: 'browser+devtools',
  node: 'node (wasm)',
  single: 'browser --single-process (diagnostic)',
};
/** Chromium's switches for the diagnostic round: browser, network service and renderer in one process. */
const SINGLE_PROCESS = ['--single-process'];

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

interface Round {
  /** The remote executor's examples per second of its executor time. */
  rate: number;
  /** Per step, ms: the remote's executor time, its transfer part, the main thread's share. */
  remoteMs: number;
  transferMs: number;
  mainMs: number;
  remoteId: string;
  /** Where the remote's CPU went (plain browser and node rounds), and the coordinator's. */
  threads: ThreadShare[] | null;
  coordinator: ThreadShare[] | null;
}

/** Step records written so far to a run's log, counted as the file grows. */
class StepCounter {
  private offset = 0;
  count = 0;
  constructor(private readonly file: string) {}
  poll(): number {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return this.count;
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size > this.offset) {
        const b = Buffer.alloc(size - this.offset);
        fs.readSync(fd, b, 0, b.length, this.offset);
        // a record cut at the end is counted once its line is complete
        const text = b.toString('latin1');
        const end = text.lastIndexOf('\n') + 1;
        this.offset += end;
        this.count += text.slice(0, end).split('"msg":"step"').length - 1;
      }
    } finally {
      fs.closeSync(fd);
    }
    return this.count;
  }
}

/**
 * The threads of the remote (`pid`, its process group with `group`) and of the coordinator,
 * from step `window[0]` to `window[1]` of the run: snapshots taken as the log reaches them.
 */
async function watchThreads(
  logFile: string,
  window: [number, number],
  remote: { pid: number; group: boolean },
  coordinator: number,
  exited: Promise<unknown>,
): Promise<{ threads: ThreadShare[]; coordinator: ThreadShare[] } | null> {
  let done = false;
  void exited.then(() => (done = true));
  const steps = new StepCounter(logFile);
  const at = async (n: number): Promise<[ThreadSnapshot, ThreadSnapshot, number] | null> => {
    while (!done && steps.poll() < n) await new Promise((r) => setTimeout(r, 10));
    return done ? null : [snapshotThreads(remote.pid, remote.group), snapshotThreads(coordinator, false), steps.count];
  };
  const a = await at(window[0]);
  const b = a === null ? null : await at(window[1]);
  if (a === null || b === null) return null;
  const n = b[2] - a[2];
  return { threads: threadShares(a[0], b[0], n), coordinator: threadShares(a[1], b[1], n) };
}

/** A round's figures from the run's step records. */
function readRound(logFile: string): Round {
  let ex = 0;
  let ms = 0;
  let tr = 0;
  let main = 0;
  let steps = 0;
  let remoteId = '';
  for (const l of fs.readFileSync(logFile, 'utf8').split('\n')) {
    if (!l.includes('"msg":"step"')) continue;
    steps++;
    const rec = JSON.parse(l) as { executors: { id: string; kind: string; examples: number; computeMs: number; transferMs?: number }[] };
    for (const e of rec.executors) {
      if (e.kind === 'remote') {
        ex += e.examples;
        ms += e.computeMs;
        tr += e.transferMs ?? 0;
        remoteId = e.id;
      } else if (e.kind === 'main') main += e.computeMs;
    }
  }
  return {
    rate: (ex * 1000) / ms,
    remoteMs: ms / steps,
    transferMs: tr / steps,
    mainMs: main / steps,
    remoteId,
    threads: null,
    coordinator: null,
  };
}

async function round(kind: Kind, cfg: string, window: [number, number], browser: import('playwright-core').Browser): Promise<Round> {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-bench-bw-'));
  const t = spawn(
    process.execPath,
    [bin, 'train', cfg, '--threads', '1', '--listen', '127.0.0.1:0', '--wait-workers', '1', '--run-dir', runDir, '--no-progress'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  t.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((r) => t.once('exit', r));
  while (!/browser worker: (\S+)\/worker/.test(out)) await new Promise((r) => setTimeout(r, 50));
  const origin = /browser worker: (\S+)\/worker/.exec(out)![1]!;
  const join = /listening for workers on (\S+)/.exec(out)![1]!;
  const logFile = path.join(runDir, 'log.ndjson');
  let split: Awaited<ReturnType<typeof watchThreads>> = null;
  if (kind === 'devtools') {
    const g = await guardedPage(browser, origin);
    await g.page.goto(`${origin}/worker`);
    await exited;
    await g.context.close();
  } else if (kind === 'browser' || kind === 'single') {
    const c = openPlain(`${origin}/worker`, kind === 'single' ? SINGLE_PROCESS : []);
    if (kind === 'browser') split = await watchThreads(logFile, window, { pid: c.pid, group: true }, t.pid!, exited);
    await exited;
    await c.close();
  } else {
    const w = spawn(process.execPath, [bin, 'worker', '--join', join, '--kernels', 'wasm', '--threads', '0'], { stdio: 'ignore' });
    split = await watchThreads(logFile, window, { pid: w.pid!, group: false }, t.pid!, exited);
    await exited;
    await new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)));
  }
  const r = readRound(logFile);
  r.threads = split?.threads ?? null;
  r.coordinator = split?.coordinator ?? null;
  fs.rmSync(runDir, { recursive: true, force: true });
  // the browser worker names itself browser-…; anything else joined this run in its place
  if ((kind === 'node') === r.remoteId.includes('browser-')) throw new Error(`the ${kind} round's remote was ${r.remoteId}`);
  return r;
}

/** A thread split as lines: per step, µs on a CPU / µs waiting for one / wake-ups, the busy threads and the total. */
function threadLines(who: string, shares: ThreadShare[]): string {
  const busy = shares.filter((s) => s.runUs >= 5);
  const sum = (f: (s: ThreadShare) => number): number => shares.reduce((a, s) => a + f(s), 0);
  const row = (s: ThreadShare): string =>
    `      ${s.key.padEnd(44)} ${s.runUs.toFixed(0).padStart(5)} ${s.waitUs.toFixed(0).padStart(5)} ${s.slices.toFixed(1).padStart(5)}\n`;
  return (
    `    ${who}, per step: µs on a CPU, µs waiting for one, wake-ups\n` +
    busy.map(row).join('') +
    row({ key: 'all threads', runUs: sum((s) => s.runUs), waitUs: sum((s) => s.waitUs), slices: sum((s) => s.slices) })
  );
}

async function main(): Promise<void> {
  const why = noChromiumReason();
  if (why !== null) throw new Error(`bench:browser-worker needs Chromium: ${why}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-bench-bw-cfg-'));
  const dflt = JSON.parse(fs.readFileSync(path.join(root, 'config', 'default.json'), 'utf8')) as Record<string, unknown>;
  // each with the steps over which the threads' times are taken (the middle of its run)
  const workloads: [string, Record<string, unknown>, [number, number]][] = [
    ['default digits run (batch 32, micro-batch 8)', {}, [100, 800]],
    ['digits, batch 512, micro-batch 64, 150 steps', { batch: 512, microBatch: 64, steps: 150 }, [20, 130]],
  ];
  const browser = await launchChromium();
  process.stdout.write(`browser worker vs node worker (--kernels wasm), --threads 1 + 1 remote, ${os.cpus()[0]?.model ?? '?'}\n`);
  process.stdout.write('per step, ms: remote = the remote executor time (its transfer part), main = the main thread share\n');
  try {
    for (const [name, over, window] of workloads) {
      const cfg = path.join(dir, `workload-${workloads.findIndex((w) => w[0] === name)}.json`);
      fs.writeFileSync(cfg, JSON.stringify({ ...dflt, duplicateStragglers: false, ...over }));
      process.stdout.write(`${name}\n`);
      const rates: Record<Kind, number[]> = { browser: [], devtools: [], node: [], single: [] };
      for (let k = 0; k < ROUNDS; k++) {
        // each kind goes first in turn
        for (let j = 0; j < KINDS.length; j++) {
          const kind = KINDS[(j + k) % KINDS.length]!;
          const r = await round(kind, cfg, window, browser);
          rates[kind].push(r.rate);
          process.stdout.write(
            `  round ${k + 1} ${LABEL[kind].padEnd(16)} ${r.rate.toFixed(0).padStart(6)} samples/s   remote ${r.remoteMs.toFixed(3)} ` +
              `(transfer ${r.transferMs.toFixed(3)}), main ${r.mainMs.toFixed(3)}\n`,
          );
          if (r.threads !== null) process.stdout.write(threadLines('its threads', r.threads));
          if (r.coordinator !== null) process.stdout.write(threadLines('coordinator', r.coordinator));
        }
      }
      const m = (k: Kind): number => median(rates[k]);
      process.stdout.write(
        `  median: browser ${m('browser').toFixed(0)}, browser+devtools ${m('devtools').toFixed(0)}, node ${m('node').toFixed(0)} samples/s; ` +
          `ratio browser/node ${(m('browser') / m('node')).toFixed(2)}× (target ≥ 0.8×), browser+devtools/node ${(m('devtools') / m('node')).toFixed(2)}×; ` +
          `diagnostic, no user's browser: --single-process ${m('single').toFixed(0)}, ${(m('single') / m('node')).toFixed(2)}× node\n`,
      );
    }
  } finally {
    await browser.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: Error) => {
  process.stderr.write(`bench-browser-worker: ${e.message}\n`);
  process.exit(1);
});
