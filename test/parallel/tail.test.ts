/**
 * parallel/tail.ts — the step's tail by units: the same bits as the main thread's passes over
 * whole tensors (add, reduceGrad, the optimizer's update), however the units are shared out,
 * and the weights of taken units put back exactly, from wherever each taker left them. The threads themselves: test/integration/pool.integration.ts.
 */
import assert from 'node:assert/strict';
import { alloc, type DType, type Float } from '../../src/tensor/dtype';
import { NORM_BLOCK } from '../../src/tensor/kernels';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import { nativeIsas, nativeKernels } from '../../src/tensor/fast/native';
import { wasmKernels } from '../../src/tensor/fast/wasm';
import { T } from '../../src/parallel/pool-protocol';
import { resetTail, restoreTaken, runTailShare, tailUnits, UNIT, UnitViews } from '../../src/parallel/tail';
import { Rng } from '../../src/tensor/rng';
import { newOptimizerState, optimizerStep, stepScalars, type OptimizerSpec, type OptimizerState } from '../../src/optim/optimizer';
import { assertSameBits } from '../helpers/kernel-data';

/** Tensors of a small MLP whose first weight matrix spans several blocks (a ragged last one). */
const TENSORS = [
  { from: 0, to: 2 * NORM_BLOCK + 300 },
  { from: 2 * NORM_BLOCK + 300, to: 2 * NORM_BLOCK + 364 },
  { from: 2 * NORM_BLOCK + 364, to: 2 * NORM_BLOCK + 1004 },
  { from: 2 * NORM_BLOCK + 1004, to: 2 * NORM_BLOCK + 1014 },
];
const N = TENSORS[TENSORS.length - 1]!.to;

function values(dtype: DType, seed: number): Float {
  const rng = new Rng(seed);
  const a = alloc(dtype, N);
  for (let i = 0; i < N; i++) a[i] = rng.uniform(-1, 1) * 10 ** rng.nextInt(4 - 2);
  return a;
}

