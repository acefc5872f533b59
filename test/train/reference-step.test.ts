/**
 * The step's invariant as a property: whatever the settings, the executors (the main thread
 * alone, or with a pool of 1 or 2 threads), the strategy switches and each step's learning
 * rate, Stepper writes the same weight and optimizer-state bytes, loss and gradient norm as ReferenceStepper
 * (src/train/reference-step.ts), the plain sequential step, over 2–3 steps from the same start —
 * also when a pool thread stalls or throws (test/fixtures/faults.ts). float32 on the digits,
 * where the order of every addition shows in the bits.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { loadDigits } from '../../src/data/datasets';
import type { Dataset } from '../../src/data/dataset';
import { epochOrder } from '../../src/data/batching';
import { initParams, layoutOf, newParams } from '../../src/model/params';
import type { ModelSpec } from '../../src/model/spec';
import { newOptimizerState, type OptimizerSpec, type OptimizerState } from '../../src/optim/optimizer';
import type { Executor } from '../../src/parallel/executor';
import { MainExecutor } from '../../src/parallel/main-executor';
import { ThreadPool } from '../../src/parallel/thread-pool';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import { Rng } from '../../src/tensor/rng';
import { ReferenceStepper } from '../../src/train/reference-step';
import { layerGeometryOf, paramTensorsOf } from '../../src/train/setup';
import { Stepper, type StepSettings, type StrategySwitches } from '../../src/train/step';
import { PoolFault, type FaultSpec } from '../fixtures/faults';

const OPTIMIZERS: Record<OptimizerSpec['kind'], OptimizerSpec> = {
  sgd: { kind: 'sgd', lr: 0.1 },
  momentum: { kind: 'momentum', lr: 0.05, momentum: 0.9, nesterov: true },
  adam: { kind: 'adam', lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
};
const HIDDEN: number[][] = [[4], [6, 3]];
const MICRO = [3, 4];

const spec = (hidden: number[]): ModelSpec => ({
  inputs: 64,
  layers: [...hidden.map((units) => ({ units, activation: 'tanh' as const })), { units: 10, activation: 'softmax' as const }],
  loss: 'cross-entropy',
  dtype: 'float32',
});

const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

interface Case {
  hidden: number;
  micro: number;
  optimizer: OptimizerSpec['kind'];
  threads: 0 | 1 | 2;
  batch: number;
  start: number;
  steps: number;
  reduction: 'sum' | 'mean';
  weightDecay: number;
  clipNorm: number | null;
  strategies: StrategySwitches;
  seed: number;
  /** null: the optimizer's own lr; else step t runs at lr·factorᵗ, as a schedule gives each step its own. */
  lrFactor: number | null;
}

const bool = fc.boolean();
const arbCase: fc.Arbitrary<Case> = fc.record({
  hidden: fc.integer({ min: 0, max: HIDDEN.length - 1 }),
  micro: fc.integer({ min: 0, max: MICRO.length - 1 }),
  optimizer: fc.constantFrom('sgd', 'momentum', 'adam'),
  threads: fc.constantFrom(0, 1, 2),
  // 1 to 13 examples: a partial last leaf whenever the micro-batch does not divide it
  batch: fc.integer({ min: 1, max: 13 }),
  start: fc.integer({ min: 0, max: 1000 }),
  steps: fc.integer({ min: 2, max: 3 }),
  reduction: fc.constantFrom('sum', 'mean'),
  weightDecay: fc.constantFrom(0, 1e-3, 0.1),
  // 0.05 clips most steps, 1e3 none
  clipNorm: fc.constantFrom(null, 0.05, 1e3),
  strategies: fc.record({
    sharedTail: bool,
    withdraw: bool,
    stragglers: bool,
    fusedSgd: bool,
  }),
  seed: fc.integer({ min: 1, max: 1000 }),
  lrFactor: fc.constantFrom(null, 0.3, 1.7),
}) as fc.Arbitrary<Case>;

