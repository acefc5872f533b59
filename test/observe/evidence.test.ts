/**
 * Step records carry their diagnosis's evidence only now and then (schema.ts,
 * StepRecord.diagnosis): the readers — EvidenceCarry, tail's Summary, the dashboard's DashState —
 * show each record's states with the last sentence seen for each.
 */
import assert from 'node:assert/strict';
import { EvidenceCarry } from '../../src/observe/evidence';
import { DashState } from '../../src/observe/dash-state';
import { renderScreen } from '../../src/observe/render';
import { Summary } from '../../src/observe/tail-summary';
import type { StepDiagnosis } from '../../src/observe/schema';
import type { GsRecord } from '../../src/observe/tail';
import { healthy, layer, stepRecord } from './records';

const conv: StepDiagnosis = {
  states: ['target-out-of-range', 'converged'],
  evidence: { 'target-out-of-range': 'range', converged: 'flat at 1' },
};

describe('observe/evidence: step records with and without their evidence', () => {
  it('EvidenceCarry: a record without evidence gets the last sentence of each of its states, and only of those', () => {
    const c = new EvidenceCarry();
    assert.deepEqual(c.of(conv), conv);
    assert.deepEqual(c.of({ states: conv.states }), conv);
    // one state left: its sentence alone
    assert.deepEqual(c.of({ states: ['target-out-of-range'] }), {
      states: ['target-out-of-range'],
      evidence: { 'target-out-of-range': 'range' },
    });
    // a fresh sentence replaces the old one
    c.of({ states: ['converged'], evidence: { converged: 'flat at 2' } });
    assert.deepEqual(c.of({ states: ['converged'] }).evidence, { converged: 'flat at 2' });
    // a state never explained has no sentence; reset() forgets
    assert.deepEqual(c.of({ states: ['exploding'] }).evidence, {});
    c.reset();
    assert.deepEqual(c.of({ states: ['converged'] }).evidence, {});
  });

  it("tail's Summary shows the carried evidence under the latest record's states", () => {
    const s = new Summary();
    const rec = (step: number, diagnosis: StepDiagnosis): GsRecord => ({ ...healthy(step, ['tanh']), diagnosis }) as unknown as GsRecord;
    s.add(rec(1, conv));
    s.add(rec(2, { states: conv.states }));
    assert.deepEqual(s.diagnosis, conv);
    assert.ok(renderScreen(s, { columns: 100 }).some((l) => l === '  converged: flat at 1'));
  });

  it("the dashboard's DashState keeps the evidence across records that carry the states alone", () => {
    const d = new DashState();
    const rec = (step: number, diagnosis: StepDiagnosis): Record<string, unknown> => ({
      ...stepRecord(step, { loss: 1, gradNorm: 1, layers: [layer(0, 'tanh')] }),
      diagnosis,
    });
    d.add(rec(1, conv));
    d.add(rec(2, { states: conv.states }));
    assert.deepEqual(d.diagnosis, { ...conv, step: 2 });
    assert.equal(d.changes.length, 1);
  });
});
