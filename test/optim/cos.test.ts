/**
 * optim/cos.ts against mpmath: the correctly rounded cosine of every argument of
 * test/fixtures/schedules.json (the schedules' π·t/T, random ones up to 1e8, near multiples of π/2).
 */
import assert from 'node:assert/strict';
import { cos } from '../../src/optim/cos';
import { readSchedules } from '../helpers/paths';

describe('cos (optim/cos.ts)', () => {
  it('is the correctly rounded cosine of every fixture argument, bit for bit', () => {
    const { args, cos: want } = readSchedules().cos;
    assert.ok(args.length > 2000);
    const wrong = args.flatMap((x, i) => (cos(x) === want[i] ? [] : [[x, cos(x), want[i]]]));
    assert.deepEqual(wrong, []);
  });

  it('is even, 1 at 0, and NaN where the cosine is not defined', () => {
    const { args } = readSchedules().cos;
    for (const x of args.slice(0, 500)) assert.equal(cos(-x), cos(x));
    assert.equal(cos(0), 1);
    assert.equal(cos(-0), 1);
    for (const x of [NaN, Infinity, -Infinity]) assert.ok(Number.isNaN(cos(x)), `cos(${x})`);
  });
});
