import assert from 'node:assert/strict';
import * as http from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { GradsyncError } from '../../src/errors';
import { startLiveServer, type LiveServer } from '../../src/observe/live-server';
import { subscribeLive } from '../../src/observe/live-client';

/** A pino logger whose records are parsed into `records` (pino's own test sink, in small). */
function collectingLogger(): { logger: pino.Logger; records: Record<string, unknown>[]; raw: string[] } {
  const records: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        raw.push(line);
        records.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), records, raw };
}

/** Sends an upgrade request by hand and reports the HTTP status (101 when upgraded). */
function upgradeStatus(port: number, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: '/',
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        ...headers,
      },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

const rec = (step: number): object => ({ schema: 1, msg: 'step', run: 'live', step, loss: 1 / step, gradNorm: 1, layers: [] });

describe('observe/live-server and live-client', () => {
  let server: LiveServer | null = null;
  afterEach(async () => {
    await server?.close();
    server = null;
  });

  it('refuses to start on 0.0.0.0 without a token', async () => {
    await assert.rejects(startLiveServer({ host: '0.0.0.0', port: 0 }), (e: unknown) => {
      assert.ok(e instanceof GradsyncError);
      assert.equal(e.code, 'GS_ERR_AUTH');
      assert.match(e.message, /refusing to serve the live record stream on 0\.0\.0\.0 without a token/);
      return true;
    });
  });

  it('names the bad option', async () => {
    await assert.rejects(
      startLiveServer({ host: '127.0.0.1', port: 70000 }),
      (e: unknown) => e instanceof RangeError && /"port"/.test(e.message),
    );
    await assert.rejects(
      startLiveServer({ host: '127.0.0.1', port: 0, history: -1 }),
      (e: unknown) => e instanceof RangeError && /"history"/.test(e.message),
    );
  });

  it('replays the last `history` records to a new subscriber, then streams new ones', async () => {
    server = await startLiveServer({ host: '127.0.0.1', port: 0, history: 3 });
    for (let s = 1; s <= 5; s++) server.publish(rec(s));
    const steps: number[] = [];
    let hello = -1;
    let snapshotAt = -1;
    const live = server;
    const done = subscribeLive(`ws://127.0.0.1:${server.port}`, {
      onHello: (h) => {
        hello = h.history;
      },
      onLine: (line) => {
        const step = (JSON.parse(line) as { step: number }).step;
        steps.push(step);
        if (step === 7) void live.close();
      },
      onSnapshot: () => {
        snapshotAt = steps.length;
        live.publish(rec(6));
        live.publish(rec(7));
      },
    });
    const closed = await done;
    assert.equal(hello, 3);
    assert.equal(snapshotAt, 3);
    assert.deepEqual(steps, [3, 4, 5, 6, 7]);
    assert.equal(closed.code, 1001);
  });

  it("keeps the run's start record at the head of every snapshot, however many steps passed", async () => {
    server = await startLiveServer({ host: '127.0.0.1', port: 0, history: 2 });
    server.publish({ schema: 1, msg: 'start', run: 'r' });
    for (let s = 1; s <= 5; s++) server.publish(rec(s));
    const lines: { msg: string; step?: number }[] = [];
    let hello = -1;
    const live = server;
    const done = subscribeLive(`ws://127.0.0.1:${server.port}`, {
      onHello: (h) => {
        hello = h.history;
      },
      onLine: (line) => {
        lines.push(JSON.parse(line) as { msg: string; step?: number });
      },
      onSnapshot: () => {
        void live.close();
      },
    });
    await done;
    assert.equal(hello, 3);
    assert.deepEqual(
      lines.map((l) => l.step ?? l.msg),
      ['start', 4, 5],
    );
  });

  it('calls onSnapshot at once when there is no history yet', async () => {
    server = await startLiveServer({ host: '127.0.0.1', port: 0 });
    const ac = new AbortController();
    let snap = false;
    const closed = await subscribeLive(
      `ws://127.0.0.1:${server.port}`,
      {
        onLine: () => undefined,
        onSnapshot: () => {
          snap = true;
          ac.abort();
        },
      },
      { signal: ac.signal },
    );
    assert.ok(snap);
    assert.equal(closed.code, 1000);
  });

  it('answers 401 before any websocket exists for a missing or wrong token, and 101 for the right one', async () => {
    const { logger, records } = collectingLogger();
    server = await startLiveServer({ host: '127.0.0.1', port: 0, token: 's3cret-token-value', logger });
    assert.equal(await upgradeStatus(server.port, {}), 401);
    assert.equal(await upgradeStatus(server.port, { Authorization: 'Bearer wrong-token-value' }), 401);
    assert.equal(await upgradeStatus(server.port, { Authorization: 'Basic czNjcmV0LXRva2VuLXZhbHVl' }), 401);
    assert.equal(records.filter((r) => r.msg === 'live: subscriber joined').length, 0);
    assert.equal(records.filter((r) => r.msg === 'live: subscriber refused (401)').length, 3);
    assert.equal(await upgradeStatus(server.port, { Authorization: 'Bearer s3cret-token-value' }), 101);
  });

  it('never writes the token (right or wrong) to its log', async () => {
    const { logger, raw } = collectingLogger();
    const token = 'tok-9f8e7d6c5b4a';
    server = await startLiveServer({ host: '127.0.0.1', port: 0, token, logger });
    server.publish(rec(1));
    await upgradeStatus(server.port, { Authorization: 'Bearer tok-wrong-123456' });
    const ac = new AbortController();
    await subscribeLive(`ws://127.0.0.1:${server.port}`, { onLine: () => ac.abort() }, { token, signal: ac.signal });
    await server.close();
    assert.ok(raw.length >= 4, `only ${raw.length} log lines`);
    for (const line of raw) {
      assert.ok(!line.includes(token), line);
      assert.ok(!line.includes('tok-wrong-123456'), line);
    }
  });

  it('rejects a subscription with a wrong token as GS_ERR_AUTH, naming neither token', async () => {
    server = await startLiveServer({ host: '127.0.0.1', port: 0, token: 'right-token' });
    await assert.rejects(
      subscribeLive(`ws://127.0.0.1:${server.port}`, { onLine: () => undefined }, { token: 'wrong-token' }),
      (e: unknown) => {
        assert.ok(e instanceof GradsyncError);
        assert.equal(e.code, 'GS_ERR_AUTH');
        assert.match(e.message, /401/);
        assert.doesNotMatch(e.message, /right-token|wrong-token/);
        return true;
      },
    );
  });

  it('rejects as GS_ERR_IO when nothing listens', async () => {
    const probe = await startLiveServer({ host: '127.0.0.1', port: 0 });
    const port = probe.port;
    await probe.close();
    await assert.rejects(
      subscribeLive(`ws://127.0.0.1:${port}`, { onLine: () => undefined }),
      (e: unknown) => e instanceof GradsyncError && e.code === 'GS_ERR_IO',
    );
  });

  it('rejects as GS_ERR_PROTOCOL a websocket server that does not speak the stream', async () => {
    const other = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => other.once('listening', r));
    other.on('connection', (ws) => ws.send('hello there'));
    try {
      const port = (other.address() as { port: number }).port;
      await assert.rejects(
        subscribeLive(`ws://127.0.0.1:${port}`, { onLine: () => undefined }),
        (e: unknown) => e instanceof GradsyncError && e.code === 'GS_ERR_PROTOCOL',
      );
    } finally {
      for (const c of other.clients) c.terminate();
      await new Promise((r) => other.close(r));
    }
  });

  it('closes a subscriber that sends anything (1008): the stream is read-only', async () => {
    server = await startLiveServer({ host: '127.0.0.1', port: 0 });
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}`, { perMessageDeflate: false });
    await new Promise((r) => ws.once('open', r));
    ws.send('subscribe me to everything');
    const [code] = await new Promise<[number]>((r) => ws.once('close', (c: number) => r([c])));
    assert.equal(code, 1008);
  });

  it('drops a subscriber that stops reading, without blocking publish() or the others', async () => {
    const { logger, records } = collectingLogger();
    server = await startLiveServer({ host: '127.0.0.1', port: 0, history: 0, maxBufferedBytes: 256 * 1024, logger });
    const slow = new WebSocket(`ws://127.0.0.1:${server.port}`, { perMessageDeflate: false });
    await new Promise((r) => slow.once('open', r));
    slow.pause();
    let fastGot = 0;
    const ac = new AbortController();
    let ready!: () => void;
    const snapshot = new Promise<void>((r) => {
      ready = r;
    });
    const fast = subscribeLive(
      `ws://127.0.0.1:${server.port}`,
      {
        onLine: () => {
          fastGot++;
        },
        onSnapshot: () => ready(),
      },
      { signal: ac.signal },
    );
    await snapshot;
    const big = { ...rec(1), pad: 'x'.repeat(64 * 1024) };
    let published = 0;
    const dropped = (): boolean => records.some((r) => r.msg === 'live: slow subscriber dropped');
    while (!dropped() && published < 5000) {
      server.publish(big); // returns at once whatever the peers do
      published++;
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(dropped(), `not dropped after ${published} records`);
    while (fastGot < published) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    await fast;
    slow.terminate();
  });
});
