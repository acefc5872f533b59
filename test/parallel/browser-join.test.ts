/**
 * The worker listener's side of the browser worker (join-gate.ts): the page's files with their
 * Content Security Policy, a browser request from another site's page refused, a non-loopback
 * Host refused without a token (DNS rebinding), and a join whose
 * token proof is in the upgrade's query getting the coordinator's proof in the run message.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { unpack } from 'msgpackr';
import { WebSocket } from 'ws';
import { coordinatorProof, newNonce, workerProof } from '../../src/parallel/auth';
import { encodeMessage } from '../../src/parallel/codec-messages';
import { JOIN_PATH, PROTOCOL_VERSION, WORKER_INFO_PATH, WORKER_PAGE_PATH } from '../../src/parallel/messages';
import { WASM_PAGE_CSP } from '../../src/net/static-pages';
import { KERNEL_SPEC_VERSION } from '../../src/tensor/kernels';
import { collectingLogger } from '../helpers/log-sink';
import { getNonce, smallCoordinator } from './remote-helpers';

const TOKEN = 'browser-join-token';
const pages = new Map([[WORKER_PAGE_PATH, { type: 'text/html', body: Buffer.from('<p>worker</p>'), csp: WASM_PAGE_CSP }]]);

function get(
  port: number,
  p: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, headers }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

describe('join-gate: the browser worker', () => {
  it('serves /worker with a CSP that allows only its own origin and WebAssembly, and says a token is needed', async () => {
    const c = await smallCoordinator(collectingLogger().logger, { token: TOKEN, pages });
    try {
      const r = await get(c.port, WORKER_PAGE_PATH);
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-security-policy'], WASM_PAGE_CSP);
      assert.match(WASM_PAGE_CSP, /default-src 'none'/);
      const info = await get(c.port, WORKER_INFO_PATH);
      assert.deepEqual(JSON.parse(info.body), { authRequired: true });
    } finally {
      await c.close();
    }
  });

  it("refuses (403) a browser request made by another site's page", async () => {
    const c = await smallCoordinator(collectingLogger().logger, { token: TOKEN, pages });
    try {
      const r = await get(c.port, WORKER_PAGE_PATH, { Origin: 'http://evil.example' });
      assert.equal(r.status, 403);
    } finally {
      await c.close();
    }
  });

  it('without a token, refuses (403) a request or an upgrade to a host name that is not loopback (DNS rebinding), and serves loopback names', async () => {
    const { logger, lines } = collectingLogger();
    const c = await smallCoordinator(logger, { pages });
    try {
      for (const host of [`attacker.example:${c.port}`, `10.0.0.7:${c.port}`]) {
        assert.equal((await get(c.port, WORKER_PAGE_PATH, { Host: host })).status, 403, host);
        const ws = new WebSocket(`ws://127.0.0.1:${c.port}${JOIN_PATH}`, { headers: { Host: host } });
        const status = await new Promise<number>((resolve, reject) => {
          ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
          ws.on('open', () => reject(new Error(`an upgrade with Host ${host} was admitted`)));
          ws.on('error', () => undefined);
        });
        assert.equal(status, 403, `upgrade with Host ${host}`);
      }
      for (const host of [`127.0.0.1:${c.port}`, `localhost:${c.port}`, `[::1]:${c.port}`])
        assert.equal((await get(c.port, WORKER_PAGE_PATH, { Host: host })).status, 200, host);
      assert.ok(
        lines.some((l) => l.includes('remote: join refused (403)')),
        'the refused upgrade is logged',
      );
    } finally {
      await c.close();
    }
  });

  it("admits a join whose proof is in the upgrade's query and puts the coordinator's proof in the run message", async () => {
    const c = await smallCoordinator(collectingLogger().logger, { token: TOKEN, pages });
    try {
      const nonce = await getNonce(c.port);
      const cn = newNonce();
      const q = new URLSearchParams({ nonce, proof: workerProof(TOKEN, nonce), cnonce: cn });
      const ws = new WebSocket(`ws://127.0.0.1:${c.port}${JOIN_PATH}?${q.toString()}`, { perMessageDeflate: false });
      const run = new Promise<Record<string, unknown>>((resolve, reject) => {
        ws.on('message', (d: Buffer) => resolve(unpack(d) as Record<string, unknown>));
        ws.on('error', reject);
      });
      await new Promise((r) => ws.once('open', r));
      ws.send(
        encodeMessage({
          t: 'hello',
          v: PROTOCOL_VERSION,
          id: 'b1',
          kernelSpec: KERNEL_SPEC_VERSION,
          profiles: ['portable'],
          dtypes: ['float32', 'float64'],
          threads: 1,
        } as never),
      );
      const m = await run;
      if (m.t === 'run') assert.equal(m.serverProof, coordinatorProof(TOKEN, nonce, cn));
      else assert.fail(`expected the run message, got ${JSON.stringify(m).slice(0, 200)}`);
      ws.terminate();
    } finally {
      await c.close();
    }
  });
});
