/**
 * The live server's dashboard side: the pages over HTTP, the dashboard subscription (the whole
 * run, decimated; steps skipped while it is behind), a browser's proof in the query, and the
 * Origin and Host checks. Real sockets on 127.0.0.1, port 0.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import { WebSocket, type RawData } from 'ws';
import { CHALLENGE_PATH, clientProof, newNonce, serverProof } from '../../src/net/challenge';
import { PAGE_CSP } from '../../src/net/static-pages';
import { DASHBOARD_STREAM_PATH, LIVE_INFO_PATH, PROOF_QUERY, type LiveHello } from '../../src/observe/live-protocol';
import { LIVE_LABELS, startLiveServer, type LiveServer } from '../../src/observe/live-server';

function collecting(): { logger: pino.Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) records.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), records };
}

function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

/** Opens a websocket and collects its text frames until it closes (or `until` says enough); rejects with the HTTP status of a refusal. */
function subscribe(
  url: string,
  opts: { headers?: Record<string, string>; origin?: string; until?: (frames: Record<string, unknown>[]) => boolean } = {},
): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: opts.headers ?? {}, ...(opts.origin ? { origin: opts.origin } : {}) });
    const frames: Record<string, unknown>[] = [];
    ws.on('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.on('error', (e) => reject(e));
    ws.on('message', (d: RawData) => {
      frames.push(JSON.parse(String(d)) as Record<string, unknown>);
      if (opts.until?.(frames)) ws.close();
    });
    ws.on('close', () => resolve(frames));
  });
}

const step = (s: number, pad = 0): object => ({
  msg: 'step',
  schema: 1,
  run: 'r',
  step: s,
  loss: 1 / s,
  diagnosis: { states: ['ok'] },
  layers: [],
  pad: 'x'.repeat(pad),
});

