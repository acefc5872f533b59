import assert from 'node:assert/strict';
import { DashState, Table } from '../../src/observe/dash-state';
import { layer, stepRecord } from './records';

const step = (s: number, o: Record<string, unknown> = {}): Record<string, unknown> =>
  ({
    ...stepRecord(s, { loss: 1 / s, gradNorm: 2 / s, layers: [layer(0, 'tanh', { dJdW: s }), layer(1, 'softmax', { updateRatio: 0 })] }),
    diagnosis: { states: ['ok'], evidence: {} },
    ...o,
  }) as Record<string, unknown>;

describe('observe/dash-state', () => {
  it('Table: keeps rows aligned, nulls what a log axis cannot draw, and cuts back at a step it already has', () => {
    const t = new Table(2, [true, false]);
    t.push(1, [1, 0]);
    t.push(2, [0, NaN]);
    t.push(3, [-1, 5]);
    assert.deepEqual(t.cols, [
      [1, 2, 3],
      [1, null, null],
      [0, null, 5],
    ]);
    t.push(2, [7, 7]); // a resumed run's log goes on from step 1
    assert.deepEqual(t.cols, [
      [1, 2],
      [1, 7],
      [0, 7],
    ]);
  });

  it('Table: past its cap, drops every other row and keeps the newest, so the columns stay bounded and span the run', () => {
    const t = new Table(1, [], 100);
    for (let s = 1; s <= 10_000; s++) t.push(s, [s * 2]);
    assert.ok(t.length <= 100, `${t.length} rows`);
    assert.equal(t.cols[0]![0], 1);
    assert.equal(t.lastX, 10_000);
    assert.equal(t.added, 10_000);
    t.cols[0]!.forEach((x, i) => assert.equal(t.cols[1]![i], (x as number) * 2, 'rows stay aligned'));
  });

  it('DashState: a learning-rate point per step with the step record lr, 0 included (a warm-up from 0 is drawn)', () => {
    const d = new DashState();
    for (const [s, lr] of [
      [1, 0],
      [2, 0.05],
      [3, 0.025],
    ] as const)
      d.add(step(s, { lr }));
    assert.deepEqual(d.lr.cols, [
      [1, 2, 3],
      [0, 0.05, 0.025],
    ]);
  });

  it('DashState: the run info, one table per layer, evaluations, the diagnosis and its changes, executors with shares', () => {
    const d = new DashState();
    d.add({
      msg: 'start',
      run: 'r1',
      kernel: 'ref',
      data: { name: 'digits', n: 10, sha256: 'ab', heldOut: 2 },
      params: 42,
      totalSteps: 3,
      config: { seed: 1 },
    });
    d.add(
      step(1, {
        executors: [
          { id: 'main', kind: 'main', examples: 24, computeMs: 2 },
          { id: 'remote-a', kind: 'remote', examples: 8, computeMs: 4, transferMs: 1 },
        ],
      }),
    );
    d.add(
      step(2, {
        diagnosis: { states: ['exploding'], evidence: { exploding: '‖g‖ grew 100×' } },
        executors: [{ id: 'main', kind: 'main', examples: 32, computeMs: 2, failed: 'remote-a crashed' }],
      }),
    );
    d.add({ msg: 'eval', step: 2, epoch: 0, loss: 0.5, accuracy: 0.75, examples: 2 });
    d.add({ msg: 'remote: worker left', level: 30, executor: 'remote-a', peer: '127.0.0.1:5', closeCode: 1006, time: 1 });
    d.add({ msg: 'checkpoint', level: 30, step: 2 });
    assert.equal(d.info?.run, 'r1');
    assert.equal(d.info?.data?.sha256, 'ab');
    assert.equal(d.loss.length, 2);
    assert.equal(d.layers.length, 2);
    assert.deepEqual(d.layers[0]!.table.cols[1], [1, 2], '‖dJdW‖ per step');
    assert.deepEqual(d.layers[1]!.table.cols[4], [null, null], 'a zero update ratio is a gap on its log axis');
    assert.deepEqual(d.evals.cols, [[1], [0.5], [0.75]]);
    assert.deepEqual(d.diagnosis?.states, ['exploding']);
    assert.deepEqual(
      d.changes.map((c) => [c.step, c.states.join()]),
      [
        [1, 'ok'],
        [2, 'exploding'],
      ],
    );
    const rows = d.executorRows();
    assert.deepEqual(
      rows.map((r) => [r.id, r.steps, r.share, r.failures]),
      [
        ['main', 2, 56 / 64, 1],
        ['remote-a', 1, 8 / 64, 0],
      ],
    );
    assert.equal(rows[1]!.transferMs, 1);
    assert.deepEqual(
      d.events.map((e) => [e.msg, e.detail]),
      [['remote: worker left', 'remote-a 127.0.0.1:5: close 1006']],
      'worker events are listed, checkpoints are not',
    );
  });
});
