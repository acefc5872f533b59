/**
 * A pool thread's tail task left unclaimed while the step's executor set changes (b73b452):
 * the thread that helped with step s's tail is asleep when it is posted (the 'stall' fault
 * holds it 200 ms before it claims the task), and from step s + 1 on it has no share of the
 * work (a set without it: what 3 threads and 2 leaves give the one the planner leaves out).
 * Each step must settle every pool thread's last tail before its own tail resets the shared
 * counters: the stale task is withdrawn at step s + 1, whoever computes, so the thread, when it
 * wakes, takes no unit of a later tail with step s's operands. Driven through Stepper directly
 * (train() puts every pool thread in every step's set), on real piscina threads.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadConfigFile } from '../../src/config/load';
import type { RunConfig } from '../../src/config';
import { batchRange, epochOrder, stepsPerEpoch } from '../../src/data/batching';
import { layoutOf, newParams, paramsSha256 } from '../../src/model/params';
import { initialParams } from '../../src/train/init-weights';
import { newOptimizerState } from '../../src/optim/optimizer';
import type { Executor } from '../../src/parallel/executor';
import { MainExecutor } from '../../src/parallel/main-executor';
import { ThreadPool } from '../../src/parallel/thread-pool';
import type { PoolExecutor } from '../../src/parallel/pool-executor';
import { selectKernels } from '../../src/tensor/select';
import { layerGeometryOf, loadRunData, modelSpecOf, paramTensorsOf } from '../../src/train/setup';
import { Stepper, type StepResult } from '../../src/train/step';
import { STALL_MS, withPoolFault } from '../fixtures/faults';
import { repoRoot } from '../helpers/paths';

/** The step the helper thread stalls on its tail (with a pool thread and no clipping, every step shares its tail). */
const STALL_STEP = 20;
/** Fewest steps of the pooled run; it goes on until the stalled thread has been awake for a while. */
const MIN_STEPS = 200;

interface Run {
  sha: string;
  results: StepResult[];
  withdrawnAt: number[];
}

/**
 * Steps of `cfg` through one Stepper: with a pool, thread-1 and the main thread compute up to
 * STALL_STEP, then thread-2 and the main thread (thread-1 has no share), at least MIN_STEPS
 * steps and until 3 × STALL_MS after the stall began (the thread wakes while later steps run
 * their tails); without, the main thread alone, `steps` steps.
 */
async function drive(cfg: RunConfig, withPool: boolean, steps = MIN_STEPS): Promise<Run> {
  const data = loadRunData(cfg, true);
  const trainSet = data.train;
  const spec = modelSpecOf(cfg, trainSet.inputs, trainSet.outputs);
  const layout = layoutOf(spec);
  const { kernels } = selectKernels(spec.dtype, 'ref');
  const params = newParams(spec, layout, true);
  initialParams(cfg, spec, layout, params);
  const opt = newOptimizerState(cfg.optimizer, spec.dtype, layout.size, true);
  const geometry = layerGeometryOf(spec, layout);
  const microBatch = cfg.microBatch;
  const pool = withPool
    ? withPoolFault(
        { executor: 1, step: STALL_STEP, mode: 'stall', phase: 'tail' },
        () =>
          new ThreadPool({
            cpus: null,
            threads: 2,
            spec,
            kernels: 'ref',
            microBatch,
            x: trainSet.x,
            y: trainSet.y,
            spin: false,
            tail: { tensors: paramTensorsOf(layout), optimizer: cfg.optimizer, state: opt.buffers },
          }),
      )
    : null;
  const main = new MainExecutor(spec, kernels, trainSet, microBatch, pool?.mainSlots);
  const [t1, t2] = (pool?.executors ?? []) as PoolExecutor[];
  let step = 0;
  const set = (): readonly Executor[] => (pool === null ? [main] : step <= STALL_STEP ? [t1!, main] : [t2!, main]);
  const stepper = new Stepper(
    {
      reduction: cfg.reduction,
      weightDecay: cfg.weightDecay,
      clipNorm: cfg.clipNorm,
      optimizer: cfg.optimizer,
      nonFinite: cfg.nonFinite,
      layers: geometry,
      strategies: { stragglers: false },
    },
    set,
    main,
    opt,
    layout.size,
    params,
    kernels,
    pool,
  );
  const batch = cfg.batch as number;
  const perEpoch = stepsPerEpoch(trainSet.n, batch);
  const results: StepResult[] = [];
  const withdrawnAt: number[] = [];
  let stalled = Infinity;
  let order = new Uint32Array(0);
  try {
    for (step = 1; step <= steps || (withPool && performance.now() - stalled < 3 * STALL_MS); step++) {
      const epoch = Math.floor((step - 1) / perEpoch);
      if ((step - 1) % perEpoch === 0) order = epochOrder(trainSet.n, cfg.seed, epoch, cfg.data.shuffle);
      const { start, end } = batchRange(trainSet.n, batch, (step - 1) % perEpoch);
      const before = t1?.withdrawnTails ?? 0;
      results.push(await stepper.run({ step, epoch, params, batch: { step, order, start, end, microBatch } }));
      if (step === STALL_STEP) stalled = performance.now();
      if (t1 !== undefined && t1.withdrawnTails > before) withdrawnAt.push(step);
    }
  } finally {
    await pool?.close();
  }
  return { sha: paramsSha256(params), results, withdrawnAt };
}

describe('a pool thread with a stale tail task and no share of the next step (integration)', function () {
  this.timeout(120_000);
  // the digits default, float32 (rounding order matters most), SGD: the shared tail's fused pass
  const cfg = (): RunConfig => ({
    ...loadConfigFile(path.join(repoRoot(), 'config', 'default.json')),
    dtype: 'float32',
    batch: 64,
    microBatch: 8,
    optimizer: { kind: 'sgd', lr: 0.1 },
    weightDecay: 1e-4,
    shareTail: true,
    clipNorm: null,
  });

  it('has the stale task withdrawn at the next step, and ends with the weights of the main thread alone', async () => {
    const pooled = await drive(cfg(), true);
    const reference = await drive(cfg(), false, pooled.results.length);
    // (a sleeping thread's tail is withdrawn now and then before: it woke after the main thread had done every unit)
    assert.ok(
      pooled.withdrawnAt.includes(STALL_STEP + 1),
      `thread-1's tail of step ${STALL_STEP} is withdrawn at step ${STALL_STEP + 1}, though it computes nothing from then on: ${JSON.stringify(pooled.withdrawnAt)}`,
    );
    assert.ok(
      pooled.withdrawnAt.every((s) => s <= STALL_STEP + 1),
      'none after: thread-1 has no tail task again',
    );
    const shared = pooled.results.filter((r) => r.split.tailShared === true).length;
    assert.ok(
      pooled.results[STALL_STEP - 1]!.split.tailShared === true && shared > STALL_STEP,
      `the tail was shared at step ${STALL_STEP} and after (${shared} steps)`,
    );
    assert.deepEqual(
      pooled.results[STALL_STEP]!.executors.map((e) => e.id),
      ['thread-2', 'main'],
    );
    // the same steps on the main thread alone: the same bits
    assert.equal(reference.results.length, pooled.results.length);
    assert.equal(pooled.sha, reference.sha);
  });
});
