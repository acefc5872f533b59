/**
 * bench-ab.ts — `npm run bench:ab -- --strategy NAME`: does one step strategy pay on this machine?
 *
 * An interleaved A/B of the bench workload (bench-common.ts workloadConfig, as bench.ts runs it):
 * A with the strategy on (TrainOptions.strategies[NAME] = true), B with it off; or, with --set
 * key=value, B with that config override (e.g. --set shareTail=false) and A without it. --common
 * key=value applies to both. Rounds of [A, B], the order alternating each round (A first in odd
 * rounds), each row a fresh process (bench-row.ts), native kernels and 2 threads by default.
 * Per round: each row's samples/s (median epoch) and median step, and the off/on ratio (B/A samples/s);
 * then the verdict by bench-ab-rule.ts: with 3 rounds or more, keep when every round's ratio is below 1
 * or the median gain exceeds the half-spread, drop in the mirror case, else no gain shown.
 * A switch never changes the bits: the run ends by saying whether A and B ended with the same paramsSha256.
 * Timings are printed, never asserted.
 */

import { benchArgs, findData, machineHeader, median, parseSet } from './bench-common';
import { verdictLine } from './bench-ab-rule';
import { rowRun, STRATEGY_NAMES, type Row, type RowSpec, type StrategySwitches } from './bench-row';

const USAGE = `usage: npm run bench:ab -- (--strategy NAME | --set key=value ...) [--rounds 5] [--threads 2] [--epochs 3 | --steps N]
                         [--batch 128] [--micro-batch 64] [--kernels native] [--common key=value ...]
NAME: ${STRATEGY_NAMES.join(', ')} (A: on, B: off); --set: B's config override (e.g. shareTail=false); --common: both`;

function fail(msg: string): never {
  process.stderr.write(`bench-ab: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function positive(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a whole number ≥ 1, got "${text}"`);
  return n;
}

const describe = (r: Row): string =>
  `${Math.round(r.sps).toString().padStart(7)} samples/s, median step ${r.medianStepMs.toFixed(3)} ms [${r.steps} steps, sha ${r.sha.slice(0, 16)}]`;

async function main(): Promise<void> {
  const v = benchArgs('bench-ab', USAGE, {
    strategy: { type: 'string' },
    set: { type: 'string', multiple: true, default: [] },
    common: { type: 'string', multiple: true, default: [] },
    rounds: { type: 'string', default: '5' },
    threads: { type: 'string', default: '2' },
    epochs: { type: 'string', default: '3' },
    steps: { type: 'string' },
    batch: { type: 'string', default: '128' },
    'micro-batch': { type: 'string', default: '64' },
    kernels: { type: 'string', default: 'native' },
  });
  const name = v.strategy as keyof StrategySwitches | undefined;
  if (name !== undefined && !STRATEGY_NAMES.includes(name)) fail(`unknown strategy "${name}"`);
  if (name === undefined && v.set!.length === 0) fail('name a --strategy or give B a --set');
  for (const s of [...v.set!, ...v.common!]) {
    try {
      parseSet(s);
    } catch (e) {
      fail((e as Error).message);
    }
  }
  const rounds = positive('rounds', v.rounds);
  const dir = findData();
  if (!dir) {
    process.stderr.write(
      'bench-ab: Fashion-MNIST not found.\nhint: apt-get install dataset-fashion-mnist, or set GRADSYNC_DATA_DIR to a folder holding the four IDX files\n',
    );
    process.exit(1);
  }
  const base: RowSpec = {
    kernels: v.kernels!,
    threads: positive('threads', v.threads),
    batch: positive('batch', v.batch),
    microBatch: positive('micro-batch', v['micro-batch']),
    epochs: positive('epochs', v.epochs),
    steps: v.steps === undefined ? undefined : positive('steps', v.steps),
  };
  const a: RowSpec = { ...base, ...(name ? { strategies: { [name]: true } } : {}), sets: v.common! };
  const b: RowSpec = { ...base, ...(name ? { strategies: { [name]: false } } : {}), sets: [...v.common!, ...v.set!] };
  const label = [name, ...v.set!].filter((x) => x !== undefined).join(' + ');
  const sideA = name ? `${name} on` : 'the config as is';
  const sideB = [name ? `${name} off` : '', ...v.set!].filter((x) => x !== '').join(', ');
  process.stdout.write(
    `gradsync bench:ab — ${label}: A = ${sideA}, B = ${sideB}${v.common!.length ? `; both: ${v.common!.join(', ')}` : ''}\n`,
  );
  process.stdout.write(
    `workload: Fashion-MNIST (${dir}), MLP 784-256-128-10, batch ${base.batch}, micro-batch ${base.microBatch}, float32, ` +
      `${base.steps ? `${base.steps} steps` : `${base.epochs} epochs`}; ${base.kernels} kernels, ${base.threads} threads; ${rounds} round${rounds > 1 ? 's' : ''}, each row a fresh process\n`,
  );
  process.stdout.write(`${machineHeader()}\n`);
  const ratios: number[] = [];
  const byStep: number[] = [];
  const shas = new Set<string>();
  for (let round = 1; round <= rounds; round++) {
    const aFirst = round % 2 === 1;
    const got: Partial<Record<'A' | 'B', Row>> = {};
    for (const side of (aFirst ? ['A', 'B'] : ['B', 'A']) as ('A' | 'B')[]) {
      const r = await rowRun(side === 'A' ? a : b);
      got[side] = r;
      shas.add(r.sha);
      process.stdout.write(`round ${round} ${side} ${r.kernel.padEnd(14)} ${r.name.padEnd(22)} ${describe(r)}\n`);
    }
    const ra = got.A!;
    const rb = got.B!;
    if (!ra.kernel.startsWith(base.kernels)) process.stdout.write(`  note: asked for ${base.kernels} kernels, ran ${ra.kernel}\n`);
    ratios.push(rb.sps / ra.sps);
    byStep.push(ra.medianStepMs / rb.medianStepMs);
    process.stdout.write(
      `round ${round} (${aFirst ? 'A' : 'B'} first): off/on ${ratios[round - 1]!.toFixed(3)}x by samples/s, ${byStep[round - 1]!.toFixed(3)}x by median step\n`,
    );
  }
  process.stdout.write('\n');
  process.stdout.write(`${verdictLine(label, ratios)}\n`);
  process.stdout.write(
    `by median step (on's median step over off's): median ${median(byStep).toFixed(2)}x; rounds ${Math.min(...byStep).toFixed(2)}-${Math.max(...byStep).toFixed(2)}\n`,
  );
  const [sha] = shas;
  process.stdout.write(
    shas.size === 1
      ? `final weights: A and B the same in every round (paramsSha256 ${sha!.slice(0, 16)}…): yes\n`
      : `final weights: A and B the same in every round: NO (${[...shas].map((s) => s.slice(0, 16)).join(', ')}): the switch changed the bits\n`,
  );
  if (shas.size !== 1) process.exitCode = 1;
}

main().catch((e: unknown) => {
  process.stderr.write(`bench-ab: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
