import assert from 'node:assert/strict';
import { coordinatorProof, isNonce, newNonce, NonceStore, proofMatches, workerProof } from '../../src/parallel/auth';

describe('auth: HMAC challenge–response', () => {
  it('a proof depends on the token and the nonce, and never contains the token', () => {
    const n = newNonce();
    const p = workerProof('s3cret-token', n);
    assert.match(p, /^[0-9a-f]{64}$/);
    assert.ok(!p.includes(Buffer.from('s3cret-token').toString('hex')));
    assert.notEqual(p, workerProof('s3cret-tokeN', n));
    assert.notEqual(p, workerProof('s3cret-token', newNonce()));
    assert.equal(p, workerProof('s3cret-token', n));
  });

  it('the coordinator\'s proof is not the worker\'s (labels differ) and covers both nonces', () => {
    const n = newNonce();
    const c = newNonce();
    assert.notEqual(coordinatorProof('t', n, c), workerProof('t', n));
    assert.notEqual(coordinatorProof('t', n, c), coordinatorProof('t', n, newNonce()));
  });

  it('proofMatches accepts the right proof only, and refuses absent or malformed ones', () => {
    const n = newNonce();
    const p = workerProof('t', n);
    assert.equal(proofMatches(p, p), true);
    assert.equal(proofMatches(workerProof('u', n), p), false);
    for (const bad of [undefined, '', 'zz', p.toUpperCase(), p.slice(1), [p], 42]) assert.equal(proofMatches(bad, p), false, String(bad));
  });

  it('a nonce is good once, before it expires; the store is capped', () => {
    let t = 0;
    const s = new NonceStore(1000, 3, () => t);
    const a = s.issue()!;
    assert.ok(isNonce(a));
    assert.equal(s.consume(a), true);
    assert.equal(s.consume(a), false, 'replay');
    const b = s.issue()!;
    t = 1001;
    assert.equal(s.consume(b), false, 'expired');
    t = 2000;
    s.issue(); s.issue(); s.issue();
    assert.equal(s.issue(), null, 'cap reached');
    t = 4000;
    assert.notEqual(s.issue(), null, 'expired ones make room');
    assert.equal(s.consume('not-a-nonce'), false);
  });
});
