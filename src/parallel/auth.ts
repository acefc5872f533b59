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
  return crypto
    .createHmac('sha256', token)
    .update(`${label}\n${parts.join('\n')}`, 'utf8')
    .digest();
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
 * One-time nonces with a lifetime and caps on how many may be outstanding, so a peer asking
 * for nonces in a loop can neither grow the coordinator's memory nor lock others out: past
 * `perPeer` outstanding for one address, that address's oldest is forgotten; past `max` in
 * all, the oldest of all. A worker answers its nonce within a round trip, so only a flood of
 * more than `perPeer` requests from its own address (or `max` from everywhere) inside that
 * round trip can cost it its nonce (it then asks again: `--retry`). `perPeer` is generous
 * because honest workers share addresses too (NAT, one machine's several workers: the
 * hostile-peer test's crowd of 77 joins from 127.0.0.1 at once).
 */
export class NonceStore {
  /** Nonce → its expiry and the address it went to, oldest first (a Map keeps insertion order). */
  private readonly issued = new Map<string, { until: number; peer: string }>();
  private readonly perAddress = new Map<string, string[]>();

  constructor(
    private readonly ttlMs = 30_000,
    private readonly max = 4096,
    private readonly clock: () => number = Date.now,
    private readonly perPeer = 256,
  ) {}

  /** A fresh nonce for `peer` (the requester's address), making room as the class comment says. */
  issue(peer = ''): string {
    this.expire();
    const mine = this.perAddress.get(peer);
    if (mine !== undefined && mine.length >= this.perPeer) this.forget(mine[0]!);
    if (this.issued.size >= this.max) this.forget(this.issued.keys().next().value!);
    const n = newNonce();
    this.issued.set(n, { until: this.clock() + this.ttlMs, peer });
    const list = this.perAddress.get(peer);
    if (list === undefined) this.perAddress.set(peer, [n]);
    else list.push(n);
    return n;
  }

  /** True once per issued, unexpired nonce; the nonce is forgotten either way. */
  consume(n: unknown): boolean {
    if (!isNonce(n)) return false;
    const e = this.issued.get(n);
    if (e === undefined) return false;
    this.forget(n);
    return e.until >= this.clock();
  }

  get outstanding(): number {
    return this.issued.size;
  }

  private forget(n: string): void {
    const e = this.issued.get(n);
    if (e === undefined) return;
    this.issued.delete(n);
    const list = this.perAddress.get(e.peer)!;
    list.splice(list.indexOf(n), 1);
    if (list.length === 0) this.perAddress.delete(e.peer);
  }

  private expire(): void {
    const t = this.clock();
    // oldest first, and every nonce has the same lifetime: stop at the first live one
    for (const [n, e] of this.issued) {
      if (e.until >= t) break;
      this.forget(n);
    }
  }
}
