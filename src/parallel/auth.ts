/**
 * auth.ts — the remote workers' use of the shared-token challenge–response (net/challenge.ts):
 * their HMAC labels, and the proofs made with them.
 *
 *   proof       = HMAC-SHA256(token, "gradsync-worker-v1\n" ‖ nonce)
 *   serverProof = HMAC-SHA256(token, "gradsync-coordinator-v1\n" ‖ nonce ‖ "\n" ‖ clientNonce)
 *
 * The live record stream has labels of its own (observe/live-server.ts), so no proof a
 * subscriber makes can join a worker.
 * Not here: the HTTP and websocket plumbing (join-gate.ts, remote-worker.ts).
 */

import { clientProof, serverProof } from '../net/challenge';
import { WORKER_LABELS } from './messages';

export { AUTH_HEADERS, isNonce, newNonce, NonceStore, proofMatches } from '../net/challenge';

export { WORKER_LABELS };

/** The worker's proof for a coordinator nonce (hex). */
export function workerProof(token: string, nonce: string): string {
  return clientProof(WORKER_LABELS, token, nonce);
}

/** The coordinator's proof over both nonces (hex). */
export function coordinatorProof(token: string, nonce: string, clientNonce: string): string {
  return serverProof(WORKER_LABELS, token, nonce, clientNonce);
}