describe('observe/live-server: the dashboard', () => {
  let server: LiveServer | null = null;
  afterEach(async () => {
    await server?.close();
    server = null;
  });

  const pages = new Map([
    ['/', { type: 'text/html; charset=utf-8', body: Buffer.from('<!doctype html><p>page') }],
    ['/dashboard.js', { type: 'text/javascript; charset=utf-8', body: Buffer.from('void 0') }],
  ]);

  it('serves its pages with a policy that keeps them to this server, says whether a token is needed, and answers 426 to anything else', async () => {
    server = await startLiveServer({ host: '127.0.0.1', port: 0, pages });
    const page = await get(server.port, '/');
    assert.equal(page.status, 200);
    assert.equal(page.body, '<!doctype html><p>page');
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(page.headers['content-security-policy'], PAGE_CSP);
    assert.match(PAGE_CSP, /default-src 'none'/);
    assert.match(PAGE_CSP, /connect-src 'self'/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.equal((await get(server.port, '/dashboard.js')).body, 'void 0');
    assert.deepEqual(JSON.parse((await get(server.port, LIVE_INFO_PATH)).body), { gradsyncLive: 1, authRequired: false });
    assert.equal((await get(server.port, '/other')).status, 426);
    // a name re-pointed at 127.0.0.1 (DNS rebinding) reaches nothing on a server without a token
    assert.equal((await get(server.port, '/', { Host: 'evil.example:80' })).status, 421);
  });

  it('sends a dashboard the start record and the whole run, where the tail stream replays only its last records', async () => {
    server = await startLiveServer({ host: '127.0.0.1', port: 0, history: 3 });
    server.publish({ msg: 'start', schema: 1, run: 'r' });
    server.publish({ msg: 'eval', schema: 1, run: 'r', epoch: 0 });
    for (let s = 1; s <= 40; s++) server.publish(step(s));
    server.publish({ msg: 'monitor: subscriber connected', schema: 1 });
    const base = `ws://127.0.0.1:${server.port}`;
    const dash = await subscribe(`${base}${DASHBOARD_STREAM_PATH}`, {
      until: (f) => f.length === 1 + (f[0] as unknown as LiveHello).history,
    });
    const hello = dash[0] as unknown as LiveHello;
    assert.deepEqual(hello.steps, { seen: 40, sent: 40 });
    assert.deepEqual(
      dash.slice(1).map((r) => (r.msg === 'step' ? r.step : r.msg)),
      ['start', 'eval', ...Array.from({ length: 40 }, (_, i) => i + 1)],
      "the server's own records are not replayed",
    );
    const tail = await subscribe(base, { until: (f) => f.length === 1 + (f[0] as unknown as LiveHello).history });
    assert.deepEqual(
      tail.slice(1).map((r) => (r.msg === 'step' ? r.step : r.msg)),
      ['start', 38, 39, 40],
    );
  });

  it('skips step records for a dashboard that is behind, never the others, and keeps it connected; a tail subscriber gets every record', async function () {
    this.timeout(60_000);
    server = await startLiveServer({ host: '127.0.0.1', port: 0, maxBufferedBytes: 2 ** 30, dashboardSkipBytes: 64 * 1024 });
    const url = `ws://127.0.0.1:${server.port}`;
    const open = (path: string): Promise<{ ws: WebSocket; frames: Record<string, unknown>[] }> =>
      new Promise((resolve) => {
        const ws = new WebSocket(url + path);
        const frames: Record<string, unknown>[] = [];
        ws.on('message', (d: RawData) => frames.push(JSON.parse(String(d)) as Record<string, unknown>));
        ws.on('open', () => resolve({ ws, frames }));
      });
    const dash = await open(DASHBOARD_STREAM_PATH);
    const tail = await open('/');
    await new Promise((r) => setTimeout(r, 100)); // both hellos in
    dash.ws.pause();
    tail.ws.pause();
    const n = 400;
    for (let s = 1; s <= n; s++) server.publish(step(s, 100_000));
    server.publish({ msg: 'eval', schema: 1, run: 'r', epoch: 0 });
    server.publish(step(n + 1));
    dash.ws.resume();
    tail.ws.resume();
    const settle = async (f: Record<string, unknown>[], last: (r: Record<string, unknown>) => boolean): Promise<void> => {
      for (let i = 0; i < 600 && !f.some(last); i++) await new Promise((r) => setTimeout(r, 50));
    };
    await settle(dash.frames, (r) => r.msg === 'eval');
    await settle(tail.frames, (r) => r.step === n + 1);
    const dashSteps = dash.frames.filter((r) => r.msg === 'step').length;
    assert.ok(
      dash.frames.some((r) => r.msg === 'eval'),
      'the evaluation record reached the dashboard',
    );
    assert.ok(dashSteps < n, `steps were skipped for the dashboard (${dashSteps} of ${n + 1})`);
    assert.equal(dash.ws.readyState, WebSocket.OPEN, 'and it is still connected');
    assert.equal(tail.frames.filter((r) => r.msg === 'step').length, n + 1, 'the tail subscriber got every step');
    dash.ws.close();
    tail.ws.close();
  });

  it("accepts a browser's proof in the upgrade's query and puts the server's proof in the hello; refuses a wrong one with 401 and a record", async () => {
    const { logger, records } = collecting();
    const token = 'browser-token-9f8e';
    server = await startLiveServer({ host: '127.0.0.1', port: 0, token, logger });
    assert.deepEqual(JSON.parse((await get(server.port, LIVE_INFO_PATH)).body), { gradsyncLive: 1, authRequired: true });
    const query = async (tok: string): Promise<{ url: string; expect: string }> => {
      const nonce = (await get(server!.port, CHALLENGE_PATH)).body;
      const cn = newNonce();
      const q = new URLSearchParams({
        [PROOF_QUERY.nonce]: nonce,
        [PROOF_QUERY.proof]: clientProof(LIVE_LABELS, tok, nonce),
        [PROOF_QUERY.clientNonce]: cn,
      });
      return { url: `ws://127.0.0.1:${server!.port}${DASHBOARD_STREAM_PATH}?${q}`, expect: serverProof(LIVE_LABELS, token, nonce, cn) };
    };
    const ok = await query(token);
    const frames = await subscribe(ok.url, { until: () => true });
    assert.equal((frames[0] as unknown as LiveHello).serverProof, ok.expect);
    await assert.rejects(subscribe((await query('not-the-token')).url), /HTTP 401/);
    await assert.rejects(subscribe(ok.url), /HTTP 401/, 'a nonce is good once');
    const refused = records.filter((r) => r.msg === 'monitor: subscriber refused (401)').map((r) => r.reason);
    assert.deepEqual(refused, ['wrong token', 'unknown or expired nonce']);
    assert.ok(!JSON.stringify(records).includes(token), 'the token is in no record');
  });

  it("refuses with 403 an upgrade from another site's page (Origin) and, without a token, one to a name that is not loopback", async () => {
    const { logger, records } = collecting();
    server = await startLiveServer({ host: '127.0.0.1', port: 0, logger });
    const url = `ws://127.0.0.1:${server.port}${DASHBOARD_STREAM_PATH}`;
    await assert.rejects(subscribe(url, { origin: 'http://evil.example' }), /HTTP 403/);
    await assert.rejects(subscribe(url, { headers: { Host: 'evil.example' } }), /HTTP 403/);
    const same = await subscribe(url, { origin: `http://127.0.0.1:${server.port}`, until: () => true });
    assert.equal(same[0]!.gradsyncLive, 1, 'the page of this very server is served');
    assert.deepEqual(
      records.filter((r) => r.msg === 'monitor: subscriber refused (403)').map((r) => [r.reason, r.origin]),
      [
        ['cross-origin request', 'http://evil.example'],
        ['not a loopback host name', null],
      ],
    );
  });
});
