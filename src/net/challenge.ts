/**
 * challenge.ts — the shared-token challenge–response (HMAC-SHA256) of both servers: the worker
 * listener (parallel/join-gate.ts) and the live record stream (observe/live-server.ts).
 *
 * The token never travels: the server hands out a one-time random nonce (HTTP GET on
 * CHALLENGE_PATH); the client answers in its upgrade request with
 *   proof = HMAC-SHA256(token, labels.client ‖ "\n" ‖ nonce)
 * and its own random nonce; the server checks the proof in constant time
 * (crypto.timingSafeEqual over equal-length digests), forgets the nonce (no replay), and
 * answers the upgrade with
 *   serverProof = HMAC-SHA256(token, labels.server ‖ "\n" ‖ nonce ‖ "\n" ‖ clientNonce)
 * so the client knows the server holds the token too. Each service has labels of its own, and
 * the two labels of one service differ: no proof made for one purpose is accepted for another
 * (a subscriber's proof cannot join a worker, a server's cannot pass as a client's).
 * Not here: the HTTP and websocket plumbing (the servers; challenge-client.ts for the clients).
 */

import * as crypto from 'node:crypto';
import { AUTH_HEADERS, NONCE_RE, proofText, type ProofLabels } from './challenge-wire';

export { AUTH_HEADERS, CHALLENGE_PATH, type ProofLabels } from './challenge-wire';

export function newNonce(): string {
  return crypto.randomBytes(32).toString('hex');
}

export function isNonce(v: unknown): v is string {
  return typeof v === 'string' && NONCE_RE.test(v);
}

function hmac(token: string, label: string, ...parts: string[]): string {
  return crypto
    .createHmac('sha256', token)
    .update(proofText(label, ...parts), 'utf8')
    .digest('hex');
}

/** The client's proof for a server nonce (hex). */
export function clientProof(labels: ProofLabels, token: string, nonce: string): string {
  return hmac(token, labels.client, nonce);
}

/** The server's proof over both nonces (hex). */
export function serverProof(labels: ProofLabels, token: string, nonce: string, clientNonce: string): string {
  return hmac(token, labels.server, nonce, clientNonce);
}

/** Constant-time comparison of a presented hex proof with the expected one. */
export function proofMatches(presented: unknown, expected: string): boolean {
  const want = Buffer.from(expected, 'hex');
  const ok = typeof presented === 'string' && /^[0-9a-f]{64}$/.test(presented);
  // compare equal-length buffers even when the header is absent or malformed: timing says nothing
  const got = ok ? Buffer.from(presented, 'hex') : Buffer.alloc(want.length);
  return crypto.timingSafeEqual(got, want) && ok;
}

/**
 * The server's check of an upgrade request's headers against its nonce store: ok with the
 * server's proof for the 101, or the reason to refuse it. The nonce is consumed either way (one
 * attempt per nonce, right or wrong). A refused request that carries an Authorization header is
 * named for it: a client that sends its token instead of proving it (never read here).
 */
export function checkClientProof(
  headers: Record<string, string | string[] | undefined>,
  nonces: NonceStore,
  labels: ProofLabels,
  token: string,
): { ok: true; serverProof: string } | { ok: false; reason: string } {
  const nonce = headers[AUTH_HEADERS.nonce];
  const proof = headers[AUTH_HEADERS.proof];
  const cn = headers[AUTH_HEADERS.clientNonce];
  const fresh = nonces.consume(nonce);
  const ok = proofMatches(proof, clientProof(labels, token, isNonce(nonce) ? nonce : '')) && fresh && isNonce(cn);
  if (ok) return { ok: true, serverProof: serverProof(labels, token, nonce as string, cn as string) };
  const reason =
    headers.authorization !== undefined
      ? 'credentials sent in clear (Authorization header)'
      : proof === undefined
        ? 'no token proof'
        : !fresh
          ? 'unknown or expired nonce'
          : !isNonce(cn)
            ? 'no client nonce'
            : 'wrong token';
  return { ok: false, reason };
}

/**
 * One-time nonces with a lifetime and caps on how many may be outstanding, so a peer asking
 * for nonces in a loop can neither grow the server's memory nor lock others out: past
 * `perPeer` outstanding for one address, that address's oldest is forgotten; past `max` in
 * all, the oldest of all. A client answers its nonce within a round trip, so only a flood of
 * more than `perPeer` requests from its own address (or `max` from everywhere) inside that
 * round trip can cost it its nonce (it then asks again: `--retry`). `perPeer` is generous
 * because honest clients share addresses too (NAT, one machine's several workers: the
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
