/**
 * live-protocol.ts — the live record stream's protocol constants and its first frame, with no
 * Node import: shared by the server (live-server.ts), the Node client (live-client.ts) and the
 * dashboard page (web/dashboard/, bundled for the browser).
 */

import type { ProofLabels } from '../net/challenge-wire';

/** The HMAC labels of a subscription: distinct from the workers' (parallel/auth.ts). */
export const LIVE_LABELS: ProofLabels = { client: 'gradsync-monitor-subscriber-v1', server: 'gradsync-monitor-v1' };

/** The prefix of the live server's own records' msg. */
export const LIVE_MSG_PREFIX = 'monitor: ';

/**
 * The websocket path of a dashboard subscription: its snapshot is the whole run, decimated
 * (dash-history.ts), rather than the last records; anything else upgrades to the tail stream.
 */
export const DASHBOARD_STREAM_PATH = '/gradsync/dashboard';

/**
 * Query parameters that stand for the proof headers (net/challenge-wire.ts AUTH_HEADERS) on an
 * upgrade request: a browser's WebSocket cannot set headers. The server then puts its own proof
 * in the hello frame (LiveHello.serverProof), since a page cannot read the 101's headers either.
 */
export const PROOF_QUERY = { nonce: 'nonce', proof: 'proof', clientNonce: 'cnonce' } as const;

/** The first frame a subscriber receives. */
export interface LiveHello {
  gradsyncLive: 1;
  /** Records of the snapshot that follow. */
  history: number;
  /** Present when the proof came in the query: the server's proof over both nonces (hex). */
  serverProof?: string;
  /** Dashboard subscriptions: step records seen in all, and how many of them the snapshot holds. */
  steps?: { seen: number; sent: number };
}

/** GET: the server's LiveInfo as JSON (for the page: whether to ask for the token). */
export const LIVE_INFO_PATH = '/gradsync/live-info';

export interface LiveInfo {
  gradsyncLive: 1;
  authRequired: boolean;
}
