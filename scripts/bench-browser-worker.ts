/**
 * bench-browser-worker.ts — npm run bench:browser-worker: the browser worker's samples/s against
 * a Node `gradsync worker --kernels wasm --threads 0` (the same WebAssembly kernels) on the same
 * workload: the default digits run, `--threads 1` on the coordinator plus the one remote worker,
 * no straggler duplicates. Rounds alternate browser and Node in one sitting. A worker's figure is
 * from the coordinator's step records: its examples over its executor time (computeMs, which
 * counts the transfer too, for both alike). Prints each round and the ratio of the medians, for
 * the default run (batch 32: a remote share of 8 examples a step, so the round trip dominates) and
 * for batch 512 (a share of 256: the kernels dominate), which tells the two costs apart.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { guardedPage, launchChromium, noChromiumReason } from '../test/helpers/chromium';

const root = path.resolve(__dirname, '..', '..');
const bin = path.join(root, 'bin', 'gradsync.js');
const ROUNDS = Number(process.env.GRADSYNC_BENCH_ROUNDS ?? 3);

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

/** The remote executor's examples per second of its executor time, from a run's log. */
function remoteRate(logFile: string): number {
  let ex = 0;
  let ms = 0;
  for (const l of fs.readFileSync(logFile, 'utf8').split('\n')) {
    if (!l.includes('"msg":"step"')) continue;
    for (const e of (JSON.parse(l) as { executors: { kind: string; examples: number; computeMs: number }[] }).executors) {
      if (e.kind === 'remote') {
        ex += e.examples;
        ms += e.computeMs;
      }
    }
  }
  return (ex * 1000) / ms;
}

async function round(kind: 'browser' | 'node', cfg: string, browser: import('playwright-core').Browser | null): Promise<number> {
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
  if (kind === 'browser') {
    const g = await guardedPage(browser!, origin);
    await g.page.goto(`${origin}/worker`);
    await exited;
    await g.context.close();
  } else {
    const w = spawn(process.execPath, [bin, 'worker', '--join', join, '--kernels', 'wasm', '--threads', '0'], { stdio: 'ignore' });
    await exited;
    await new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)));
  }
  const rate = remoteRate(path.join(runDir, 'log.ndjson'));
  fs.rmSync(runDir, { recursive: true, force: true });
  return rate;
}

async function main(): Promise<void> {
  const why = noChromiumReason();
  if (why !== null) throw new Error(`bench:browser-worker needs Chromium: ${why}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-bench-bw-cfg-'));
  const dflt = JSON.parse(fs.readFileSync(path.join(root, 'config', 'default.json'), 'utf8')) as Record<string, unknown>;
  const workloads: [string, Record<string, unknown>][] = [
    ['default digits run (batch 32, micro-batch 8)', {}],
    ['digits, batch 512, micro-batch 64, 150 steps', { batch: 512, microBatch: 64, steps: 150 }],
  ];
  const browser = await launchChromium();
  process.stdout.write(`browser worker vs node worker (--kernels wasm), --threads 1 + 1 remote, ${os.cpus()[0]?.model ?? '?'}\n`);
  try {
    for (const [name, over] of workloads) {
      const cfg = path.join(dir, `workload-${workloads.findIndex((w) => w[0] === name)}.json`);
      fs.writeFileSync(cfg, JSON.stringify({ ...dflt, duplicateStragglers: false, ...over }));
      process.stdout.write(`${name}\n`);
      const rates = { browser: [] as number[], node: [] as number[] };
      for (let k = 0; k < ROUNDS; k++) {
        for (const kind of k % 2 === 0 ? (['browser', 'node'] as const) : (['node', 'browser'] as const)) {
          const r = await round(kind, cfg, browser);
          rates[kind].push(r);
          process.stdout.write(`  round ${k + 1} ${kind.padEnd(7)} ${r.toFixed(0)} samples/s\n`);
        }
      }
      const b = median(rates.browser);
      const n = median(rates.node);
      process.stdout.write(
        `  median: browser ${b.toFixed(0)} samples/s, node ${n.toFixed(0)} samples/s, ratio ${(b / n).toFixed(2)}× (target ≥ 0.8×)\n`,
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
