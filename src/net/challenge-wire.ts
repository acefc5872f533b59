/**
 * challenge-wire.ts — what a client of challenge.ts must know to prove a token, and nothing that
 * needs Node: the header names, the challenge path, the labels' type and the exact text each
 * HMAC is taken over. challenge.ts (the servers, node:crypto) and the dashboard page (sha256.ts,
 * in the browser) both build their proofs from proofText, so the two cannot drift apart.
 */

/** Upgrade request / response headers of the handshake (lower case, as node delivers them). */
export const AUTH_HEADERS = {
  nonce: 'x-gradsync-nonce',
  proof: 'x-gradsync-proof',
  clientNonce: 'x-gradsync-client-nonce',
  serverProof: 'x-gradsync-server-proof',
} as const;

/** The path of the one-time challenge nonce (HTTP GET), on either server. */
export const CHALLENGE_PATH = '/gradsync/challenge';

/** The two HMAC labels of one service: the client's proof and the server's answer. */
export interface ProofLabels {
  readonly client: string;
  readonly server: string;
}

/** The text an HMAC of the handshake is taken over: the label, then each part, newline-separated. */
export const proofText = (label: string, ...parts: string[]): string => `${label}\n${parts.join('\n')}`;

/** A nonce of the handshake: 32 random bytes as lower-case hex. */
export const NONCE_RE = /^[0-9a-f]{64}$/;
