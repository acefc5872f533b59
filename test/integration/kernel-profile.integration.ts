/**
 * The `fma` kernel profile end to end: within the profile a run ends with the same
 * paramsSha256 on the reference (ref-ts-fma), on native FMA kernels on 1–3 threads and with a
 * remote worker process; across profiles the weights differ; a WebAssembly worker is refused
 * by an fma coordinator (close 4002, GS_ERR_KERNEL_PROFILE on both sides); resume refuses a
 * checkpoint of the other profile; the CLI refuses --kernels wasm with --kernel-profile fma.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import { loadConfigFile } from '../../src/config/load';
import { validate } from '../../src/config/validate';
import type { RunConfig } from '../../src/config';
import { GradsyncError } from '../../src/errors';
import { train, type ExecutorContext } from '../../src/train/loop';
import type { Coordinator } from '../../src/parallel/coordinator-server';
import { CLOSE } from '../../src/parallel/messages';
import { nativeIsas } from '../../src/tensor/fast/native';
import { collectingLogger } from '../helpers/log-sink';
import { coordinatorFor } from '../helpers/coordinator';
import { repoRoot, tempDir } from '../helpers/paths';
import { WorkerProcesses } from '../helpers/worker-process';

const TOKEN = 'profile-token-9b2e';
const BIN = path.join(repoRoot(), 'bin', 'gradsync.js');

describe('kernel profile fma (integration)', function () {
  this.timeout(180_000);
  const hasFma = nativeIsas('fma').length > 0;
  const base = (over: Partial<RunConfig> = {}): RunConfig => ({
    ...loadConfigFile(path.join(repoRoot(), 'config', 'default.json')),
    steps: 60,
    dtype: 'float32',
    batch: 64,
    microBatch: 8,
    duplicateStragglers: false,
    kernelProfile: 'fma',
    ...over,
  });
  let reference = '';
  const workers = new WorkerProcesses(TOKEN);
  after(() => workers.killAll());

  before(async () => {
    // the oracle: the TypeScript reference's emulated fma, main thread alone
    const s = await train({ ...base(), threads: 1 }, { runDir: tempDir(), kernels: 'ref' });
    assert.equal(s.kernel, 'ref-ts-fma');
    assert.equal(s.kernelProfile, 'fma');
    reference = s.paramsSha256;
  });

  it('native FMA kernels on 1, 2 and 3 threads end with the reference fma paramsSha256', async function () {
    if (!hasFma) this.skip();
    for (const threads of [1, 2, 3]) {
      const s = await train({ ...base(), threads }, { runDir: tempDir(), kernels: 'native' });
      assert.match(s.kernel, /^native-.*-fma$/);
      assert.equal(s.paramsSha256, reference, `${threads} threads`);
    }
  });

  it('the portable profile ends with other weights (each GEMM term rounded twice), the same on its own kernels', async () => {
    const p = await train({ ...base({ kernelProfile: 'portable' }), threads: 1 }, { runDir: tempDir(), kernels: 'ref' });
    assert.equal(p.kernelProfile, 'portable');
    assert.notEqual(p.paramsSha256, reference);
    const w = await train({ ...base({ kernelProfile: 'portable' }), threads: 2 }, { runDir: tempDir(), kernels: 'wasm' });
    assert.equal(w.paramsSha256, p.paramsSha256);
  });

  it('1 local thread + a remote worker process on fma kernels end with the reference paramsSha256', async function () {
    const kernels = hasFma ? 'native' : 'ref';
    const { logger, records } = collectingLogger();
    const s = await train(
      { ...base(), threads: 1 },
      {
        runDir: tempDir(),
        logger,
        kernels,
        joinable: async (ctx: ExecutorContext): Promise<Coordinator> => {
          const c = await coordinatorFor(ctx, { token: TOKEN, profile: ctx.cfg.kernelProfile });
          workers.spawn(c.url, 'f1', kernels);
          await workers.joined(c, 1);
          return c;
        },
      },
    );
    assert.equal(s.paramsSha256, reference);
    const start = records.find((r) => r.msg === 'start') as { kernelProfile: string };
    assert.equal(start.kernelProfile, 'fma');
    const computed = records
      .filter((r) => r.msg === 'step')
      .some((r) => (r as { executors: { id: string; examples: number }[] }).executors.some((e) => e.id === 'remote-f1' && e.examples > 0));
    assert.ok(computed, 'the remote worker computed a share');
  });

  it('a WebAssembly worker is refused by an fma coordinator: close 4002, GS_ERR_KERNEL_PROFILE logged and printed', async () => {
    const { logger, records } = collectingLogger();
    const s = await train(
      { ...base(), threads: 1 },
      {
        runDir: tempDir(),
        logger,
        kernels: 'ref',
        joinable: async (ctx: ExecutorContext): Promise<Coordinator> => {
          const c = await coordinatorFor(ctx, { token: TOKEN, profile: ctx.cfg.kernelProfile });
          const [code] = (await once(workers.spawn(c.url, 'wasm1', 'wasm'), 'exit')) as [number];
          assert.equal(code, 1);
          const printed = workers.output('wasm1');
          assert.match(printed, /GS_ERR_KERNEL_PROFILE/);
          assert.match(
            printed,
            /kernel profile "portable", this run's is "fma": WebAssembly kernels have no deterministic fused multiply-add/,
          );
          return c;
        },
      },
    );
    assert.equal(s.paramsSha256, reference, 'the run went on without it');
    const refused = records.find((r) => r.code === 'GS_ERR_KERNEL_PROFILE') as { closeCode?: number; msg: string } | undefined;
    assert.ok(refused, 'the coordinator logged the refusal');
    assert.equal(refused.closeCode ?? CLOSE.kernel, CLOSE.kernel);
  });

  it('resume refuses a checkpoint written in the other profile, naming both', async () => {
    const dir = tempDir();
    await train({ ...base({ kernelProfile: 'portable' }), steps: 10, threads: 1 }, { runDir: dir, kernels: 'ref' });
    await assert.rejects(
      train({ ...base(), steps: 20, threads: 1 }, { runDir: dir, kernels: 'ref', resumeFrom: dir }),
      (e: unknown) =>
        e instanceof GradsyncError &&
        e.code === 'GS_ERR_KERNEL_PROFILE' &&
        /written with kernel profile "portable", this run's is "fma"/.test(e.message) &&
        e.exitCode === 2,
    );
  });

  it('config kernelProfile is checked; the CLI refuses --kernels wasm with the fma profile (exit 2)', () => {
    assert.throws(
      () => validate({ kernelProfile: 'fused' }),
      (e: unknown) =>
        e instanceof GradsyncError && e.code === 'GS_ERR_CONFIG' && /kernelProfile/.test(e.message) && /fused/.test(e.message),
    );
    const r = spawnSync(
      process.execPath,
      [BIN, 'train', '--steps', '2', '--kernels', 'wasm', '--kernel-profile', 'fma', '--run-dir', tempDir()],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /GS_ERR_KERNEL_PROFILE/);
    assert.match(r.stderr, /WebAssembly has no deterministic fused multiply-add/);
  });
});
