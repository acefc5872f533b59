/**
 * bench-remote.ts — remote worker nodes on loopback against local threads.
 *
 *   node dist/scripts/bench-remote.js [--steps 100] [--batches 128,512] [--micro-batch 16] [--kernels auto]
 *
 * The bench workload (scripts/bench.ts: Fashion-MNIST, MLP 784-256-128-10 tanh/softmax-CE mean,
 * SGD 0.05, float32, Glorot-uniform) for a fixed number of steps per mix, at each batch size:
 *   - "2 threads":             the local pool with 2 threads;
 *   - "1 thread + 1 remote":   one local computing thread + one `gradsync worker --threads 1`
 *                              process joined over ws://127.0.0.1 (data from its cache after
 *                              the first run; the first run streams it). The local thread is a
 *                              pool thread (--local-threads 2: the main thread serves the wire
 *                              and computes nothing while the remote node takes part); with
 *                              --local-threads 1 it is the main thread, yielding between leaves.
 * Prints samples/s (median over steps after the first 10), the per-step time split, the
 * remote node's transfer time and bytes per step, and whether the final weights agree.
 * Timings are printed, never asserted.
 */

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { StepRecord } from '../src/observe/schema';
import { startCoordinator } from '../src/parallel/coordinator-server';
import { train } from '../src/train/loop';
import { benchArgs, findData, mean, median, recorder, workloadConfig } from './bench-common';

const USAGE = `usage: node dist/scripts/bench-remote.js [--steps 100] [--batches 128,512] [--micro-batch 16] [--kernels auto]
                                          [--local-threads 2] [--worker-threads 1] [--no-pin]`;

