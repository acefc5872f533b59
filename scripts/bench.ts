/**
 * bench.ts — `npm run bench`: throughput of the project's fixed benchmark workload.
 *
 * Workload (keep it fixed; every issue's figures refer to it): Fashion-MNIST, MLP
 * 784-256-128-10, tanh hidden, softmax cross-entropy averaged over the batch, SGD lr 0.05,
 * batch 128, float32, Glorot-uniform init, 3 epochs. Reports per kernel and executor mix:
 * samples/s (median epoch, wall clock from its first step's start to its last step's
 * record), test accuracy after the run, the 2/1 scaling ratio, and the per-step time split
 * (compute = gather wall time, of which hand-off = posting and waking; reduce, which holds a
 * shared tail; update; then writing the step's record, between the steps).
 * Then, when a python3 with torch is found, the same workload in PyTorch on 1 and 2 threads
 * in the same invocation (scripts/bench_torch_train.py, OPENBLAS_CORETYPE/L2_SIZE unset),
 * and the ratios; PyTorch's 1-thread run is part of each native round (below), its ratio taken
 * against that round's 1-thread row. The GEMM table per kernel is scripts/bench-kernels.ts (npm run bench runs both).
 * Flags: --epochs N, --steps N (cap, for a quick look), --threads LIST (default "1,2": compute
 * threads, the main thread included), --kernels LIST (default "native,wasm,ref"; ref is capped at
 * --ref-steps, it is ~60× slower), --batch N, --micro-batch N (default 64), --rounds N (default 5),
 * --no-torch.
 * Rounds: a shared VM's speed drifts by ±20 % over seconds (other tenants of the host), enough to
 * decide a ratio of two rows run a minute apart. So the native rows on 1 and 2 threads, and
 * the ceiling below, are measured --rounds times, interleaved (1 thread, 2 threads, the pair of
 * 1-thread trainers, PyTorch on 1 thread; again), each ratio within its round, and the median
 * round printed. Five by default: of three rounds, one bad minute is enough to move the median.
 * Each row is one trainer in a fresh process (scripts/bench-row.ts), as a user's `gradsync train` is.
 * Every run starts with the machine (CPU, CPUs, Node, kernel ISA) and PyTorch's BLAS and oneDNN
 * (scripts/bench-blas.ts); a ratio against a PyTorch on the reference BLAS, or on one that cannot
 * be named, is refused with the reason, its samples/s still printed.
 * With native on 1 and 2 threads it also measures the machine's ceiling for any 2-thread mix:
 * two independent 1-thread trainers at once, in two processes, their samples/s summed against
 * one alone. No synchronisation at all, so nothing 2 threads share a step with can beat it;
 * the 2-thread row's share of that pair, round by round, is printed after it.
 * The fma kernel profile (docs/determinism.md#kernel-profiles): where the CPU has FMA, each native
 * round also runs the native FMA kernels (row kernels "native-fma") on the same thread counts,
 * right after the portable ones, and PyTorch's 1-thread ratio is taken against both rows of its
 * round; --no-fma leaves them out. The profiles end with different weights, each its own sha.
 * Timings are printed, never asserted: this is where speed lives.
 */

import { spawnSync } from 'node:child_process';
import { benchArgs, blasLine, findData, machineHeader, median, pyScript, torchPeer } from './bench-common';
import { judgeBlas, type BlasVerdict, type TorchBlasProbe } from './bench-blas';
import { rowRun, type Row, type RowSpec } from './bench-row';
import { nativeIsas } from '../src/tensor/fast/native';

const USAGE = `usage: node dist/scripts/bench.js [--epochs 3] [--steps N] [--threads 1,2] [--kernels native,wasm,ref]
                                   [--ref-steps 150] [--batch 128] [--micro-batch 64] [--rounds 5] [--no-torch] [--no-ceiling] [--no-fma]
(npm run bench runs this, then bench-kernels, bench-xcore and bench-dataflow; docs/performance.md says what each figure is)`;

/** PyTorch on the same workload (with the verdict on the BLAS it ran on), or why it was not measured. */
function torchRun(
  dir: string,
  threads: number,
  epochs: number,
  steps: number | undefined,
): { rates: number[]; accuracy: number; version: string; blas: BlasVerdict } | string {
  const t = torchPeer();
  if (typeof t === 'string') return t;
  const args = [
    pyScript('bench_torch_train.py'),
    dir,
    '--epochs',
    String(epochs),
    '--threads',
    String(threads),
    ...(steps ? ['--steps', String(steps)] : []),
  ];
  const r = spawnSync(t.py, args, { encoding: 'utf8', env: t.env });
  if (r.status !== 0) return `bench_torch_train.py failed: ${(r.stderr || '').trim().split('\n').pop()}`;
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { epochs: number[]; accuracy: number; torch: string; blas: TorchBlasProbe };
  return { rates: out.epochs, accuracy: out.accuracy, version: out.torch, blas: judgeBlas(out.blas) };
}

