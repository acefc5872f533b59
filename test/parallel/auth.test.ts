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

  it("the coordinator's proof is not the worker's (labels differ) and covers both nonces", () => {
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
    const s = new NonceStore(1000, 3, () => t, 2);
    const a = s.issue('p');
    assert.ok(isNonce(a));
    assert.equal(s.consume(a), true);
    assert.equal(s.consume(a), false, 'replay');
    const b = s.issue('p');
    t = 1001;
    assert.equal(s.consume(b), false, 'expired');
    assert.equal(s.outstanding, 0);
    // a peer past its cap loses its own oldest, not anyone else's
    t = 2000;
    const q1 = s.issue('q');
    const [p1, p2, p3] = [s.issue('p'), s.issue('p'), s.issue('p')];
    assert.equal(s.outstanding, 3);
    assert.equal(s.consume(p1), false, 'p1 forgotten: p had 2 outstanding');
    // past the cap in all, the oldest of all goes
    const r1 = s.issue('r');
    assert.equal(s.outstanding, 3);
    assert.equal(s.consume(q1), false, 'q1 was the oldest of all');
    assert.equal(s.consume(p2), true);
    assert.equal(s.consume(p3), true);
    assert.equal(s.consume(r1), true);
    assert.equal(s.outstanding, 0);
    // a flood from one address, then a newcomer: the newcomer's nonce is good
    for (let i = 0; i < 100; i++) s.issue('flood');
    assert.equal(s.outstanding, 2);
    const late = s.issue('late');
    for (let i = 0; i < 100; i++) s.issue('flood');
    assert.equal(s.consume(late), true, 'one address flooding does not evict another');
    t = 4000;
    s.issue('x');
    assert.equal(s.outstanding, 1, 'expired ones are dropped');
    assert.equal(s.consume('not-a-nonce'), false);
  });
});
