/**
 * connect.ts — the page's subscription to the live record stream of the server that served it
 * (observe/live-server.ts, on DASHBOARD_STREAM_PATH).
 *
 * GET /gradsync/live-info says whether the run needs its token. With a token (typed into the
 * page, or in the URL fragment #token=…, which the browser never sends), the page proves it as
 * `gradsync tail` does, with the same HMACs (net/sha256.ts in place of node:crypto): GET the
 * one-time nonce, open the websocket with the nonce, the proof and a nonce of its own in the
 * query, and check the server's proof in the hello before it reads a record. The token never
 * leaves the page. Every frame after the hello is one record, handed to onRecord.
 */

import { CHALLENGE_PATH, NONCE_RE, proofText } from '../../src/net/challenge-wire';
import { hmacSha256, toHex, utf8 } from '../../src/net/sha256';
import {
  DASHBOARD_STREAM_PATH,
  LIVE_INFO_PATH,
  LIVE_LABELS,
  PROOF_QUERY,
  type LiveHello,
  type LiveInfo,
} from '../../src/observe/live-protocol';

export interface StreamHandlers {
  onHello(hello: LiveHello): void;
  onRecord(rec: Record<string, unknown>): void;
  /** The stream ended: `code` the websocket's close code (1006 when it never opened), `why` for a person. */
  onClose(code: number, why: string, opened: boolean): void;
}

const hmacHex = (token: string, text: string): string => toHex(hmacSha256(utf8(token), utf8(text)));

function randomNonce(): string {
  const b = new Uint8Array(32);
  crypto.getRandomValues(b);
  return toHex(b);
}

/** Whether the server wants a token (GET LIVE_INFO_PATH). */
export async function liveInfo(): Promise<LiveInfo> {
  const r = await fetch(LIVE_INFO_PATH, { cache: 'no-store' });
  if (!r.ok) throw new Error(`the server answered ${r.status} for ${LIVE_INFO_PATH}`);
  return (await r.json()) as LiveInfo;
}

/** Opens the stream; returns a function that closes it. */
export async function openStream(token: string | null, h: StreamHandlers): Promise<() => void> {
  const url = new URL(DASHBOARD_STREAM_PATH, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  let expect: string | null = null;
  if (token !== null) {
    const r = await fetch(CHALLENGE_PATH, { cache: 'no-store' });
    const nonce = (await r.text()).trim();
    if (!r.ok || !NONCE_RE.test(nonce)) throw new Error(`the server gave no challenge (HTTP ${r.status})`);
    const cn = randomNonce();
    url.searchParams.set(PROOF_QUERY.nonce, nonce);
    url.searchParams.set(PROOF_QUERY.proof, hmacHex(token, proofText(LIVE_LABELS.client, nonce)));
    url.searchParams.set(PROOF_QUERY.clientNonce, cn);
    expect = hmacHex(token, proofText(LIVE_LABELS.server, nonce, cn));
  }
  const ws = new WebSocket(url.href);
  let opened = false;
  let hello = false;
  let failed: string | null = null;
  ws.onopen = () => {
    opened = true;
  };
  ws.onmessage = (ev: MessageEvent) => {
    if (failed !== null || typeof ev.data !== 'string') return;
    let v: unknown;
    try {
      v = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (typeof v !== 'object' || v === null) return;
    if (!hello) {
      const hv = v as LiveHello;
      if (hv.gradsyncLive !== 1) failed = 'the server does not speak the gradsync live stream';
      else if (expect !== null && hv.serverProof !== expect)
        failed = 'the server could not prove it holds the token: not reading its stream';
      if (failed !== null) {
        ws.close(1000, 'done');
        return;
      }
      hello = true;
      h.onHello(hv);
      return;
    }
    h.onRecord(v as Record<string, unknown>);
  };
  ws.onclose = (ev: CloseEvent) => {
    const why =
      failed ??
      (opened
        ? ev.reason || `closed (${ev.code})`
        : token !== null
          ? 'the server refused the connection: wrong token?'
          : 'the server refused the connection (it may require a token)');
    h.onClose(failed !== null ? 4000 : ev.code, why, opened && failed === null);
  };
  return () => ws.close(1000, 'page closed');
}