describe('Stepper against the reference step (property)', function () {
  this.timeout(60_000);
  let data: Dataset;
  /** One pool per (model, micro-batch, optimizer, threads), made when first needed, with its shared optimizer state. */
  const pools = new Map<string, { pool: ThreadPool; state: Float32Array[] }>();
  /** Steps that took each path: a property that held only on the plain path would prove little. */
  const seen = { tailShared: 0, clipped: 0, pool: 0, partialLeaf: 0, scheduledTail: 0, fusedSgd: 0 };
  /** Steps of the faulty pools where a thread's task was withdrawn, or its range recomputed after a failure. */
  const faults = { late: 0, failed: 0 };
  const faultRuns: PoolFault[] = [];

  before(() => {
    data = loadDigits({ dtype: 'float32', shared: true });
  });

  after(async () => {
    for (const { pool } of pools.values()) await pool.close();
  });

  const faultyPool = (c: Case, s: ModelSpec, fault: FaultSpec): { pool: ThreadPool; state: Float32Array[] } => {
    const layout = layoutOf(s);
    const state = newOptimizerState(OPTIMIZERS[c.optimizer], 'float32', layout.size, true).buffers as Float32Array[];
    const pf = new PoolFault(fault);
    faultRuns.push(pf);
    const pool = pf.run(
      () =>
        new ThreadPool({
          threads: 2,
          spec: s,
          kernels: 'ref',
          microBatch: MICRO[c.micro]!,
          x: data.x,
          y: data.y,
          spin: true,
          tail: { tensors: paramTensorsOf(layout), optimizer: OPTIMIZERS[c.optimizer], state },
        }),
    );
    return { pool, state };
  };

  const poolFor = (c: Case, s: ModelSpec): { pool: ThreadPool; state: Float32Array[] } => {
    const key = `${c.hidden}/${c.micro}/${c.optimizer}/${c.threads}`;
    let p = pools.get(key);
    if (p === undefined) {
      const layout = layoutOf(s);
      const state = newOptimizerState(OPTIMIZERS[c.optimizer], 'float32', layout.size, true).buffers as Float32Array[];
      const pool = new ThreadPool({
        threads: c.threads,
        spec: s,
        kernels: 'ref',
        microBatch: MICRO[c.micro]!,
        x: data.x,
        y: data.y,
        spin: false,
        tail: { tensors: paramTensorsOf(layout), optimizer: OPTIMIZERS[c.optimizer], state },
      });
      p = { pool, state };
      pools.set(key, p);
    }
    return p;
  };

  /** `fault`: the pool is a fresh one of its own whose threads spin (so a late task is withdrawn), with the fault installed. */
  async function check(c: Case, fault?: FaultSpec): Promise<void> {
    const s = spec(HIDDEN[c.hidden]!);
    const layout = layoutOf(s);
    const microBatch = MICRO[c.micro]!;
    const kernels = referenceKernels('float32');
    const settings: StepSettings = {
      reduction: c.reduction,
      weightDecay: c.weightDecay,
      clipNorm: c.clipNorm,
      optimizer: OPTIMIZERS[c.optimizer],
      nonFinite: 'skip',
      layers: layerGeometryOf(s, layout),
      strategies: c.strategies,
    };
    // the same start for both
    const params = newParams(s, layout, true) as Float32Array;
    initParams(layout, { scheme: 'glorot-uniform', bias: 0.01 }, new Rng(c.seed), params);
    const refParams = new Float32Array(params);
    const refOpt = newOptimizerState(settings.optimizer, 'float32', layout.size);
    const pooled = fault !== undefined ? faultyPool(c, s, fault) : c.threads > 0 ? poolFor(c, s) : null;
    const opt = newOptimizerState(settings.optimizer, 'float32', layout.size, true);
    if (pooled !== null) {
      for (const b of pooled.state) b.fill(0);
      opt.buffers = pooled.state;
    }
    const pool = pooled?.pool ?? null;
    const main = new MainExecutor(s, kernels, data, microBatch, pool?.mainSlots);
    const executors: Executor[] = pool === null ? [main] : [...pool.executors, main];
    const stepper = new Stepper(settings, executors, main, opt, layout.size, params, kernels, pool);
    const reference = new ReferenceStepper(settings, s, data, microBatch, refOpt, layout.size);
    const order = epochOrder(data.n, c.seed, 0, true);
    try {
      await steps(c, stepper, reference, params, refParams, opt, refOpt, order, microBatch);
    } finally {
      if (fault !== undefined) await pool!.close();
    }
  }

  async function steps(
    c: Case,
    stepper: Stepper,
    reference: ReferenceStepper,
    params: Float32Array,
    refParams: Float32Array,
    opt: OptimizerState,
    refOpt: OptimizerState,
    order: Uint32Array,
    microBatch: number,
  ): Promise<void> {
    for (let step = 1; step <= c.steps; step++) {
      const start = c.start + (step - 1) * c.batch;
      const batch = { step, order, start, end: start + c.batch, microBatch };
      const lr = c.lrFactor === null ? undefined : OPTIMIZERS[c.optimizer].lr * c.lrFactor ** step;
      const got = await stepper.run({ step, epoch: 0, params, batch }, lr);
      const want = reference.run({ step, epoch: 0, params: refParams, batch }, lr);
      if (got.split.tailShared === true) seen.tailShared++;
      if (got.split.tailShared === true && lr !== undefined) seen.scheduledTail++;
      if (got.clipped) seen.clipped++;
      if (got.executors.some((e) => e.id !== 'main')) seen.pool++;
      if (c.batch % microBatch !== 0) seen.partialLeaf++;
      // the main thread's own SGD tail in one pass (fusedSgd)
      if (
        c.optimizer === 'sgd' &&
        c.clipNorm === null &&
        c.strategies.fusedSgd &&
        got.split.tailShared !== true &&
        got.skipped === undefined
      )
        seen.fusedSgd++;
      if (got.executors.some((e) => e.late !== undefined)) faults.late++;
      if (got.executors.some((e) => e.failed !== undefined && e.late === undefined)) faults.failed++;
      assert.equal(got.skipped, want.skipped, `step ${step}: skipped`);
      assert.equal(got.clipped, want.clipped, `step ${step}: clipped`);
      // the same sums: the loss and the global norm (what clipping reads) to the last bit too
      assert.ok(Object.is(got.loss, want.loss), `step ${step}: loss ${got.loss} ≠ ${want.loss}`);
      assert.ok(Object.is(got.gradNorm, want.gradNorm), `step ${step}: gradient norm ${got.gradNorm} ≠ ${want.gradNorm}`);
      assert.equal(Buffer.compare(bytes(params), bytes(refParams)), 0, `step ${step}: the weights differ`);
      opt.buffers.forEach((b, i) =>
        assert.equal(
          Buffer.compare(bytes(b as Float32Array), bytes(refOpt.buffers[i] as Float32Array)),
          0,
          `step ${step}: optimizer state ${i} differs`,
        ),
      );
    }
    assert.equal(opt.t, refOpt.t);
  }

  it("writes the reference's weight bytes for random settings, executors and strategy switches", async () => {
    await fc.assert(
      fc.asyncProperty(arbCase, (c) => check(c)),
      { seed: 42, numRuns: 100 },
    );
    for (const [path, n] of Object.entries(seen)) assert.ok(n > 0, `no step took the path ${path}: ${JSON.stringify(seen)}`);
  });

  it('writes them too when a pool thread stalls (its task withdrawn) or throws (its range recomputed)', async () => {
    const arbFault: fc.Arbitrary<FaultSpec> = fc.record({
      executor: fc.constantFrom(1, 2),
      step: fc.integer({ min: 1, max: 2 }),
      mode: fc.constantFrom('stall', 'throw'),
      phase: fc.constantFrom('compute', 'tail'),
    }) as fc.Arbitrary<FaultSpec>;
    await fc.assert(
      fc.asyncProperty(arbCase, arbFault, async (c, fault) => {
        // enough leaves for both threads and the main thread to have a share
        // a fault that can strike: a thread that throws is not withdrawn first; a tail fault needs a shared tail
        const strategies = { ...c.strategies, withdraw: fault.mode === 'stall', ...(fault.phase === 'tail' ? { sharedTail: true } : {}) };
        const clipNorm = fault.phase === 'tail' ? null : c.clipNorm;
        await check({ ...c, threads: 2, batch: c.batch + 3 * MICRO[c.micro]!, strategies, clipNorm }, fault);
      }),
      { seed: 42, numRuns: 20 },
    );
    const fired = faultRuns.filter((f) => f.fired > 0).map((f) => `${f.spec.mode}/${f.spec.phase}`);
    assert.ok(
      faults.late > 0 && faults.failed > 0 && fired.includes('throw/compute'),
      `faults struck: ${JSON.stringify(faults)}, ${fired.join(' ')}`,
    );
  });
});
