/**
 * auth.ts — the shared-token challenge–response of remote workers (HMAC-SHA256).
 *
 * The token never travels: the coordinator hands out a one-time random nonce (HTTP GET,
 * messages.ts CHALLENGE_PATH); the worker answers in its upgrade request with
 *   proof = HMAC-SHA256(token, "gradsync-worker-v1\n" ‖ nonce)
 * and its own random nonce; the coordinator checks the proof in constant time
 * (crypto.timingSafeEqual over equal-length digests), forgets the nonce (no replay), and
 * answers the upgrade with
 *   serverProof = HMAC-SHA256(token, "gradsync-coordinator-v1\n" ‖ nonce ‖ "\n" ‖ clientNonce)
 * so the worker knows the coordinator holds the token too. Different labels keep one proof
 * from being replayed as the other.
 * Not here: the HTTP and websocket plumbing (coordinator-server.ts, remote-worker.ts).
 */

import * as crypto from 'node:crypto';

/** Upgrade request / response headers of the handshake (lower case, as node delivers them). */
export const AUTH_HEADERS = {
  nonce: 'x-gradsync-nonce',
  proof: 'x-gradsync-proof',
  clientNonce: 'x-gradsync-client-nonce',
  serverProof: 'x-gradsync-server-proof',
} as const;

const NONCE_RE = /^[0-9a-f]{64}$/;

export function newNonce(): string {
  return crypto.randomBytes(32).toString('hex');
}

function hmac(token: string, label: string, ...parts: string[]): Buffer {
  return crypto.createHmac('sha256', token).update(`${label}\n${parts.join('\n')}`, 'utf8').digest();
}

/** The worker's proof for a coordinator nonce (hex). */
export function workerProof(token: string, nonce: string): string {
  return hmac(token, 'gradsync-worker-v1', nonce).toString('hex');
}

/** The coordinator's proof over both nonces (hex). */
export function coordinatorProof(token: string, nonce: string, clientNonce: string): string {
  return hmac(token, 'gradsync-coordinator-v1', nonce, clientNonce).toString('hex');
}

/** Constant-time comparison of a presented hex proof with the expected one. */
export function proofMatches(presented: unknown, expected: string): boolean {
  const want = Buffer.from(expected, 'hex');
  const ok = typeof presented === 'string' && /^[0-9a-f]{64}$/.test(presented);
  // compare equal-length buffers even when the header is absent or malformed: timing says nothing
  const got = ok ? Buffer.from(presented, 'hex') : Buffer.alloc(want.length);
  return crypto.timingSafeEqual(got, want) && ok;
}

export function isNonce(v: unknown): v is string {
  return typeof v === 'string' && NONCE_RE.test(v);
}

/**
 * One-time nonces with a lifetime and a cap on how many may be outstanding (a peer asking
 * for nonces in a loop cannot grow the coordinator's memory).
 */
export class NonceStore {
  private readonly issued = new Map<string, number>();

  constructor(private readonly ttlMs = 30_000, private readonly max = 1024, private readonly clock: () => number = Date.now) {}

  /** A fresh nonce, or null when `max` are outstanding. */
  issue(): string | null {
    this.expire();
    if (this.issued.size >= this.max) return null;
    const n = newNonce();
    this.issued.set(n, this.clock() + this.ttlMs);
    return n;
  }

  /** True once per issued, unexpired nonce; the nonce is forgotten either way. */
  consume(n: unknown): boolean {
    if (!isNonce(n)) return false;
    const until = this.issued.get(n);
    this.issued.delete(n);
    return until !== undefined && until >= this.clock();
  }

  get outstanding(): number {
    return this.issued.size;
  }

  private expire(): void {
    const t = this.clock();
    for (const [n, until] of this.issued) if (until < t) this.issued.delete(n);
  }
}
