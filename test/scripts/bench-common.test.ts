import assert from 'node:assert/strict';
import { applySets, parseSet, workloadConfig } from '../../scripts/bench-common';
import { parseStrategies, rowArgs } from '../../scripts/bench-row';

describe('scripts/bench-common --set overrides', () => {
  it('parses key=value with a JSON value, or the bare string when it is not JSON', () => {
    assert.deepEqual(parseSet('shareTail=false'), { path: ['shareTail'], value: false });
    assert.deepEqual(parseSet('optimizer.lr=0.1'), { path: ['optimizer', 'lr'], value: 0.1 });
    assert.deepEqual(parseSet('name=a=b'), { path: ['name'], value: 'a=b' });
  });

  it('rejects a text without a key or without =, naming it', () => {
    for (const bad of ['shareTail', '=1', 'a..b=1'])
      assert.throws(() => parseSet(bad), { name: 'RangeError', message: `--set expects key=value, got "${bad}"` });
  });

  it('applies the sets to a copy, leaving the original object as it was', () => {
    const o = { optimizer: { kind: 'sgd', lr: 0.05 }, shareTail: true };
    const out = applySets(o, [parseSet('optimizer.lr=0.1'), parseSet('shareTail=false')]);
    assert.deepEqual(out, { optimizer: { kind: 'sgd', lr: 0.1 }, shareTail: false });
    assert.deepEqual(o, { optimizer: { kind: 'sgd', lr: 0.05 }, shareTail: true });
  });

  it("reach the workload's validated config, and validate() still checks them", () => {
    const run = { batch: 128, microBatch: 64, threads: 2, epochs: 1 };
    assert.equal(workloadConfig('/nowhere', run).shareTail, true);
    assert.equal(workloadConfig('/nowhere', { ...run, sets: [parseSet('shareTail=false')] }).shareTail, false);
    assert.throws(() => workloadConfig('/nowhere', { ...run, sets: [parseSet('shareTail=7')] }), /shareTail/);
  });
});

describe('scripts/bench-row strategy switches', () => {
  it('parses NAME=on|off for the known strategies and rejects the rest, naming them', () => {
    assert.deepEqual(parseStrategies(['sharedTail=on', 'withdraw=off']), { sharedTail: true, withdraw: false });
    assert.throws(() => parseStrategies(['sharedTail=yes']), /sharedTail=yes/);
    assert.throws(() => parseStrategies(['nosuch=on']), /NAME one of sharedTail, withdraw/);
  });

  it("round-trips a row's strategies and sets through its command line", () => {
    const args = rowArgs({
      kernels: 'native',
      threads: 2,
      batch: 128,
      microBatch: 64,
      epochs: 3,
      steps: 20,
      strategies: { withdraw: false },
      sets: ['shareTail=false'],
    });
    assert.deepEqual(args.slice(-4), ['--strategy', 'withdraw=off', '--set', 'shareTail=false']);
    assert.deepEqual(parseStrategies([args[args.indexOf('--strategy') + 1]!]), { withdraw: false });
    assert.ok(args.includes('--steps') && args[args.indexOf('--steps') + 1] === '20');
  });
});
