/**
 * compute.ts — the browser worker's Web Worker: it joins the coordinator that served the page
 * and computes its share of every step with the project's own code (parallel/worker-session.ts,
 * the model, the WebAssembly kernels from the coordinator's dist/wasm/kernels.wasm), so the
 * page's thread stays free. The join, as remote-worker.ts's step 1 but over the browser's
 * WebSocket, which can neither set upgrade headers nor read the 101's:
 *  1. GET the challenge nonce; open JOIN_PATH with the nonce, HMAC(token, nonce) and a nonce of
 *     its own in the query (JOIN_PROOF_QUERY); the token never travels.
 *  2. The coordinator's proof comes in the run message; a run without the right one is left
 *     before anything of it is used.
 * Then steps 2–4 are worker-session.ts's. It reports its state to the page (page-protocol.ts):
 * a change at once, the steps at most every STEP_REPORT_MS (a render of the page per step took
 * CPU from the round trip).
 */
import { CHALLENGE_PATH, NONCE_RE, proofText } from '../../src/net/challenge-wire';
import { hmacSha256, toHex, utf8 } from '../../src/net/sha256';
import { Errors } from '../../src/errors';
import { CLOSE, JOIN_PATH, JOIN_PROOF_QUERY, WORKER_LABELS } from '../../src/parallel/messages';
import { WorkerSession, type WorkerLink } from '../../src/parallel/worker-session';
import { useWasmBytes } from '../../src/tensor/fast/wasm-module';
import { indexedDbCache } from './idb-cache';
import type { StartMessage, StateMessage, WorkerState } from './page-protocol';

const post = (m: StateMessage): void => (self as unknown as { postMessage(m: unknown): void }).postMessage(m);

const hmacHex = (token: string, text: string): string => toHex(hmacSha256(utf8(token), utf8(text)));

function randomNonce(): string {
  const b = new Uint8Array(32);
  crypto.getRandomValues(b);
  return toHex(b);
}

/** Largest frame and dataset this worker accepts, bytes. */
const MAX_FRAME = 256 << 20;
const MAX_DATA = 1 << 30;

const shown: StateMessage = {
  t: 'state',
  state: 'joining',
  why: '',
  executor: null,
  steps: 0,
  share: null,
  samplesPerSec: null,
  dataFromCache: null,
};

/** Least time between two step reports to the page, ms. */
const STEP_REPORT_MS = 250;
let stepReportDue = 0;
let stepTimer: ReturnType<typeof setTimeout> | null = null;

function report(state: WorkerState, why: string): void {
  if (stepTimer !== null) {
    clearTimeout(stepTimer);
    stepTimer = null;
  }
  shown.state = state;
  shown.why = why;
  post({ ...shown });
}

/** A step's report: at once when none went out in the last STEP_REPORT_MS, else the latest one when that time is up. */
function reportStep(why: string): void {
  shown.why = why;
  if (stepTimer !== null) return;
  const now = performance.now();
  if (now >= stepReportDue) {
    stepReportDue = now + STEP_REPORT_MS;
    report('computing', why);
    return;
  }
  stepTimer = setTimeout(() => {
    stepTimer = null;
    stepReportDue = performance.now() + STEP_REPORT_MS;
    report('computing', shown.why);
  }, stepReportDue - now);
}

/** The browser's WebSocket as the session's link (a close code the browser does not allow is sent as 1000, the reason kept). */
function socketLink(ws: WebSocket): WorkerLink {
  return {
    send: (f) => ws.send(f),
    isOpen: () => ws.readyState === WebSocket.OPEN,
    close: (code, reason) => ws.close(code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, reason),
    terminate: () => ws.close(),
  };
}

async function start(token: string | null): Promise<void> {
  report('joining', 'loading the kernels');
  const wr = await fetch('/worker/kernels.wasm');
  if (!wr.ok) throw Errors.io(`the coordinator served no kernels (HTTP ${wr.status})`);
  useWasmBytes(new Uint8Array(await wr.arrayBuffer()));

  const url = new URL(JOIN_PATH, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  let expect: string | null = null;
  if (token !== null) {
    report('joining', 'proving the token');
    const r = await fetch(CHALLENGE_PATH, { cache: 'no-store' });
    const nonce = (await r.text()).trim();
    if (!r.ok || !NONCE_RE.test(nonce)) throw Errors.auth(`the coordinator gave no challenge (HTTP ${r.status})`);
    const cn = randomNonce();
    url.searchParams.set(JOIN_PROOF_QUERY.nonce, nonce);
    url.searchParams.set(JOIN_PROOF_QUERY.proof, hmacHex(token, proofText(WORKER_LABELS.client, nonce)));
    url.searchParams.set(JOIN_PROOF_QUERY.clientNonce, cn);
    expect = hmacHex(token, proofText(WORKER_LABELS.server, nonce, cn));
  }
  report('joining', 'connecting');
  const ws = new WebSocket(url.href);
  ws.binaryType = 'arraybuffer';
  const id = `browser-${randomNonce().slice(0, 12)}`;
  let proofFailed = false;
  let totalSamples = 0;
  let totalMs = 0;
  const session = new WorkerSession(socketLink(ws), {
    id,
    threads: 1,
    kernels: 'wasm',
    limits: { maxBytes: MAX_FRAME, maxDataBytes: MAX_DATA },
    hooks: {},
    cache: indexedDbCache((line) => report(shown.state, line)),
    shared: false,
    checkRun: (r) => {
      if (expect !== null && r.serverProof !== expect) {
        proofFailed = true;
        throw Errors.auth('the coordinator could not prove it holds the token: not joining');
      }
      shown.executor = r.executor;
    },
    say: (line) => {
      if (/receiving dataset/.test(line)) {
        shown.dataFromCache = false;
        report('receiving', line);
      } else if (/from the cache/.test(line)) {
        shown.dataFromCache = true;
        report(shown.state, line);
      } else if (/ready for run/.test(line)) report('computing', line);
    },
    onStep: (s) => {
      totalSamples += s.samples;
      totalMs += s.computeMs;
      shown.steps++;
      shown.share = s.total > 0 ? s.samples / s.total : null;
      shown.samplesPerSec = totalMs > 0 ? (totalSamples * 1000) / totalMs : null;
      reportStep(`step ${s.step}`);
    },
  });
  let opened = false;
  ws.onopen = () => {
    opened = true;
    session.hello(location.host);
  };
  ws.onmessage = (ev: MessageEvent) => {
    const bin = ev.data instanceof ArrayBuffer;
    session.receive(bin ? new Uint8Array(ev.data as ArrayBuffer) : new Uint8Array(0), bin);
  };
  ws.onclose = (ev: CloseEvent) => {
    void session.queue.then(() => {
      const err = session.exit.error;
      if (!opened)
        report(
          'refused',
          token !== null
            ? 'the coordinator refused the join: wrong token (or the run is full)'
            : 'the coordinator refused the join: it may require a token',
        );
      else if (proofFailed) report('refused', 'the coordinator could not prove it holds the token: not joining');
      else if (err !== null && session.run === null) report('refused', `${err.code}: ${err.message}`);
      else if (err !== null && ev.code !== CLOSE.goingAway) report('disconnected', `${err.code}: ${err.message}`);
      else
        report('disconnected', ev.code === CLOSE.goingAway ? 'the run ended' : `closed (${ev.code}${ev.reason ? `: ${ev.reason}` : ''})`);
    });
  };
}

self.onmessage = (ev: MessageEvent) => {
  const m = ev.data as StartMessage;
  if (m?.t !== 'start') return;
  start(m.token).catch((e: Error) => report('refused', e.message));
};
