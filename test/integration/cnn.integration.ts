/**
 * Issue 23: the bit-identical invariant for a convolutional network. config/digits-cnn.json
 * (conv, max-pool, conv, avg-pool, flatten, dropout, dense), float32, ends with the same
 * paramsSha256 on the main thread alone with the reference kernels, on 1, 2 and 3 threads, on
 * the native and WebAssembly kernels (and in the fma profile, native = reference), with 1 thread + 2 remote worker processes, with a remote
 * worker killed (SIGKILL) mid-run, and after kill -9 and --resume with another thread count.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfigFile } from '../../src/config/load';
import type { RunConfig } from '../../src/config';
import type { StepRecord } from '../../src/observe/schema';
import { startCoordinator, type Coordinator } from '../../src/parallel/coordinator-server';
import type { Executor } from '../../src/parallel/executor';
import { MainExecutor } from '../../src/parallel/main-executor';
import { nativeIsas } from '../../src/tensor/fast/native';
import { wasmLoadError } from '../../src/tensor/fast/wasm-module';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import { listCheckpoints, readCheckpoint } from '../../src/train/checkpoint';
import { train, type ExecutorContext } from '../../src/train/loop';
import { collectingLogger } from '../helpers/log-sink';
import { repoRoot, tempDir } from '../helpers/paths';
import { WorkerProcesses } from '../helpers/worker-process';

const BIN = path.join(repoRoot(), 'bin', 'gradsync.js');
const TOKEN = 'cnn-integration-token-7e2a';
const STEPS = 60;
const workers = new WorkerProcesses(TOKEN);
const children: ChildProcess[] = [];

function base(): RunConfig {
  return {
    ...loadConfigFile(path.join(repoRoot(), 'config', 'digits-cnn.json')),
    steps: STEPS,
    dtype: 'float32',
    batch: 64,
    microBatch: 8,
    duplicateStragglers: false,
  };
}

async function coordinator(ctx: ExecutorContext): Promise<Coordinator> {
  return startCoordinator({
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    run: ctx.run,
    spec: ctx.spec,
    microBatch: ctx.microBatch,
    data: ctx.data,
    logger: ctx.logger,
  });
}

const steps = (records: Record<string, unknown>[]): StepRecord[] => records.filter((r) => r.msg === 'step') as unknown as StepRecord[];

describe('convolutional network: the same bits on every executor (integration, issue 23)', function () {
  this.timeout(180_000);
  let reference = '';

  before(async () => {
    reference = (await train({ ...base(), threads: 1 }, { runDir: tempDir(), kernels: 'ref' })).paramsSha256;
    assert.match(reference, /^[0-9a-f]{64}$/);
  });
  after(() => {
    workers.killAll();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  for (const threads of [2, 3]) {
    it(`${threads} threads (the main thread and ${threads - 1} pool thread${threads > 2 ? 's' : ''}) end with the reference kernels' single-thread paramsSha256`, async () => {
      const { logger, records } = collectingLogger();
      const s = await train({ ...base(), threads }, { runDir: tempDir(), logger, kernels: 'ref' });
      assert.equal(s.paramsSha256, reference);
      const ex = steps(records)[10]!.executors;
      assert.equal(ex.filter((e) => e.examples > 0).length, threads, JSON.stringify(ex));
    });
  }

  for (const kernels of ['native', 'wasm'] as const) {
    for (const threads of [1, 3]) {
      it(`${kernels} kernels on ${threads} thread${threads > 1 ? 's' : ''}: the same paramsSha256`, async function () {
        if (kernels === 'native' && nativeIsas().length === 0) this.skip();
        if (kernels === 'wasm' && wasmLoadError() !== null) this.skip();
        const s = await train({ ...base(), threads }, { runDir: tempDir(), kernels });
        assert.match(s.kernel, kernels === 'native' ? /^native-/ : /^wasm-/);
        assert.equal(s.paramsSha256, reference);
      });
    }
  }

  it("the fma kernel profile: the native FMA kernels on 2 threads end with the reference fma kernels' paramsSha256 (another one than portable)", async function () {
    const fma = { ...base(), kernelProfile: 'fma' as const };
    let native;
    try {
      native = await train({ ...fma, threads: 2 }, { runDir: tempDir(), kernels: 'native' });
    } catch (e) {
      if ((e as { code?: string }).code === 'GS_ERR_KERNEL_PROFILE') this.skip();
      throw e;
    }
    const ref = await train({ ...fma, threads: 1 }, { runDir: tempDir(), kernels: 'ref' });
    assert.match(native.kernel, /-fma$/);
    assert.equal(native.paramsSha256, ref.paramsSha256);
    assert.notEqual(ref.paramsSha256, reference);
  });

  it('1 local thread + 2 remote worker processes: the same paramsSha256, the layer list travelling in the run message', async () => {
    const { logger, records } = collectingLogger();
    const s = await train(
      { ...base(), threads: 1 },
      {
        runDir: tempDir(),
        logger,
        joinable: async (ctx) => {
          const c = await coordinator(ctx);
          workers.spawn(c.url, 'c1');
          workers.spawn(c.url, 'c2');
          await workers.joined(c, 2);
          return c;
        },
      },
    );
    assert.equal(s.paramsSha256, reference);
    const remote = steps(records)[30]!.executors.filter((e) => e.kind === 'remote' && e.examples > 0);
    assert.ok(remote.length > 0, 'the remote workers computed at step 31');
  });

  it('a remote worker killed (SIGKILL) mid-run: its range recomputed, the same paramsSha256', async () => {
    const { logger, records } = collectingLogger();
    let victim: ChildProcess | null = null;
    const s = await train(
      { ...base(), threads: 0 },
      {
        runDir: tempDir(),
        logger,
        executors: async (ctx) => {
          const main = new MainExecutor(ctx.spec, referenceKernels('float32'), ctx.data, ctx.microBatch);
          const gate: Executor = {
            id: 'gate',
            kind: 'main',
            compute: async (task, nodes) => {
              if (task.step === 25) {
                victim!.kill('SIGKILL');
                await once(victim!, 'exit');
              }
              return main.computeSync(task, nodes);
            },
            recycle: (p) => main.recycle(p),
            close: () => Promise.resolve(),
          };
          return [gate];
        },
        joinable: async (ctx) => {
          const c = await coordinator(ctx);
          victim = workers.spawn(c.url, 'victim');
          workers.spawn(c.url, 'stay');
          await workers.joined(c, 2);
          return c;
        },
      },
    );
    assert.equal(s.paramsSha256, reference);
    assert.ok(!steps(records)[30]!.executors.some((e) => e.id === 'remote-victim'), 'the killed worker is gone');
  });

  it('kill -9 of the coordinator, then --resume RUN_DIR with another thread count: the same paramsSha256', async () => {
    const dir = tempDir();
    const cfgFile = path.join(dir, 'cnn.json');
    const raw = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'config', 'digits-cnn.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(
      cfgFile,
      JSON.stringify({ ...raw, steps: STEPS, dtype: 'float32', batch: 64, microBatch: 8, checkpoint: { every: 5, keep: 2 } }),
    );
    const runDir = path.join(dir, 'run');
    const log = path.join(runDir, 'log.ndjson');
    const first = spawn(process.execPath, [BIN, 'train', cfgFile, '--run-dir', runDir, '--threads', '1', '--no-progress', '--json'], {
      stdio: 'ignore',
    });
    children.push(first);
    const t0 = Date.now();
    const at = (): number => (fs.existsSync(log) ? (fs.readFileSync(log, 'utf8').match(/"msg":"step"/g) ?? []).length : 0);
    while (at() < 20 && first.exitCode === null) {
      if (Date.now() - t0 > 60_000) throw new Error('no step 20 within 60 s');
      await new Promise((r) => setTimeout(r, 2));
    }
    first.kill('SIGKILL');
    const [, signal] = (await once(first, 'exit')) as [number | null, NodeJS.Signals | null];
    // a run that reached its end before the signal proves nothing about resume
    assert.equal(signal, 'SIGKILL', 'killed before the end');
    const resumeStep = readCheckpoint(listCheckpoints(path.join(runDir, 'checkpoints'))[0]!).header.step;
    assert.ok(resumeStep > 0 && resumeStep < STEPS, `resumes from step ${resumeStep}`);
    const second = spawn(process.execPath, [BIN, 'train', cfgFile, '--resume', runDir, '--threads', '3', '--no-progress', '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(second);
    const out: string[] = [];
    const err: string[] = [];
    second.stdout!.on('data', (c: Buffer) => out.push(c.toString()));
    second.stderr!.on('data', (c: Buffer) => err.push(c.toString()));
    const [code] = (await once(second, 'exit')) as [number];
    assert.equal(code, 0, err.join(''));
    const summary = JSON.parse(out.join('')) as { paramsSha256: string; steps: number };
    assert.equal(summary.steps, STEPS);
    assert.equal(summary.paramsSha256, reference);
    assert.match(err.join(''), new RegExp(`resumed from .*at step ${resumeStep}`));
  });
});
