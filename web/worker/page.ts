/**
 * page.ts — the browser worker page's own thread: it takes the token (the URL fragment
 * #token=…, which the browser never sends, or the field), starts the Web Worker (compute.ts)
 * that joins and computes, and shows what it reports: its state, why, its share, samples/s.
 * It computes nothing. The token is dropped from the address bar once read.
 */
import { WORKER_INFO_PATH } from '../../src/parallel/messages';
import type { StartMessage, StateMessage } from './page-protocol';

const q = (id: string): HTMLElement => document.getElementById(id)!;

/** What the page shows, for a person and for the tests (window.gradsyncWorker). */
const view: { state: StateMessage | null } = { state: null };
(window as unknown as { gradsyncWorker: typeof view }).gradsyncWorker = view;

function show(s: StateMessage): void {
  view.state = s;
  document.body.dataset.state = s.state;
  q('state').textContent = s.state;
  q('why').textContent = s.why;
  q('executor').textContent = s.executor ?? '–';
  q('steps').textContent = String(s.steps);
  q('share').textContent = s.share === null ? '–' : `${(100 * s.share).toFixed(1)} %`;
  q('rate').textContent = s.samplesPerSec === null ? '–' : s.samplesPerSec.toFixed(0);
  q('data').textContent = s.dataFromCache === null ? '–' : s.dataFromCache ? 'from this browser’s cache' : 'downloaded';
}

function refused(why: string): void {
  show({ t: 'state', state: 'refused', why, executor: null, steps: 0, share: null, samplesPerSec: null, dataFromCache: null });
}

function join(token: string | null): void {
  const w = new Worker('/worker/compute.js');
  w.onmessage = (ev: MessageEvent) => show(ev.data as StateMessage);
  w.onerror = (ev: ErrorEvent) => refused(`the worker failed: ${ev.message}`);
  w.postMessage({ t: 'start', token } satisfies StartMessage);
}

function fragmentToken(): string | null {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m === null) return null;
  // the token stays out of the address bar, its history and any screenshot of the page
  history.replaceState(null, '', location.pathname + location.search);
  return decodeURIComponent(m[1]!);
}

async function main(): Promise<void> {
  const token = fragmentToken();
  const r = await fetch(WORKER_INFO_PATH, { cache: 'no-store' });
  if (!r.ok) {
    refused(`the coordinator answered ${r.status} for ${WORKER_INFO_PATH}`);
    return;
  }
  const info = (await r.json()) as { authRequired: boolean };
  if (!info.authRequired) {
    join(null);
    return;
  }
  if (token !== null && token !== '') {
    join(token);
    return;
  }
  const form = q('token-form') as HTMLFormElement;
  form.hidden = false;
  q('why').textContent = 'this run needs its token';
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const t = (q('token') as HTMLInputElement).value;
    if (t === '') return;
    form.hidden = true;
    join(t);
  };
}

main().catch((e: Error) => refused(e.message));
