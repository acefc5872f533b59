/**
 * challenge-client.ts — the client's half of challenge.ts, shared by the remote worker
 * (parallel/remote-worker.ts) and the live stream's subscriber (observe/live-client.ts): fetch
 * the one-time nonce, build the upgrade's proof headers and the proof the 101 must carry, and
 * name a TLS certificate the client does not trust.
 * Not here: the proofs themselves (challenge.ts), the websocket.
 */

import * as http from 'node:http';
import * as https from 'node:https';
import { Errors } from '../errors';
import { AUTH_HEADERS, CHALLENGE_PATH, clientProof, newNonce, serverProof, type ProofLabels } from './challenge';

/** OpenSSL's verification failures that a --ca certificate resolves (Node's err.code). */
const TLS_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
]);

/** For an error whose code is a certificate this client does not trust: the note that says which flag fixes it; else null. */
export function untrustedNote(e: NodeJS.ErrnoException, who: string): string | null {
  return e.code !== undefined && TLS_TRUST_CODES.has(e.code)
    ? `${who}'s TLS certificate is not trusted here (${e.code}: ${e.message}); give its certificate (or its CA's) with --ca FILE`
    : null;
}

/**
 * GETs a one-time nonce from the server at `base` (ws:// → http://, wss:// → https://).
 * Rejects with GS_ERR_AUTH when the answer is not a nonce, GS_ERR_IO when the server cannot
 * be reached (naming `who`, and --ca when its certificate is not trusted).
 */
export function fetchNonce(base: URL, ca: string | Buffer | undefined, who: string, signal?: AbortSignal): Promise<string> {
  const u = new URL(CHALLENGE_PATH, base);
  u.protocol = base.protocol === 'wss:' ? 'https:' : 'http:';
  const get = u.protocol === 'https:' ? https.get : http.get;
  return new Promise<string>((resolve, reject) => {
    // agent: false — one request, its connection closed after the answer rather than kept alive
    const req = get(u, { agent: false, timeout: 10_000, ...(ca !== undefined ? { ca } : {}), ...(signal ? { signal } : {}) }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => {
        body += c;
        if (body.length > 256) req.destroy(new Error('challenge answer too long'));
      });
      res.on('end', () => {
        if (res.statusCode !== 200) reject(Errors.auth(`${who} gave no challenge (HTTP ${res.statusCode})`));
        else if (!/^[0-9a-f]{64}$/.test(body)) reject(Errors.auth(`${who}'s challenge is malformed`));
        else resolve(body);
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (signal?.aborted) {
        reject(e);
        return;
      }
      const tls = untrustedNote(e, who);
      reject(Errors.io(`cannot reach ${who} at ${u.host}${tls !== null ? `: ${tls}` : `: ${e.code ?? e.message}`}`));
    });
  });
}

/**
 * The upgrade request's proof headers (the server's nonce, the proof over it, a nonce of the
 * client's own) and the server proof its 101 must carry. The token is in neither.
 */
export async function proveToken(
  base: URL,
  token: string,
  labels: ProofLabels,
  ca: string | Buffer | undefined,
  who: string,
  signal?: AbortSignal,
): Promise<{ headers: Record<string, string>; expect: string }> {
  const nonce = await fetchNonce(base, ca, who, signal);
  const cn = newNonce();
  return {
    headers: {
      [AUTH_HEADERS.nonce]: nonce,
      [AUTH_HEADERS.proof]: clientProof(labels, token, nonce),
      [AUTH_HEADERS.clientNonce]: cn,
    },
    expect: serverProof(labels, token, nonce, cn),
  };
}
