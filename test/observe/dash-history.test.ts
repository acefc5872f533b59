import assert from 'node:assert/strict';
import { DashHistory } from '../../src/observe/dash-history';

const stepRec = (step: number, states = ['ok']): { msg: string; step: number; diagnosis: { states: string[] } } => ({
  msg: 'step',
  step,
  diagnosis: { states },
});
const frameOf = (r: object, pad = 0): string => JSON.stringify({ ...r, pad: 'x'.repeat(pad) });
const stepsOf = (frames: string[]): number[] =>
  frames
    .map((f) => JSON.parse(f) as { msg: string; step: number })
    .filter((r) => r.msg === 'step')
    .map((r) => r.step);

describe('observe/dash-history', () => {
  it('keeps every step of a short run, in order, after the other records', () => {
    const h = new DashHistory();
    h.add({ msg: 'eval', step: 3 }, JSON.stringify({ msg: 'eval', step: 3 }));
    for (let s = 1; s <= 50; s++) h.add(stepRec(s), frameOf(stepRec(s)));
    const snap = h.snapshot();
    assert.equal(JSON.parse(snap.frames[0]!).msg, 'eval');
    assert.deepEqual(
      stepsOf(snap.frames),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    assert.equal(snap.steps, 50);
    assert.equal(h.seen, 50);
  });

  it('decimates a long run evenly from its first step, keeps the recent steps whole and the newest step, within maxSteps + recentSteps', () => {
    const h = new DashHistory({ maxSteps: 100, recentSteps: 20, maxChanges: 5 });
    const n = 10_000;
    for (let s = 1; s <= n; s++) h.add(stepRec(s), frameOf(stepRec(s)));
    const steps = stepsOf(h.snapshot().frames);
    assert.ok(steps.length <= 100 + 20 + 1, `${steps.length} steps kept`);
    assert.equal(steps[0], 1, 'the first step is kept');
    assert.deepEqual(
      steps.slice(-20),
      Array.from({ length: 20 }, (_, i) => n - 19 + i),
      'the last 20 in full',
    );
    const older = steps.slice(0, -20);
    const gaps = new Set(older.slice(1).map((s, i) => s - older[i]!));
    assert.equal(gaps.size, 1, `the decimated steps are evenly spaced (${[...gaps].join(', ')})`);
    assert.ok(older[older.length - 1]! > n / 2, 'they span the run');
    for (let i = 1; i < steps.length; i++) assert.ok(steps[i]! > steps[i - 1]!, 'ascending, no duplicates');
  });

  it('keeps the steps where the diagnosis changed, however the decimation falls', () => {
    const h = new DashHistory({ maxSteps: 10, recentSteps: 5 });
    for (let s = 1; s <= 5000; s++) {
      const states = s >= 1234 && s < 1240 ? ['exploding'] : ['ok'];
      h.add(stepRec(s, states), frameOf(stepRec(s, states)));
    }
    const steps = stepsOf(h.snapshot().frames);
    assert.ok(steps.includes(1234) && steps.includes(1240), `changes at 1234 and 1240 kept: ${steps.join(',')}`);
  });

  it('thins a snapshot to maxBytes, newest steps and the other records kept first', () => {
    const h = new DashHistory({ maxSteps: 500, recentSteps: 10, maxBytes: 20_000 });
    h.add({ msg: 'eval' }, JSON.stringify({ msg: 'eval' }));
    for (let s = 1; s <= 400; s++) h.add(stepRec(s), frameOf(stepRec(s), 200));
    const snap = h.snapshot();
    const bytes = snap.frames.reduce((n, f) => n + f.length, 0);
    assert.ok(bytes <= 20_000, `${bytes} bytes`);
    const steps = stepsOf(snap.frames);
    assert.equal(steps[steps.length - 1], 400, 'the newest step is in');
    assert.ok(steps.length > 20 && steps.length < 400, `${steps.length} steps`);
    assert.equal(JSON.parse(snap.frames[0]!).msg, 'eval', 'the other records are in');
  });
});