async function main(): Promise<void> {
  const values = benchArgs('bench-remote', USAGE, {
    steps: { type: 'string', default: '100' },
    batches: { type: 'string', default: '128,512' },
    'micro-batch': { type: 'string', default: '16' },
    kernels: { type: 'string', default: 'auto' },
    /** The coordinator's --threads in the remote mix (1: its main thread computes; 2: a pool thread does, main serves the wire). */
    'local-threads': { type: 'string', default: '2' },
    /** --threads of the worker process (0: its main thread computes). */
    'worker-threads': { type: 'string', default: '1' },
    /** The coordinator's compute threads float instead of being pinned to CPUs of their own (config pinThreads). */
    'no-pin': { type: 'boolean', default: false },
  });
  const dir = findData();
  if (!dir) {
    process.stderr.write('bench-remote: Fashion-MNIST not found (apt-get install dataset-fashion-mnist, or GRADSYNC_DATA_DIR)\n');
    process.exit(1);
  }
  const steps = Number(values.steps);
  const mb = Number(values['micro-batch']);
  const kernels = values.kernels as 'auto';
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-bench-cache-'));
  const root = path.resolve(__dirname, '..', '..');
  process.stdout.write(
    `gradsync bench-remote — Fashion-MNIST MLP 784-256-128-10, float32, ${steps} steps per run (first 10 not timed), micro-batch ${mb}, kernels ${kernels}\n`,
  );
  process.stdout.write(
    `machine: ${os.cpus()[0]?.model ?? '?'} × ${os.availableParallelism()}, node ${process.version}; remote = a worker process on ws://127.0.0.1\n\n`,
  );
  process.stdout.write(
    `${'mix'.padEnd(22)}${'batch'.padStart(6)}${'samples/s'.padStart(11)}${'step ms'.padStart(9)}${'compute'.padStart(9)}${'hand-off'.padStart(9)}${'reduce'.padStart(8)}${'update'.padStart(8)}` +
      `${'remote: leaves'.padStart(16)}${'own ms'.padStart(8)}${'wire ms'.padStart(9)}${'MB out'.padStart(8)}${'MB in'.padStart(7)}  sha\n`,
  );
  for (const batch of values.batches!.split(',').map(Number)) {
    const results: { name: string; sps: number }[] = [];
    for (const mix of ['2 threads', '1 thread + 1 remote'] as const) {
      const remote = mix !== '2 threads';
      const cfg = {
        ...workloadConfig(dir, { batch, microBatch: mb, steps, threads: remote ? Number(values['local-threads']) : 2 }),
        pinThreads: !values['no-pin'],
      };
      const { logger, steps: recs } = recorder('bench-remote');
      const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-bench-'));
      let child: ReturnType<typeof spawn> | null = null;
      const s = await train(cfg, {
        logger,
        runDir,
        kernels,
        processControl: true,
        ...(remote
          ? {
              joinable: async (ctx) => {
                const c = await startCoordinator({
                  host: '127.0.0.1',
                  port: 0,
                  run: ctx.run,
                  spec: ctx.spec,
                  microBatch: ctx.microBatch,
                  data: ctx.data,
                  logger: ctx.logger,
                });
                child = spawn(
                  process.execPath,
                  [
                    path.join(root, 'bin', 'gradsync.js'),
                    'worker',
                    '--join',
                    c.url,
                    '--threads',
                    values['worker-threads']!,
                    '--kernels',
                    kernels,
                    '--data-dir',
                    cache,
                    '--id',
                    'bench',
                  ],
                  { stdio: 'ignore' },
                );
                await c.waitForWorkers(1, 300_000);
                return c;
              },
            }
          : {}),
      });
      fs.rmSync(runDir, { recursive: true, force: true });
      if (child) await new Promise((r) => (child as unknown as NodeJS.EventEmitter).once('exit', r));
      const timed = recs.slice(10);
      const sps = median(timed.map((r) => r.examples / (r.stepMs / 1000)));
      const avg = (f: (r: StepRecord) => number): number => mean(timed.map(f));
      const rem = timed.map((r) => r.executors.find((e) => e.kind === 'remote')).filter((e) => e !== undefined);
      const leaves = Math.ceil(batch / mb);
      const remCols = remote
        ? `${`${mean(rem.map((e) => e.leaves[1] - e.leaves[0])).toFixed(1)}/${leaves}`.padStart(16)}${mean(
            rem.map((e) => e.computeMs - (e.transferMs ?? 0)),
          )
            .toFixed(2)
            .padStart(8)}` +
          `${mean(rem.map((e) => e.transferMs ?? 0))
            .toFixed(2)
            .padStart(
              9,
            )}${(mean(rem.map((e) => e.bytesOut ?? 0)) / 1e6).toFixed(2).padStart(8)}${(mean(rem.map((e) => e.bytesIn ?? 0)) / 1e6).toFixed(2).padStart(7)}`
        : ''.padStart(48);
      process.stdout.write(
        `${mix.padEnd(22)}${String(batch).padStart(6)}${Math.round(sps).toString().padStart(11)}${avg((r) => r.stepMs)
          .toFixed(2)
          .padStart(9)}` +
          `${avg((r) => r.split?.computeMs ?? 0)
            .toFixed(2)
            .padStart(9)}${avg((r) => r.split?.handoffMs ?? 0)
            .toFixed(2)
            .padStart(9)}${avg((r) => r.split?.reduceMs ?? 0)
            .toFixed(2)
            .padStart(8)}${avg((r) => r.split?.updateMs ?? 0)
            .toFixed(2)
            .padStart(8)}` +
          `${remCols}  ${s.paramsSha256.slice(0, 12)}${rem.some((e) => e.failed) ? ' (remote failures!)' : ''}\n`,
      );
      results.push({ name: mix, sps });
    }
    process.stdout.write(`  batch ${batch}: remote mix / 2 threads = ${(results[1]!.sps / results[0]!.sps).toFixed(2)}×\n`);
  }
  fs.rmSync(cache, { recursive: true, force: true });
  process.stdout.write(
    "\nremote: leaves = its mean share of the tree's leaves; own ms = its wall time minus wire time (the worker's compute);\n" +
      'wire ms = encode + send + receive + decode of its step frame and partials; MB out = weights + order slice per step, MB in = its partials.\n',
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`bench-remote: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
