/**
 * Learning-rate schedules against PyTorch (issue 25, item 3): every lr of every step of
 * test/fixtures/schedules.json (scripts/make-schedules.py, torch's schedulers in a real loop)
 * compared with ===, and the schedule as a pure function of the step.
 */
import assert from 'node:assert/strict';
import { validate } from '../../src/config/validate';
import { LearningRate, type Schedule } from '../../src/optim/schedule';
import { readSchedules, type ScheduleCase } from '../helpers/paths';

const scheduleOf = (c: ScheduleCase): Schedule => validate({ schedule: c.schedule }).schedule;

/** The steps whose lr is not torch's, bit for bit: [step, ours, torch's]. */
function mismatches(c: ScheduleCase, rates: LearningRate, steps: number[]): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (const step of steps) {
    const lr = rates.at(step);
    if (!(lr === c.lrs[step - 1])) out.push([step, lr, c.lrs[step - 1]!]);
  }
  return out;
}

const oneTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe('learning-rate schedules (optim/schedule.ts)', () => {
  const fixture = readSchedules();

  it('the fixture covers every kind with and without a warm-up, and each per epoch and per step', () => {
    const has = (kind: string, f: (s: Schedule) => boolean): boolean =>
      fixture.cases.some((c) => c.schedule.kind === kind && f(scheduleOf(c)));
    for (const kind of ['step', 'multistep', 'exponential', 'cosine']) {
      assert.ok(has(kind, (s) => s.warmup > 0) && has(kind, (s) => s.warmup === 0), `${kind} with and without a warm-up`);
      assert.ok(has(kind, (s) => s.unit === 'epoch') && has(kind, (s) => s.unit === 'step'), `${kind} per epoch and per step`);
    }
    assert.ok(
      has('constant', (s) => s.warmup > 0),
      'a warm-up alone',
    );
  });

  for (const c of fixture.cases) {
    it(`${c.name}: torch's lr at every one of ${c.steps} steps, bit for bit`, () => {
      assert.equal(c.lrs.length, c.steps);
      assert.deepEqual(mismatches(c, new LearningRate(scheduleOf(c), c.lr, c.perEpoch), oneTo(c.steps)), []);
      // the lr moves: a schedule that ignored its kind would not pass by being constant
      if (c.schedule.kind !== 'constant' || scheduleOf(c).warmup > 0) assert.ok(new Set(c.lrs).size > 2, `${c.name} changes its lr`);
    });
  }

  it('is a pure function of the step: any order of calls, resumed mid-run or going back, gives the same values', () => {
    for (const c of fixture.cases) {
      const s = scheduleOf(c);
      // from the middle on (a resumed run), then from the start again, then in a shuffled order
      const mid = Math.floor(c.steps / 2) + 1;
      const r = new LearningRate(s, c.lr, c.perEpoch);
      assert.deepEqual(mismatches(c, r, oneTo(c.steps).slice(mid - 1)), [], `${c.name} resumed at ${mid}`);
      assert.deepEqual(mismatches(c, r, oneTo(c.steps)), [], `${c.name} after going back`);
      const shuffled = oneTo(c.steps).sort((a, b) => ((a * 7919) % 101) - ((b * 7919) % 101));
      assert.deepEqual(mismatches(c, new LearningRate(s, c.lr, c.perEpoch), shuffled), [], `${c.name} shuffled`);
    }
  });

  it('per epoch, the lr changes only at the first step of an epoch', () => {
    const c = fixture.cases.find((k) => k.name === 'step-epoch')!;
    const r = new LearningRate(scheduleOf(c), c.lr, c.perEpoch);
    for (let step = 2; step <= c.steps; step++)
      if ((step - 1) % c.perEpoch !== 0) assert.equal(r.at(step), r.at(step - 1), `step ${step} is inside an epoch`);
    assert.equal(r.at(3 * c.perEpoch + 1), c.lr * 0.5, 'stepSize 3: the first decay at epoch 3');
  });

  it('the constant schedule is the base lr at every step', () => {
    const r = new LearningRate(validate({}).schedule, 0.07, 5);
    for (const step of [1, 2, 5, 6, 1000]) assert.equal(r.at(step), 0.07);
  });

  it('refuses a step or steps per epoch that is not a whole number ≥ 1', () => {
    assert.throws(() => new LearningRate(validate({}).schedule, 0.1, 0), {
      name: 'RangeError',
      message: /perEpoch must be an integer ≥ 1, got 0/,
    });
    const r = new LearningRate(validate({}).schedule, 0.1, 3);
    assert.throws(() => r.at(0), { name: 'RangeError', message: /step must be an integer ≥ 1, got 0/ });
    assert.throws(() => r.at(1.5), { name: 'RangeError', message: /step must be an integer ≥ 1, got 1.5/ });
  });
});
