import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { hmacSha256, sha256, toHex, utf8 } from '../../src/net/sha256';
import { clientProof, serverProof } from '../../src/net/challenge';
import { proofText } from '../../src/net/challenge-wire';
import { LIVE_LABELS } from '../../src/observe/live-protocol';
import { seeded } from '../helpers/seeded';

describe('net/sha256 (the page’s HMAC, against node:crypto)', () => {
  it('hashes the FIPS 180-4 examples and every length across the padding boundaries like node:crypto', () => {
    assert.equal(toHex(sha256(utf8('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(toHex(sha256(new Uint8Array(0))), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const rnd = seeded(7);
    for (let n = 0; n <= 300; n++) {
      const b = Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
      assert.equal(toHex(sha256(b)), crypto.createHash('sha256').update(b).digest('hex'), `length ${n}`);
    }
  });

  it('computes HMAC-SHA256 like node:crypto for keys shorter than, equal to and longer than the block', () => {
    const rnd = seeded(11);
    for (const kl of [0, 1, 20, 63, 64, 65, 131]) {
      for (const ml of [0, 1, 55, 56, 64, 200]) {
        const key = Uint8Array.from({ length: kl }, () => Math.floor(rnd() * 256));
        const msg = Uint8Array.from({ length: ml }, () => Math.floor(rnd() * 256));
        assert.equal(toHex(hmacSha256(key, msg)), crypto.createHmac('sha256', key).update(msg).digest('hex'), `key ${kl}, message ${ml}`);
      }
    }
  });

  it('gives the same subscriber and server proofs as challenge.ts for a token with non-ASCII characters', () => {
    const token = 'tök€n-with-ünicode-and-a-long-tail-'.repeat(3);
    const nonce = 'a'.repeat(64);
    const cn = 'b'.repeat(64);
    assert.equal(toHex(hmacSha256(utf8(token), utf8(proofText(LIVE_LABELS.client, nonce)))), clientProof(LIVE_LABELS, token, nonce));
    assert.equal(
      toHex(hmacSha256(utf8(token), utf8(proofText(LIVE_LABELS.server, nonce, cn)))),
      serverProof(LIVE_LABELS, token, nonce, cn),
    );
  });
});
