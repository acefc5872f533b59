/**
 * ws-serve.ts — the two pieces every gradsync websocket server shares: the heartbeat and
 * listening with a clear error. Used by the live record stream (live-server.ts) and the
 * coordinator's worker server (parallel/coordinator-server.ts); it lives in observe/ because
 * that is the lowest layer with a server, and parallel/ may import it.
 * Not here: authentication, messages.
 */

import type * as http from 'node:http';
import type * as net from 'node:net';
import type { WebSocket, WebSocketServer } from 'ws';
import { Errors } from '../errors';

/**
 * The ws README's heartbeat: a ping every interval; a socket that did not answer the previous
 * ping is passed to `onMissed` and terminated, so a dead peer is gone within two intervals.
 * Call `track(ws)` on each new connection.
 */
export function startHeartbeat(wss: WebSocketServer, intervalMs: number, onMissed: (ws: WebSocket) => void): { track(ws: WebSocket): void; stop(): void } {
  const alive = new WeakMap<WebSocket, boolean>();
  const timer = setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) {
        onMissed(ws);
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, intervalMs);
  timer.unref();
  return {
    track(ws) {
      alive.set(ws, true);
      ws.on('pong', () => alive.set(ws, true));
    },
    stop() {
      clearInterval(timer);
    },
  };
}

/** Listens on host:port; resolves with the actual port; rejects with GS_ERR_IO naming `what`. */
export function listenOn(server: http.Server, host: string, port: number, what: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(Errors.io(`${what} cannot listen on ${host}:${port}: ${err.code ?? err.message}`, err.code === 'EADDRINUSE' ? 'choose another port (0 picks a free one)' : undefined));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}
