/** remote-helpers.ts — a small coordinator and raw websocket peers for the remote tests. */
import * as http from 'node:http';
import { WebSocket } from 'ws';
import { AUTH_HEADERS, newNonce, workerProof } from '../../src/parallel/auth';
import { startCoordinator, type Coordinator, type CoordinatorOptions } from '../../src/parallel/coordinator-server';
import { CHALLENGE_PATH, JOIN_PATH } from '../../src/parallel/messages';
import type { ModelSpec } from '../../src/model/spec';
import { loadDigits } from '../../src/data/datasets';
import type pino from 'pino';

export const SPEC: ModelSpec = {
  inputs: 64,
  layers: [
    { units: 16, activation: 'tanh' },
    { units: 10, activation: 'softmax' },
  ],
  loss: 'cross-entropy',
  dtype: 'float32',
};

export function smallCoordinator(logger: pino.Logger, extra: Partial<CoordinatorOptions> = {}): Promise<Coordinator> {
  const data = loadDigits({ dtype: 'float32' });
  return startCoordinator({ host: '127.0.0.1', port: 0, run: 'test-run', spec: SPEC, microBatch: 8, data, logger, ...extra });
}

export function getNonce(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: CHALLENGE_PATH }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => {
          b += c.toString('latin1');
        });
        res.on('end', () => resolve(b));
      })
      .on('error', reject);
  });
}

/** A raw websocket peer that passed authentication (when a token is given). */
export async function rawPeer(port: number, token?: string, options: { autoPong?: boolean } = {}): Promise<WebSocket> {
  const headers: Record<string, string> = {};
  if (token !== undefined) {
    const n = await getNonce(port);
    headers[AUTH_HEADERS.nonce] = n;
    headers[AUTH_HEADERS.proof] = workerProof(token, n);
    headers[AUTH_HEADERS.clientNonce] = newNonce();
  }
  const ws = new WebSocket(`ws://127.0.0.1:${port}${JOIN_PATH}`, { headers, perMessageDeflate: false, ...options });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return ws;
}

export function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** Resolves once `pred` holds for some record (polls). */
export async function until(pred: () => boolean, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
