/**
 * bench-seed.ts — `npm run bench:seed`: the seed network, config/doubling.json (one tanh unit,
 * 20 examples, 10,000 full-batch steps, a step record each), beside the numpy program it came
 * from (scripts/seed_numpy.py, np.matrix), alternating in one sitting. Per round it prints
 * gradsync's training-loop seconds (the summary's `seconds`) and its process wall time, and
 * numpy's loop and process wall time; then the medians and their ratios, and whether both ended
 * at the same W and b (to a few ulps). Flags: --rounds N (default 5), --kernels auto|native|wasm|ref,
 * --before DIR: another gradsync folder (built; e.g. a worktree of main) run in the same rounds,
 * alternating with this one, for a before/after in one sitting (with the rounds this build won). Timings are printed, never asserted.
 */

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { benchArgs, machineHeader, median, pyScript } from './bench-common';

const USAGE = 'usage: node dist/scripts/bench-seed.js [--rounds 5] [--kernels auto|native|wasm|ref] [--before DIR]';

interface Run {
  loop: number;
  wall: number;
  W: number;
  b: number;
}

const root = path.join(__dirname, '..', '..');

function timed(cmd: string, args: string[], env?: NodeJS.ProcessEnv): { out: string; wall: number } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: env ?? process.env, maxBuffer: 64 << 20 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${(r.stderr || '').trim().split('\n').pop()}`);
  return { out: r.stdout, wall };
}

function gradsync(kernels: string, runDir: string, from = root): Run {
  fs.rmSync(runDir, { recursive: true, force: true });
  const bin = path.join(from, 'bin', 'gradsync.js');
  const { out, wall } = timed(process.execPath, [
    bin,
    'train',
    path.join(root, 'config', 'doubling.json'),
    '--json',
    '--kernels',
    kernels,
    '--run-dir',
    runDir,
  ]);
  const s = JSON.parse(out.trim().split('\n').pop()!) as { seconds: number; params: { W: number[]; b: number[] }[] };
  return { loop: s.seconds, wall, W: s.params[0]!.W[0]!, b: s.params[0]!.b[0]! };
}

function numpyPython(): string | null {
  for (const py of ['python3', '/usr/bin/python3']) if (spawnSync(py, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0) return py;
  return null;
}

function numpy(py: string): Run {
  const { out, wall } = timed(py, [pyScript('seed_numpy.py')]);
  const s = JSON.parse(out.trim().split('\n').pop()!) as { W: number; b: number; seconds: number };
  return { loop: s.seconds, wall, W: s.W, b: s.b };
}

function main(): void {
  const a = benchArgs('bench-seed', USAGE, {
    rounds: { type: 'string', default: '5' },
    kernels: { type: 'string', default: 'auto' },
    before: { type: 'string' },
  });
  const before = a.before === undefined ? null : path.resolve(a.before);
  if (before !== null && !fs.existsSync(path.join(before, 'bin', 'gradsync.js')))
    throw new Error(`--before ${a.before}: no bin/gradsync.js there`);
  const rounds = Number(a.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got "${a.rounds}"`);
  const py = numpyPython();
  process.stdout.write(
    `${machineHeader()}\nseed network: config/doubling.json, 10,000 steps; numpy: ${py === null ? 'no python3 with numpy' : 'scripts/seed_numpy.py'}\n`,
  );
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-bench-seed-'));
  const g: Run[] = [];
  const n: Run[] = [];
  const b: Run[] = [];
  try {
    process.stdout.write(
      `round | ${before !== null ? 'before loop s | before process s | ' : ''}gradsync loop s | gradsync process s | numpy loop s | numpy process s\n`,
    );
    for (let r = 0; r < rounds; r++) {
      // alternate which goes first, so a slow minute of the host falls on all
      const runG = (): void => void g.push(gradsync(a.kernels!, runDir));
      const runB = (): void => void (before !== null && b.push(gradsync(a.kernels!, runDir, before)));
      const runN = (): void => void (py !== null && n.push(numpy(py)));
      for (const f of r % 2 === 0 ? [runB, runG, runN] : [runN, runG, runB]) f();
      const last = n[n.length - 1];
      const was = before !== null ? `${b[r]!.loop.toFixed(3)} | ${b[r]!.wall.toFixed(3)} | ` : '';
      process.stdout.write(
        `${r + 1} | ${was}${g[r]!.loop.toFixed(3)} | ${g[r]!.wall.toFixed(3)} | ${last ? last.loop.toFixed(3) : '-'} | ${last ? last.wall.toFixed(3) : '-'}\n`,
      );
    }
  } finally {
    fs.rmSync(runDir, { recursive: true, force: true });
  }
  const gl = median(g.map((x) => x.loop));
  const gw = median(g.map((x) => x.wall));
  if (b.length > 0) {
    const bl = median(b.map((x) => x.loop));
    // the rounds are paired (same minute of the host): how many this build won says more than the medians on a noisy host
    const won = g.filter((x, r) => x.loop < b[r]!.loop).length;
    process.stdout.write(
      `median: before loop ${bl.toFixed(3)} s, process ${median(b.map((x) => x.wall)).toFixed(3)} s\n` +
        `this build / before: loop ${(gl / bl).toFixed(3)}× (medians), faster in ${won} rounds of ${rounds}\n`,
    );
  }
  process.stdout.write(`median: gradsync loop ${gl.toFixed(3)} s, process ${gw.toFixed(3)} s`);
  if (n.length > 0) {
    const nl = median(n.map((x) => x.loop));
    const nw = median(n.map((x) => x.wall));
    // numpy's dot products may add in another order (BLAS), so the two agree to a few ulps, not bit for bit
    const rel = Math.max(Math.abs(g[0]!.W - n[0]!.W) / Math.abs(n[0]!.W), Math.abs(g[0]!.b - n[0]!.b) / Math.abs(n[0]!.b));
    process.stdout.write(
      `; numpy loop ${nl.toFixed(3)} s, process ${nw.toFixed(3)} s\n` +
        `gradsync / numpy: loop ${(gl / nl).toFixed(2)}×, process ${(gw / nw).toFixed(2)}×\n` +
        `final W, b: gradsync ${g[0]!.W}, ${g[0]!.b}; numpy ${n[0]!.W}, ${n[0]!.b} (largest relative difference ${rel.toExponential(2)})\n`,
    );
  } else process.stdout.write('\n');
}

main();
