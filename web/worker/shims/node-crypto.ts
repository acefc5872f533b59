/**
 * node-crypto.ts — the one piece of node:crypto the bundled protocol code calls (a SHA-256 hex
 * digest: the dataset's hash in worker-dataset.ts), over net/sha256.ts; scripts/build-web.js
 * points `node:crypto` here for the browser worker's bundle. Anything else throws, naming itself.
 */
import { sha256, toHex } from '../../../src/net/sha256';

export function createHash(alg: string): { update(b: Uint8Array): { digest(enc: 'hex'): string } } {
  if (alg !== 'sha256') throw new Error(`node:crypto createHash(${alg}) is not available in the browser worker`);
  return { update: (b: Uint8Array) => ({ digest: () => toHex(sha256(b)) }) };
}

export function randomBytes(): never {
  throw new Error('node:crypto randomBytes is not available in the browser worker');
}
