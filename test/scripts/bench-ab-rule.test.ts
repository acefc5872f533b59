import assert from 'node:assert/strict';
import { abVerdict, MIN_ROUNDS, verdictLine } from '../../scripts/bench-ab-rule';

describe('scripts/bench-ab-rule abVerdict (ratios are off/on: below 1, on is faster)', () => {
  it('keeps a strategy when every round is below 1', () => {
    const v = abVerdict([0.88, 0.93, 0.99, 0.91, 0.95]);
    assert.deepEqual([v.verdict, v.why, v.median, v.min, v.max], ['keep', "every round's ratio is below 1", 0.93, 0.88, 0.99]);
  });

  it('keeps it when one round strays above 1 but the median gain exceeds the half-spread', () => {
    // median 0.85, gain 0.15 > half-spread (1.05 - 0.80) / 2 = 0.125
    assert.deepEqual(
      [abVerdict([0.8, 0.85, 1.05]).verdict, abVerdict([0.8, 0.85, 1.05]).why],
      ['keep', 'the median gain exceeds the half-spread'],
    );
  });

  it('shows no gain when the rounds straddle 1 within the spread', () => {
    const v = abVerdict([0.95, 1.03, 0.99, 1.06, 0.97]);
    assert.deepEqual([v.verdict, v.why], ['no gain shown', 'within the spread']);
  });

  it('drops a strategy that is slower: every round above 1, or the median loss beyond the half-spread', () => {
    assert.equal(abVerdict([1.02, 1.1, 1.05]).verdict, 'drop');
    assert.equal(abVerdict([1.2, 1.15, 0.98]).verdict, 'drop');
  });

  it(`gives no verdict on fewer than ${MIN_ROUNDS} rounds, however clear they look`, () => {
    assert.equal(abVerdict([0.5]).verdict, 'no verdict');
    assert.equal(abVerdict([0.5, 0.6]).verdict, 'no verdict');
    assert.equal(abVerdict([]).verdict, 'no verdict');
  });

  it('prints the verdict line with the median, the count and the spread', () => {
    assert.equal(
      verdictLine('sharedTail', [0.88, 0.93, 0.99, 0.91, 0.95]),
      "sharedTail: off/on 0.93x (median of 5; rounds 0.88-0.99) -> keep (every round's ratio is below 1)",
    );
  });
});