for (const dtype of ['float32', 'float64'] as DType[]) {
  const sets = [
    referenceKernels(dtype),
    ...nativeIsas()
      .slice(0, 1)
      .map((isa) => nativeKernels(isa, dtype)),
    wasmKernels(dtype),
  ];
  for (const k of sets) {
    describe(`step tail by units (${k.id}, ${dtype})`, () => {
      const units = tailUnits(TENSORS);
      const U = units.length / 2;

      it('cuts each tensor into blocks of NORM_BLOCK, in order', () => {
        assert.deepEqual(
          [...units],
          [
            0,
            NORM_BLOCK,
            NORM_BLOCK,
            2 * NORM_BLOCK,
            2 * NORM_BLOCK,
            2 * NORM_BLOCK + 300,
            ...TENSORS.slice(1).flatMap((t) => [t.from, t.to]),
          ],
        );
      });

      const OPTIMIZERS: OptimizerSpec[] = [
        { kind: 'sgd', lr: 0.05 },
        { kind: 'momentum', lr: 0.05, momentum: 0.9, nesterov: true },
        { kind: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
      ];
      /** An optimizer state two steps in, with non-trivial buffers. */
      const warmState = (o: OptimizerSpec): OptimizerState => {
        const st = newOptimizerState(o, dtype, N);
        for (const seed of [7, 8]) optimizerStep(o, st, values(dtype, 9), values(dtype, seed), alloc(dtype, N));
        return st;
      };
      const copyState = (st: OptimizerState): OptimizerState => ({ ...st, buffers: st.buffers.map((b) => b.slice()) });

      for (const o of OPTIMIZERS)
        it(`${o.kind}: gives the main thread's weights, optimizer buffers and per-tensor sums, bit for bit, whoever takes which unit`, () => {
          const [a0, b0, p0] = [values(dtype, 1), values(dtype, 2), values(dtype, 3)];
          const st0 = warmState(o);
          // the main thread alone: per tensor, a ← a + b, reduceGrad; then the optimizer over the whole vector
          const [a, p, u] = [a0.slice(), p0.slice(), alloc(dtype, N)];
          const st = copyState(st0);
          const want: number[] = [];
          const out = new Float64Array(2);
          for (const t of TENSORS) {
            const n = t.to - t.from;
            const [av, bv, pv] = [a.subarray(t.from, t.to), b0.subarray(t.from, t.to), p.subarray(t.from, t.to)];
            k.addInto(n, av, bv);
            k.reduceGrad(n, av, pv, 128, 1e-4, out);
            want.push(out[0]!, out[1]!);
          }
          const sc = stepScalars(o, st);
          optimizerStep(o, st, p, a, u, k);
          // by units, two takers interleaved through the shared counter (each call takes until none is left),
          // each leaving SGD's old weights in its own operand (the first a, the second b)
          for (const firstTakes of [0, 1, 2, U]) {
            const [a2, b2, p2, old, u2] = [a0.slice(), b0.slice(), p0.slice(), alloc(dtype, N), alloc(dtype, N)];
            const st2 = copyState(st0);
            const oldState = st2.buffers.map(() => alloc(dtype, N));
            const sums = new Float64Array(2 * U);
            const sync = new Int32Array(T.STATE + U);
            resetTail(sync);
            const views = new UnitViews(units);
            const share = {
              a: a2,
              b: b2,
              params: p2,
              old,
              divisor: 128,
              lambda: 1e-4,
              lr: o.lr,
              sums,
              sync,
              optimizer: o,
              state: st2,
              oldState,
              u: u2,
              sc,
            };
            // the first taker stops after `firstTakes` units (as a thread preempted), the second takes the rest
            let taken = 0;
            const stop = new Error('preempted');
            try {
              runTailShare(k, views, { ...share, mine: 'a' }, () => {
                if (++taken >= firstTakes) throw stop;
              });
            } catch (e) {
              if (e !== stop) throw e;
              Atomics.or(sync, T.STATE + taken - 1, UNIT.DONE); // it finished that unit before stopping
              Atomics.add(sync, T.DONE, 1);
            }
            const rest = runTailShare(k, views, { ...share, mine: 'b' });
            assert.equal(taken + rest, U, 'every unit is taken exactly once');
            assert.equal(Atomics.load(sync, T.DONE), U);
            assertSameBits(p2, p, `weights, first taker took ${firstTakes}`);
            st2.buffers.forEach((b, j) => {
              assertSameBits(b, st.buffers[j]!, `optimizer buffer ${j}`);
              assertSameBits(oldState[j]!, st0.buffers[j]!, `optimizer buffer ${j} from before`);
            });
            for (let i = 0; i < U; i++) {
              const [from, to] = [units[2 * i]!, units[2 * i + 1]!];
              const state = Atomics.load(sync, T.STATE + i);
              const byFirst = i < taken;
              if (o.kind !== 'sgd') {
                assert.equal(state, UNIT.TAKEN | UNIT.DONE | UNIT.IN_OLD, `unit ${i}'s state`);
                assertSameBits(old.subarray(from, to), p0.subarray(from, to), `unit ${i}: old holds its weights from before`);
              } else {
                // SGD's fused pass: the old weights in the taker's own operand, the other operand only read
                assert.equal(state, UNIT.TAKEN | UNIT.DONE | (byFirst ? UNIT.IN_A : UNIT.IN_B), `unit ${i}'s state`);
                const [kept, read, readWas] = byFirst ? [a2, b2, b0] : [b2, a2, a0];
                assertSameBits(
                  kept.subarray(from, to),
                  p0.subarray(from, to),
                  `unit ${i}: the taker's operand holds its weights from before`,
                );
                assertSameBits(read.subarray(from, to), readWas.subarray(from, to), `unit ${i}: the other operand untouched`);
              }
            }
            if (o.kind !== 'sgd') assertSameBits(u2, u, 'the update u');
            // and from wherever they are, the old weights go back
            restoreTaken(views, p2, old, sync, st2.buffers, oldState, a2, b2);
            assertSameBits(p2, p0, 'weights put back');
            st2.buffers.forEach((b, j) => assertSameBits(b, st0.buffers[j]!, `optimizer buffer ${j} put back`));
            const got: number[] = [];
            let i = 0;
            for (const t of TENSORS) {
              let g = 0;
              let q = 0;
              for (; i < U && units[2 * i]! < t.to; i++) {
                g += sums[2 * i]!;
                q += sums[2 * i + 1]!;
              }
              got.push(g, q);
            }
            assert.deepEqual(got, want, "per-tensor sums of squares: the units' block sums added in order");
          }
        });

      for (const o of OPTIMIZERS.filter((x) => x.kind !== 'momentum'))
        it(`${o.kind}: puts back exactly the weights and optimizer buffers of the units that were taken`, () => {
          const [a0, b0, p0] = [values(dtype, 4), values(dtype, 5), values(dtype, 6)];
          const [a, b, p] = [a0.slice(), b0.slice(), p0.slice()];
          const old = alloc(dtype, N);
          const sync = new Int32Array(T.STATE + U);
          const views = new UnitViews(units);
          const stop = new Error('died');
          const st = warmState(o);
          const st0 = copyState(st);
          const oldState = st.buffers.map(() => alloc(dtype, N));
          assert.throws(
            () =>
              runTailShare(
                k,
                views,
                {
                  a,
                  b,
                  params: p,
                  old,
                  divisor: 1,
                  lambda: 0,
                  lr: 0.5,
                  sums: new Float64Array(2 * U),
                  sync,
                  optimizer: o,
                  state: st,
                  oldState,
                  u: alloc(dtype, N),
                  sc: stepScalars(o, st),
                  mine: 'b',
                },
                (i) => {
                  if (i === 1) throw stop;
                },
              ),
            (e) => e === stop,
          );
          assert.notDeepEqual([...p.subarray(0, 8)], [...p0.subarray(0, 8)], 'unit 0 was updated');
          assert.notDeepEqual(
            [...p.subarray(NORM_BLOCK, NORM_BLOCK + 8)],
            [...p0.subarray(NORM_BLOCK, NORM_BLOCK + 8)],
            'unit 1 was updated',
          );
          // SGD's old weights are in the operand b (its `mine`), found only when it is given
          if (o.kind === 'sgd')
            assert.throws(() => restoreTaken(views, p.slice(), old, sync), /unit 0's old weights are in an operand not given/);
          restoreTaken(views, p, old, sync, st.buffers, oldState, a, b);
          assertSameBits(p, p0, 'all weights as before');
          st.buffers.forEach((x, j) => assertSameBits(x, st0.buffers[j]!, `${o.kind} buffer ${j} as before`));
        });
    });
  }
}
