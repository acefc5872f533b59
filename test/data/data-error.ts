/**
 * data-error.ts — assertDataError(fn, ...patterns): fn throws a GradsyncError with code
 * GS_ERR_DATA and exit code 2 whose message matches every pattern. Shared by test/data/.
 */
import assert from 'node:assert/strict';
import { GradsyncError } from '../../src/errors';

export function assertDataError(fn: () => unknown, ...patterns: (RegExp | string)[]): GradsyncError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, 'expected a GradsyncError, but nothing was thrown');
  assert.ok(caught instanceof GradsyncError, `expected a GradsyncError, got ${String(caught)}`);
  assert.equal(caught.code, 'GS_ERR_DATA');
  assert.equal(caught.exitCode, 2);
  for (const p of patterns) {
    if (typeof p === 'string')
      assert.ok(caught.message.includes(p), `message ${JSON.stringify(caught.message)} does not include ${JSON.stringify(p)}`);
    else assert.match(caught.message, p);
  }
  return caught;
}
