import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { WebSocketServer } from 'ws';
import { GradsyncError } from '../../src/errors';
import { closeServers, listenOn, refuse } from '../../src/net/ws-serve';

/** Everything the server sends on one raw connection, until it closes it. */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      got += d;
    });
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

describe('ws-serve (what both servers share)', () => {
  it('listenOn resolves with the port picked, and rejects a taken port with GS_ERR_IO naming the server', async () => {
    const a = http.createServer();
    const b = http.createServer();
    try {
      const port = await listenOn(a, '127.0.0.1', 0, 'the test server');
      assert.ok(Number.isInteger(port) && port > 0);
      await assert.rejects(listenOn(b, '127.0.0.1', port, 'the second server'), (e: unknown) => {
        assert.ok(e instanceof GradsyncError);
        assert.equal(e.code, 'GS_ERR_IO');
        assert.equal(e.message, `the second server cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
        assert.equal(e.hint, 'choose another port (0 picks a free one)');
        return true;
      });
    } finally {
      a.close();
      b.close();
    }
  });

  it('refuse answers the bare status with its extra header lines, then closes the connection', async () => {
    const server = http.createServer();
    server.on('upgrade', (_req, socket) => refuse(socket, '401 Unauthorized', ['WWW-Authenticate: Bearer']));
    const wss = new WebSocketServer({ noServer: true });
    const port = await listenOn(server, '127.0.0.1', 0, 'the test server');
    try {
      const got = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      assert.equal(got, 'HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\nWWW-Authenticate: Bearer\r\n\r\n');
    } finally {
      await closeServers(wss, server);
    }
    assert.equal(server.listening, false, 'closeServers closed the HTTP server');
  });
});