/** The row of median samples/s (the lower middle of an even count), or undefined for none. */
function medianRow(rs: Row[]): Row | undefined {
  return [...rs].sort((a, b) => a.sps - b.sps)[(rs.length - 1) >> 1];
}

async function main(): Promise<void> {
  const values = benchArgs('bench', USAGE, {
    epochs: { type: 'string', default: '3' },
    steps: { type: 'string' },
    threads: { type: 'string', default: '1,2' },
    kernels: { type: 'string', default: 'native,wasm,ref' },
    'ref-steps': { type: 'string', default: '150' },
    batch: { type: 'string', default: '128' },
    'micro-batch': { type: 'string', default: '64' },
    'no-torch': { type: 'boolean', default: false },
    'no-ceiling': { type: 'boolean', default: false },
    'no-fma': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '5' },
  });
  const dir = findData();
  if (!dir) {
    process.stderr.write(
      'bench: Fashion-MNIST not found.\nhint: apt-get install dataset-fashion-mnist (dpkg -L dataset-fashion-mnist shows where), or set GRADSYNC_DATA_DIR to a folder holding the four IDX files\n',
    );
    process.exit(1);
  }
  const batch = Number(values.batch);
  const epochs = Number(values.epochs);
  const microBatch = Number(values['micro-batch']);
  const steps = values.steps ? Number(values.steps) : undefined;
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) {
    process.stderr.write(`bench: --rounds must be a whole number ≥ 1, got "${values.rounds}"\n${USAGE}\n`);
    process.exit(2);
  }
  // ref is capped at --ref-steps: it is ~60× slower
  const spec = (want: string, threads: number): RowSpec => ({
    kernels: want,
    threads,
    batch,
    microBatch,
    epochs,
    steps: want === 'ref' ? Number(values['ref-steps']) : steps,
  });
  process.stdout.write(
    `gradsync bench — Fashion-MNIST (${dir}), MLP 784-256-128-10 tanh/softmax-CE mean, SGD 0.05, batch ${batch}, micro-batch ${values['micro-batch']}, float32, ${values.steps ? `${values.steps} steps` : `${epochs} epochs`}\n`,
  );
  process.stdout.write(`${machineHeader(values['no-torch'] ? undefined : torchPeer())}\n`);
  const rows: Row[] = [];
  const threadList = values.threads!.split(',').map(Number);
  /** The ceiling's rounds: two independent 1-thread native trainers at once, against that round's 1-thread row. */
  const ceilings: { pair: number[]; one: Row }[] = [];
  /** PyTorch on 1 thread in each native round (its samples/s against that round's 1-thread row), or why not. */
  const torchRounds: { sps: number; accuracy: number; version: string; blas: BlasVerdict; one: Row; oneFma: Row | undefined }[] = [];
  const withFma = !values['no-fma'] && nativeIsas('fma').length > 0;
  let torchMissing: string | null = values['no-torch'] ? 'not asked for (--no-torch)' : null;
  for (const want of values.kernels!.split(',')) {
    // native on 1 and 2 threads: interleaved rounds (see the header)
    const both = threadList.some((t) => t <= 1) && threadList.includes(2);
    const roundsHere = want === 'native' && both ? rounds : 1;
    let available = true;
    // the native round's rows: the portable profile's, then (where the CPU has FMA) the fma profile's
    const kinds = want === 'native' && withFma ? ['native', 'native-fma'] : [want];
    for (let round = 1; round <= roundsHere && available; round++) {
      for (const [kind, t] of kinds.flatMap((k) => threadList.map((t) => [k, t] as const))) {
        if (kind === 'native-fma' && !available) break;
        const r = await rowRun(spec(kind, t));
        if (kind === 'native-fma' ? !/^native-.*-fma$/.test(r.kernel) : !r.kernel.startsWith(want === 'native' ? 'native' : want)) {
          process.stdout.write(`${want}: not available here (ran ${r.kernel}); skipped\n`);
          available = false;
          break;
        }
        if (roundsHere > 1) r.round = round;
        rows.push(r);
        const split = r.split;
        process.stdout.write(
          `${r.kernel.padEnd(17)} ${r.name.padEnd(18)}${roundsHere > 1 ? ` round ${round}` : ''} ${Math.round(r.sps).toString().padStart(7)} samples/s  test acc ${r.acc === null ? '-' : r.acc.toFixed(4)}  ` +
            `step ${split.stepMs.toFixed(2)} ms = compute ${split.computeMs.toFixed(2)} (hand-off ${split.handoffMs.toFixed(3)}) ` +
            `+ reduce ${split.reduceMs.toFixed(3)}${split.sharedSteps > 0 ? ` (tail shared in ${split.sharedSteps} steps)` : ''} + update ${split.updateMs.toFixed(3)}; ` +
            `then record ${split.recordMs.toFixed(3)}; ` +
            `median step ${r.medianStepMs.toFixed(3)} ms  [${r.steps} steps, sha ${r.sha.slice(0, 12)}]\n`,
        );
      }
      const one = rows.find((r) => r.kernels === 'native' && r.threads <= 1 && r.round === (roundsHere > 1 ? round : undefined));
      if (available && want === 'native' && both && one !== undefined && !values['no-ceiling']) {
        const pair = (await Promise.all([0, 1].map(() => rowRun(spec('native', 1))))).map((r) => r.sps);
        ceilings.push({ pair, one });
        process.stdout.write(
          `${''.padEnd(17)} ceiling${roundsHere > 1 ? `, round ${round}` : ''}: two 1-thread trainers at once ${Math.round(pair[0]!)} + ${Math.round(pair[1]!)} = ${Math.round(pair[0]! + pair[1]!)} samples/s\n`,
        );
      }
      // PyTorch on 1 thread in the same round: this VM's speed drifts too much for a figure taken minutes later
      if (available && want === 'native' && one !== undefined && torchMissing === null) {
        const t = torchRun(dir, 1, epochs, steps);
        if (typeof t === 'string') torchMissing = t;
        else {
          const oneFma = rows.find((r) => r.kernels === 'native-fma' && r.threads <= 1 && r.round === one.round);
          torchRounds.push({ sps: median(t.rates), accuracy: t.accuracy, version: t.version, blas: t.blas, one, oneFma });
          process.stdout.write(
            `${''.padEnd(17)} PyTorch ${t.version}, 1 thread${roundsHere > 1 ? `, round ${round}` : ''}: ${Math.round(median(t.rates))} samples/s  [BLAS ${t.blas.blas}]\n`,
          );
        }
      }
    }
  }
  process.stdout.write('\n');
  const fmt = (xs: number[]): string => xs.map((x) => `${x.toFixed(2)}×`).join(', ');
  for (const kern of [...new Set(rows.map((r) => r.kernels))]) {
    const mine = rows.filter((r) => r.kernels === kern);
    const ones = mine.filter((r) => r.threads <= 1);
    const ratios: number[] = [];
    const byStep: number[] = [];
    for (const one of ones) {
      const two = mine.find((r) => r.threads === 2 && r.round === one.round);
      if (two === undefined) continue;
      ratios.push(two.sps / one.sps);
      byStep.push(one.medianStepMs / two.medianStepMs);
    }
    if (ratios.length === 0) continue;
    const many = ratios.length > 1;
    const med = (xs: number[]): string => (many ? `; median ${median(xs).toFixed(2)}×` : '');
    process.stdout.write(
      `${ones[0]!.kernel}: 2 threads / 1 thread (${ones[0]!.name})${many ? `, ${ratios.length} interleaved rounds` : ''}: ${fmt(ratios)}${med(ratios)} ` +
        `(by median step: ${fmt(byStep)}${med(byStep)})\n`,
    );
  }
  const bySteps = new Map<string, Set<string>>();
  for (const r of rows) {
    const key = r.kernels === 'ref' ? 'ref (capped)' : r.kernels === 'native-fma' ? 'full runs, fma profile' : 'full runs';
    bySteps.set(key, (bySteps.get(key) ?? new Set()).add(r.sha));
  }
  for (const [key, shas] of bySteps)
    process.stdout.write(`final weights identical across kernels and mixes, ${key}: ${shas.size === 1 ? 'yes' : 'NO'}\n`);
  if (ceilings.length > 0) {
    const c = ceilings.map((x) => (x.pair[0]! + x.pair[1]!) / x.one.sps);
    process.stdout.write(
      `ceiling of any 2-thread mix here: two independent 1-thread ${ceilings[0]!.one.kernel} trainers at once (two processes, no synchronisation), ` +
        `their samples/s summed against the same round's 1-thread row: ${fmt(c)}${c.length > 1 ? `; median ${median(c).toFixed(2)}×` : ''}\n`,
    );
    // how much of the pair's throughput the one 2-thread process reached in the same round: what the
    // synchronised step costs on this machine at that moment (the ratio above moves with the host)
    const share: number[] = [];
    for (const x of ceilings) {
      const two = rows.find((r) => r.kernels === 'native' && r.threads === 2 && r.round === x.one.round);
      if (two !== undefined) share.push(two.sps / (x.pair[0]! + x.pair[1]!));
    }
    if (share.length > 0) {
      process.stdout.write(
        `2 threads in one process against that pair, same round: ${share.map((x) => x.toFixed(2)).join(', ')}${share.length > 1 ? `; median ${median(share).toFixed(2)}` : ''}\n`,
      );
    }
  }
  process.stdout.write('encode: none for the pool (shared memory: weights, data and partial slots; no message per step)\n');
  if (values['no-torch']) return;
  process.stdout.write('\nPyTorch, same workload and data, same invocation (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset):\n');
  if (torchRounds.length > 0) {
    const r = torchRounds.map((t) => t.one.sps / t.sps);
    const t = torchRounds[0]!;
    // a ratio stands only when every round's PyTorch ran on an optimised BLAS (bench-blas.ts)
    const refused = torchRounds.find((x) => x.blas.verdict === 'refused')?.blas;
    process.stdout.write(
      `pytorch ${t.version} 1 thread, ${torchRounds.length === 1 ? 'in the native round' : `in each of ${torchRounds.length} native rounds`}: ` +
        `${torchRounds.map((x) => Math.round(x.sps)).join(', ')} samples/s, test acc ${t.accuracy.toFixed(4)}; gradsync ${t.one.kernel} 1 thread in the same round${torchRounds.length > 1 ? 's' : ''}: ` +
        `${torchRounds.map((x) => Math.round(x.one.sps)).join(', ')}` +
        (refused ? `; no ratio: ${refused.reason}` : ` = ${fmt(r)} PyTorch${r.length > 1 ? `; median ${median(r).toFixed(2)}×` : ''}`) +
        '\n',
    );
    const fmaRounds = torchRounds.filter((x) => x.oneFma !== undefined);
    if (fmaRounds.length > 0) {
      const rf = fmaRounds.map((x) => x.oneFma!.sps / x.sps);
      process.stdout.write(
        `  fma profile: gradsync ${fmaRounds[0]!.oneFma!.kernel} 1 thread in the same round${fmaRounds.length > 1 ? 's' : ''}: ` +
          `${fmaRounds.map((x) => Math.round(x.oneFma!.sps)).join(', ')}` +
          (refused ? '' : ` = ${fmt(rf)} PyTorch${rf.length > 1 ? `; median ${median(rf).toFixed(2)}×` : ''}`) +
          '\n',
      );
    }
    process.stdout.write(`  its ${blasLine(t.blas)}\n`);
  }
  // per kernel its median round (one round: its row), then the fastest kernel
  const best = (threads: (t: number) => boolean): Row | undefined =>
    [...new Set(rows.map((r) => r.kernels))]
      .filter((k) => k !== 'ref')
      .map((k) => medianRow(rows.filter((r) => r.kernels === k && threads(r.threads))))
      .filter((r): r is Row => r !== undefined)
      .sort((a, b) => b.sps - a.sps)[0];
  const best1 = best((t) => t <= 1);
  const best2 = best((t) => t === 2);
  // 1 thread: measured in the rounds above when there were any
  for (const [threads, ours] of (torchRounds.length > 0
    ? [[2, best2]]
    : [
        [1, best1],
        [2, best2],
      ]) as [number, Row | undefined][]) {
    const t = torchRun(dir, threads, epochs, steps);
    if (typeof t === 'string') {
      process.stdout.write(`  not measured: ${t}\n`);
      return;
    }
    const sps = median(t.rates);
    const ratio = (o: Row): string =>
      t.blas.verdict === 'accepted' ? `= ${(o.sps / sps).toFixed(2)}× PyTorch` : `(no ratio: ${t.blas.reason})`;
    process.stdout.write(
      `pytorch ${t.version} ${threads} thread${threads > 1 ? 's' : ''}  ${Math.round(sps).toString().padStart(7)} samples/s  test acc ${t.accuracy.toFixed(4)}  [BLAS ${t.blas.blas}]` +
        (ours ? `   gradsync ${ours.kernel} ${ours.name}: ${Math.round(ours.sps)} samples/s ${ratio(ours)}` : '') +
        '\n',
    );
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
