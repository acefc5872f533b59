import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { GradsyncError } from '../../src/errors';
import { AUTH_HEADERS, CHALLENGE_PATH, clientProof, newNonce, serverProof } from '../../src/net/challenge';
import { workerProof } from '../../src/parallel/auth';
import { LIVE_LABELS, startLiveServer, type LiveServer } from '../../src/observe/live-server';
import { subscribeLive } from '../../src/observe/live-client';
import { selfSignedCert, type TestCert } from '../helpers/tls-cert';

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

/** GETs the server's one-time challenge nonce. */
function getNonce(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: CHALLENGE_PATH }, (res) => {
        let body = '';
        res.setEncoding('latin1');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

/** The proof headers of a subscriber holding `token` for a fresh nonce of the server's, and the proof its 101 must carry. */
async function proofHeaders(port: number, token: string, nonce?: string): Promise<{ headers: Record<string, string>; expect: string }> {
  const n = nonce ?? (await getNonce(port));
  const cn = newNonce();
  return {
    headers: { [AUTH_HEADERS.nonce]: n, [AUTH_HEADERS.proof]: clientProof(LIVE_LABELS, token, n), [AUTH_HEADERS.clientNonce]: cn },
    expect: serverProof(LIVE_LABELS, token, n, cn),
  };
}

/** Sends an upgrade request by hand and reports the HTTP status (101 when upgraded). */
function upgradeStatus(port: number, headers: Record<string, string>): Promise<number> {
  return upgradeAnswer(port, headers).then((a) => a.status);
}

/** Sends an upgrade request by hand: the HTTP status (101 when upgraded) and the answer's headers. */
function upgradeAnswer(port: number, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
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
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
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

  it('answers 401 before any websocket exists for a missing, wrong, replayed or cleartext proof, each a parsed record; 101 with its own proof for the right one', async () => {
    const { logger, records } = collectingLogger();
    const token = 's3cret-token-value';
    server = await startLiveServer({ host: '127.0.0.1', port: 0, token, logger });
    const port = server.port;
    assert.equal(await upgradeStatus(port, {}), 401);
    // the token itself, sent as the old bearer header: refused, whatever it holds
    assert.equal(await upgradeStatus(port, { Authorization: `Bearer ${token}` }), 401);
    assert.equal(await upgradeStatus(port, (await proofHeaders(port, 'wrong-token-value')).headers), 401);
    const used = await proofHeaders(port, token);
    const first = await upgradeAnswer(port, used.headers);
    assert.equal(first.status, 101);
    assert.equal(first.headers[AUTH_HEADERS.serverProof], used.expect, "the 101 carries the server's proof over both nonces");
    assert.equal(await upgradeStatus(port, used.headers), 401, 'a nonce is good once');
    // a worker's proof over a fresh nonce is not a subscriber's: the labels differ
    const n = await getNonce(port);
    assert.equal(
      await upgradeStatus(port, { ...(await proofHeaders(port, token, n)).headers, [AUTH_HEADERS.proof]: workerProof(token, n) }),
      401,
    );
    const refused = records.filter((r) => r.msg === 'monitor: subscriber refused (401)');
    assert.deepEqual(
      refused.map((r) => r.reason),
      ['no token proof', 'credentials sent in clear (Authorization header)', 'wrong token', 'unknown or expired nonce', 'wrong token'],
    );
    for (const r of refused) {
      assert.equal(r.level, 40);
      assert.equal(r.code, 'GS_ERR_AUTH');
      assert.equal(r.status, 401);
      assert.match(String(r.peer), /^127\.0\.0\.1:\d+$/);
    }
    assert.equal(records.filter((r) => r.msg === 'monitor: subscriber connected').length, 1);
  });

  it("a subscriber's requests never carry the token: a relay that sees every byte it sends finds neither the token nor an encoding of it", async () => {
    const token = 'tok-relay-5e6f7a8b9c0d';
    server = await startLiveServer({ host: '127.0.0.1', port: 0, token });
    server.publish(rec(1));
    server.publish(rec(2));
    const sent: Buffer[] = [];
    const relay = net.createServer((c) => {
      const up = net.connect(server!.port, '127.0.0.1');
      c.on('data', (d: Buffer) => {
        sent.push(d);
        up.write(d);
      });
      up.pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
      c.on('close', () => up.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    try {
      const port = (relay.address() as net.AddressInfo).port;
      const steps: number[] = [];
      const ac = new AbortController();
      await subscribeLive(
        `ws://127.0.0.1:${port}`,
        { onLine: (l) => void steps.push((JSON.parse(l) as { step: number }).step), onSnapshot: () => ac.abort() },
        { token, signal: ac.signal },
      );
      assert.deepEqual(steps, [1, 2], 'the records streamed through the relay');
      const bytes = Buffer.concat(sent).toString('latin1');
      assert.match(bytes, new RegExp(`GET ${CHALLENGE_PATH} `), 'the challenge went through the relay');
      assert.match(bytes, /x-gradsync-proof: [0-9a-f]{64}\r\n/i, 'the proof went through the relay');
      for (const form of [token, Buffer.from(token).toString('hex'), Buffer.from(token).toString('base64')])
        assert.ok(!bytes.includes(form), `the token (${form}) was sent`);
      assert.doesNotMatch(bytes, /authorization/i);
    } finally {
      await new Promise((r) => relay.close(r));
    }
  });

  describe('a server that does not know the token', () => {
    const token = 'tok-client-only-1a2b3c';
    let fake: http.Server | null = null;
    let fakeWss: WebSocketServer | null = null;
    afterEach(async () => {
      for (const c of fakeWss?.clients ?? []) c.terminate();
      fake?.closeAllConnections();
      await new Promise((r) => (fake ? fake.close(r) : r(undefined)));
      fake = null;
    });

    /** A websocket server that hands out nonces and upgrades everyone, sending a good hello and a record; what it received. */
    async function fakeServer(proofFor: (nonce: string, clientNonce: string) => string | undefined): Promise<{
      port: number;
      requests: { url: string; raw: string }[];
    }> {
      const requests: { url: string; raw: string }[] = [];
      const wss = new WebSocketServer({ noServer: true });
      fakeWss = wss;
      wss.on('headers', (h, req) => {
        const p = proofFor(String(req.headers[AUTH_HEADERS.nonce]), String(req.headers[AUTH_HEADERS.clientNonce]));
        if (p !== undefined) h.push(`X-Gradsync-Server-Proof: ${p}`);
      });
      fake = http.createServer((req, res) => {
        requests.push({ url: req.url ?? '', raw: req.rawHeaders.join('\n') });
        res.end(newNonce());
      });
      fake.on('upgrade', (req, socket, head) => {
        requests.push({ url: req.url ?? '', raw: req.rawHeaders.join('\n') });
        wss.handleUpgrade(req, socket, head, (ws) => {
          ws.send(JSON.stringify({ gradsyncLive: 1, history: 1 }));
          ws.send(JSON.stringify(rec(1)));
          ws.close(1001);
        });
      });
      await new Promise<void>((r) => fake!.listen(0, '127.0.0.1', r));
      return { port: (fake.address() as net.AddressInfo).port, requests };
    }

    for (const [name, proofFor] of [
      ['no proof on its 101', (): undefined => undefined],
      ['a proof made with another token', (n: string, cn: string): string => serverProof(LIVE_LABELS, 'another-token', n, cn)],
      ["the subscriber's own proof echoed back", (n: string): string => clientProof(LIVE_LABELS, token, n)],
    ] as const) {
      it(`is left before a frame is read (${name}): GS_ERR_AUTH, and what it received holds no token and no worker proof`, async () => {
        const f = await fakeServer(proofFor);
        let hello = false;
        let lines = 0;
        await assert.rejects(
          subscribeLive(
            `ws://127.0.0.1:${f.port}`,
            {
              onHello: () => {
                hello = true;
              },
              onLine: () => {
                lines++;
              },
            },
            { token },
          ),
          (e: unknown) => {
            assert.ok(e instanceof GradsyncError);
            assert.equal(e.code, 'GS_ERR_AUTH');
            assert.match(e.message, /could not prove it holds the token/);
            assert.ok(!e.message.includes(token));
            return true;
          },
        );
        assert.equal(hello, false, 'the hello was read');
        assert.equal(lines, 0, 'records were read');
        assert.deepEqual(
          f.requests.map((r) => r.url),
          [CHALLENGE_PATH, '/'],
        );
        for (const r of f.requests) assert.ok(!r.raw.includes(token), r.raw);
        const up = f.requests[1]!.raw.split('\n');
        const header = (name: string): string => up[up.findIndex((h) => h.toLowerCase() === name) + 1]!;
        const nonce = header(AUTH_HEADERS.nonce);
        assert.equal(header(AUTH_HEADERS.proof), clientProof(LIVE_LABELS, token, nonce));
        assert.notEqual(header(AUTH_HEADERS.proof), workerProof(token, nonce), 'a relayed proof could join as a worker');
      });
    }
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
    let slowPort = -1;
    slow.once('upgrade', (res: http.IncomingMessage) => {
      slowPort = res.socket.localPort ?? -1;
    });
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
    const dropped = (): boolean => records.some((r) => r.msg === 'monitor: slow subscriber dropped');
    while (!dropped() && published < 5000) {
      server.publish(big); // returns at once whatever the peers do
      published++;
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(dropped(), `not dropped after ${published} records`);
    const drop = records.find((r) => r.msg === 'monitor: slow subscriber dropped')!;
    assert.equal(drop.level, 40);
    assert.equal(drop.code, 'GS_ERR_IO');
    assert.equal(drop.peer, `127.0.0.1:${slowPort}`);
    assert.equal(drop.maxBufferedBytes, 256 * 1024);
    assert.ok((drop.bufferedAmount as number) > 256 * 1024, String(drop.bufferedAmount));
    while (fastGot < published) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    await fast;
    slow.terminate();
  });
  it('logs each subscriber connected and disconnected with its peer, and the server listening and closed', async () => {
    const { logger, records } = collectingLogger();
    server = await startLiveServer({ host: '127.0.0.1', port: 0, logger });
    server.publish(rec(1));
    const ac = new AbortController();
    let localPort = -1;
    await subscribeLive(
      `ws://127.0.0.1:${server.port}`,
      {
        onHello: () => undefined,
        onLine: () => ac.abort(),
      },
      { signal: ac.signal },
    );
    await new Promise((r) => setTimeout(r, 50));
    await server.close();
    const msgs = records.map((r) => r.msg);
    assert.deepEqual(msgs, ['monitor: listening', 'monitor: subscriber connected', 'monitor: subscriber disconnected', 'monitor: closed']);
    const [listening, connected, left] = records;
    assert.deepEqual([listening!.tls, listening!.authRequired, listening!.port], [false, false, server.port]);
    assert.match(String(connected!.peer), /^127\.0\.0\.1:\d+$/);
    localPort = Number(String(connected!.peer).split(':')[1]);
    assert.equal(left!.peer, connected!.peer);
    assert.ok(localPort > 0);
    assert.equal(connected!.replayed, 1);
    assert.equal(left!.closeCode, 1000);
    assert.equal(left!.level, 30);
  });

  it("keeps its records until it is given a logger (a run's log exists only after the stream listens), then writes them there first", async () => {
    server = await startLiveServer({ host: '127.0.0.1', port: 0, token: 'tok-late-logger' });
    assert.equal(await upgradeStatus(server.port, {}), 401);
    const { logger, records } = collectingLogger();
    server.useLogger(logger);
    assert.deepEqual(
      records.map((r) => r.msg),
      ['monitor: listening', 'monitor: subscriber refused (401)'],
    );
    assert.equal(await upgradeStatus(server.port, {}), 401);
    assert.equal(records.length, 3);
  });

  it('refuses a subscriber over maxSubscribers with 503 and a record naming the reason', async () => {
    const { logger, records } = collectingLogger();
    server = await startLiveServer({ host: '127.0.0.1', port: 0, maxSubscribers: 1, logger });
    const first = new WebSocket(`ws://127.0.0.1:${server.port}`, { perMessageDeflate: false });
    await new Promise((r) => first.once('open', r));
    try {
      assert.equal(await upgradeStatus(server.port, {}), 503);
      const r = records.find((x) => x.msg === 'monitor: subscriber refused (503, full)');
      assert.ok(r, JSON.stringify(records));
      assert.equal(r.reason, 'too many subscribers');
      assert.equal(r.maxSubscribers, 1);
      assert.match(String(r.peer), /^127\.0\.0\.1:\d+$/);
    } finally {
      first.terminate();
    }
  });

  it("streams its own records but leaves them out of a later subscriber's snapshot", async () => {
    server = await startLiveServer({ host: '127.0.0.1', port: 0, history: 2 });
    server.publish(rec(1));
    server.publish({ schema: 1, msg: 'monitor: subscriber refused (401)', reason: 'no token proof' });
    server.publish(rec(2));
    const lines: string[] = [];
    const ac = new AbortController();
    await subscribeLive(
      `ws://127.0.0.1:${server.port}`,
      { onLine: (l) => void lines.push(l), onSnapshot: () => ac.abort() },
      { signal: ac.signal },
    );
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { step: number }).step),
      [1, 2],
    );
  });

  describe('over TLS', () => {
    let cert: TestCert | null = null;
    before(function () {
      cert = selfSignedCert();
      if (cert === null) this.skip(); // no openssl CLI: no certificate to test with
    });

    it('serves wss:// with a certificate: a subscriber trusting it (ca) proves the token and streams records; one that does not is refused naming --ca', async () => {
      const { logger, records, raw } = collectingLogger();
      const token = 'tok-tls-7d8e9f';
      server = await startLiveServer({ host: '127.0.0.1', port: 0, token, tls: { cert: cert!.cert, key: cert!.key }, logger });
      assert.equal(server.url, `wss://127.0.0.1:${server.port}`);
      for (let s = 1; s <= 3; s++) server.publish(rec(s));
      const steps: number[] = [];
      const ac = new AbortController();
      await subscribeLive(
        server.url,
        { onLine: (l) => void steps.push((JSON.parse(l) as { step: number }).step), onSnapshot: () => ac.abort() },
        { token, ca: cert!.cert, signal: ac.signal },
      );
      assert.deepEqual(steps, [1, 2, 3]);
      for (const opts of [{ token }, {}]) {
        await assert.rejects(subscribeLive(server.url, { onLine: () => undefined }, opts), (e: unknown) => {
          assert.ok(e instanceof GradsyncError);
          assert.equal(e.code, 'GS_ERR_IO');
          assert.match(e.message, /TLS certificate is not trusted here \(DEPTH_ZERO_SELF_SIGNED_CERT: .*--ca FILE/);
          return true;
        });
      }
      await assert.rejects(
        subscribeLive(server.url.replace('wss:', 'ws:'), { onLine: () => undefined }, { token }),
        (e: unknown) => e instanceof GradsyncError,
      );
      assert.equal(records[0]!.msg, 'monitor: listening');
      assert.equal(records[0]!.tls, true);
      assert.equal(records.filter((r) => r.msg === 'monitor: subscriber connected').length, 1);
      for (const l of raw) assert.ok(!l.includes(token), l);
    });
  });
});
