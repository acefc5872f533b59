/**
 * Hostile peers at the coordinator's door (issue 4, RELIABILITY checklist): fragment floods,
 * slowloris, header floods, a crowd of 200 connecting clients, peers that go silent after
 * authenticating, and TLS. Each case is refused with a coded log record naming the peer, the
 * coordinator survives, and a well-behaved worker still joins afterwards.
 * Loopback only, port 0; no timing is asserted (a peer never dropped makes the test time out).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Packr } from 'msgpackr';
import { WebSocket } from 'ws';
import type { GradsyncError } from '../../src/errors';
import { KERNEL_SPEC_VERSION } from '../../src/tensor/kernels';
import { layoutOf } from '../../src/model/params';
import { runWorker, type WorkerExit } from '../../src/parallel/remote-worker';
import { AUTH_HEADERS, newNonce, workerProof } from '../../src/parallel/auth';
import type { Coordinator } from '../../src/parallel/coordinator-server';
import type { RemoteExecutor } from '../../src/parallel/remote-executor';
import { CLOSE, JOIN_PATH, PROTOCOL_VERSION } from '../../src/parallel/messages';
import { collectingLogger } from '../helpers/log-sink';
import { selfSignedCert, type TestCert } from '../helpers/tls-cert';
import { repoRoot, tempDir } from '../helpers/paths';
import { closed, getNonce, rawPeer, smallCoordinator, SPEC, until } from './remote-helpers';

const TOKEN = 'hostile-peers-token-91d2';
const pack = (o: unknown): Buffer => new Packr({ useRecords: false }).pack(o);
const hello = (id: string): Buffer =>
  pack({ t: 'hello', v: PROTOCOL_VERSION, id, kernelSpec: KERNEL_SPEC_VERSION, dtypes: ['float32'], threads: 0 });
const PEER = /^127\.0\.0\.1:\d+$/;

/** An upgrade to the join path with these headers; resolves with the HTTP status (101 when it opens, -1 on a socket error). */
function upgradeStatus(port: number, headers: Record<string, string>): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${JOIN_PATH}`, { headers, perMessageDeflate: false });
  return new Promise<number>((resolve) => {
    ws.on('unexpected-response', (_q, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.terminate();
    });
    ws.on('error', () => resolve(-1));
  });
}

/** A raw peer through the whole handshake (hello → run → ready): the coordinator holds it as an executor. */
async function joinRaw(c: Coordinator, id: string, options: { autoPong?: boolean } = {}): Promise<WebSocket> {
  const ws = await rawPeer(c.port, TOKEN, options);
  const run = once(ws, 'message');
  ws.send(hello(id));
  await run;
  ws.send(pack({ t: 'ready', v: PROTOCOL_VERSION }));
  await until(() => c.current().some((e) => e.id === `remote-${id}`));
  return ws;
}

/** A well-behaved worker joins, then leaves when the coordinator closes. */
async function stillServes(c: Coordinator, id: string): Promise<void> {
  const before = c.current().length;
  const w = runWorker({ url: c.url, token: TOKEN, id, threads: 0 });
  await c.waitForWorkers(before + 1, 10_000);
  await until(() => c.current().some((e) => e.id === `remote-${id}`));
  void w.catch(() => undefined);
}

/** Writes `head` on a raw TCP socket and collects everything until the server closes it. */
function rawRequest(port: number, head: string): Promise<{ answer: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let answer = '';
    s.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
    });
    s.on('error', () => undefined); // a reset after the answer is fine
    let localPort = 0;
    s.on('close', () => resolve({ answer, localPort }));
    s.once('connect', () => {
      localPort = s.localPort ?? 0;
      s.write(head);
    });
    setTimeout(() => reject(new Error('the server kept the socket open')), 20_000).unref();
  });
}

describe('remote: hostile peers', function () {
  this.timeout(30_000);

  it('a fragment flood (a message that never ends) is closed after a few fragments, during the handshake and after joining', async () => {
    const { logger, records } = collectingLogger();
    const c = await smallCoordinator(logger, { token: TOKEN });
    try {
      // before hello
      {
        const ws = await rawPeer(c.port, TOKEN);
        ws.on('error', () => undefined);
        const done = closed(ws);
        for (let i = 0; i < 10_000; i++) ws.send(Buffer.alloc(16, i & 0xff), { fin: false });
        assert.equal((await done).code, 1008);
      }
      // as a joined executor
      {
        const ws = await joinRaw(c, 'frag');
        ws.on('error', () => undefined);
        const done = closed(ws);
        for (let i = 0; i < 10_000; i++) ws.send(Buffer.alloc(16, i & 0xff), { fin: false });
        assert.equal((await done).code, 1008);
        await until(() => !c.current().some((e) => e.id === 'remote-frag'));
      }
      await until(() => records.filter((r) => r.wsCode === 'WS_ERR_TOO_MANY_BUFFERED_PARTS').length === 2);
      const recs = records.filter((r) => r.wsCode === 'WS_ERR_TOO_MANY_BUFFERED_PARTS');
      assert.ok(
        recs.every((r) => r.code === 'GS_ERR_WIRE' && PEER.test(String(r.peer))),
        JSON.stringify(recs),
      );
      assert.equal(recs[1]!.executor, 'remote-frag');
      await stillServes(c, 'after-frag');
    } finally {
      await c.close();
    }
  });

  it('slowloris: a peer dribbling its upgrade request is dropped with 408 after headersTimeoutMs, and others join meanwhile', async () => {
    const { logger, records } = collectingLogger();
    const c = await smallCoordinator(logger, { token: TOKEN, headersTimeoutMs: 300 });
    try {
      const s = net.connect(c.port, '127.0.0.1');
      await once(s, 'connect');
      const localPort = s.localPort;
      let answer = '';
      s.on('data', (d: Buffer) => {
        answer += d.toString('latin1');
      });
      s.on('error', () => undefined);
      const gone = once(s, 'close');
      s.write(`GET ${JOIN_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n`);
      // one header line every 50 ms, for as long as the server keeps listening
      const drip = setInterval(() => {
        if (!s.destroyed) s.write(`X-Drip-${Date.now()}: 1\r\n`);
      }, 50);
      try {
        await stillServes(c, 'beside-slowloris');
        await gone;
      } finally {
        clearInterval(drip);
      }
      assert.match(answer, /^HTTP\/1\.1 408 /);
      const rec = records.find((r) => r.httpCode === 'ERR_HTTP_REQUEST_TIMEOUT');
      assert.ok(rec !== undefined, 'a coded record for the slow peer');
      assert.equal(rec.code, 'GS_ERR_WIRE');
      assert.equal(rec.peer, `127.0.0.1:${localPort}`);
      // a peer that sends nothing at all after connecting goes the same way
      const idle = await rawRequest(c.port, '');
      assert.match(idle.answer, /^HTTP\/1\.1 408 /);
      assert.equal(c.current().length, 1, 'the joined worker stayed');
      await stillServes(c, 'after-slowloris');
    } finally {
      await c.close();
    }
  });

  it('an upgrade request with 2000 headers is refused (431), under or over the header size limit, and the server survives (CVE-2024-37890)', async () => {
    const { logger, records } = collectingLogger();
    const c = await smallCoordinator(logger, { token: TOKEN });
    try {
      const wsHeaders = `Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 7).toString('base64')}\r\n`;
      const many = (n: number, f: (i: number) => string): string => Array.from({ length: n }, (_, i) => f(i)).join('');
      // 2000 tiny headers (about 12 KB, under node's 16 KB limit): node keeps the first few, we count them
      for (const [order, head] of [
        ['websocket headers first', `GET ${JOIN_PATH} HTTP/1.1\r\n${wsHeaders}${many(2000, (i) => `a${i % 10}: b\r\n`)}\r\n`],
        [
          "websocket headers last (the advisory's order)",
          `GET ${JOIN_PATH} HTTP/1.1\r\n${many(2000, (i) => `a${i % 10}: b\r\n`)}${wsHeaders}\r\n`,
        ],
      ] as const) {
        const r = await rawRequest(c.port, head);
        assert.match(r.answer, /^HTTP\/1\.1 431 /, order);
      }
      const counted = records.filter((r) => r.msg === 'remote: request refused (431, too many headers)');
      assert.equal(counted.length, 2);
      assert.ok(counted.every((r) => r.code === 'GS_ERR_WIRE' && PEER.test(String(r.peer))));
      // 2000 long headers (about 80 KB): node's parser refuses it before any handler runs
      const big = await rawRequest(
        c.port,
        `GET ${JOIN_PATH} HTTP/1.1\r\n${wsHeaders}${many(2000, (i) => `x-header-number-${i}: ${'v'.repeat(20)}\r\n`)}\r\n`,
      );
      assert.match(big.answer, /^HTTP\/1\.1 431 /);
      const over = records.find((r) => r.httpCode === 'HPE_HEADER_OVERFLOW');
      assert.ok(over !== undefined && over.code === 'GS_ERR_WIRE' && over.peer === `127.0.0.1:${big.localPort}`, JSON.stringify(over));
      // garbage instead of HTTP: 400, logged
      const junk = await rawRequest(c.port, '\x16\x03\x01 not http at all\r\n\r\n');
      assert.match(junk.answer, /^HTTP\/1\.1 400 /);
      // a websocket upgrade ws itself finds malformed (no key) after passing the token check
      const n = await getNonce(c.port);
      const noKey = await rawRequest(
        c.port,
        `GET ${JOIN_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n` +
          `${AUTH_HEADERS.nonce}: ${n}\r\n${AUTH_HEADERS.proof}: ${workerProof(TOKEN, n)}\r\n${AUTH_HEADERS.clientNonce}: ${newNonce()}\r\n\r\n`,
      );
      assert.match(noKey.answer, /^HTTP\/1\.1 400 /);
      assert.ok(
        records.some((r) => r.msg === 'remote: malformed upgrade request, refused (400)' && r.peer === `127.0.0.1:${noKey.localPort}`),
      );
      await stillServes(c, 'after-headers');
    } finally {
      await c.close();
    }
  });

  it('200 clients connecting at once: the 190 bad ones are refused and logged, the 10 good ones join, the heap stays bounded', async () => {
    const { logger, records } = collectingLogger();
    const c = await smallCoordinator(logger, { token: TOKEN });
    try {
      const heap0 = process.memoryUsage().heapUsed;
      /** Upgrade attempt that must be refused; resolves with the HTTP status. */
      const badUpgrade = async (kind: number): Promise<number> => {
        const headers: Record<string, string> = {};
        if (kind === 1) {
          const n = await getNonce(c.port);
          Object.assign(headers, {
            [AUTH_HEADERS.nonce]: n,
            [AUTH_HEADERS.proof]: workerProof('not the token', n),
            [AUTH_HEADERS.clientNonce]: newNonce(),
          });
        }
        return upgradeStatus(c.port, headers);
      };
      const bad: Promise<number>[] = [];
      const good: Promise<WorkerExit>[] = [];
      for (let i = 0; i < 200; i++) {
        if (i % 20 === 7) good.push(runWorker({ url: c.url, token: TOKEN, id: `crowd-${i}`, threads: 0 }));
        else if (i % 3 === 2)
          bad.push(rawRequest(c.port, `PUT /nowhere HTTP/1.1\r\n${'x'.repeat(100)}\r\n\r\n`).then((r) => Number(r.answer.slice(9, 12))));
        else bad.push(badUpgrade(i % 3));
      }
      const statuses = await Promise.all(bad);
      assert.equal(statuses.length, 190);
      const upgrades = statuses.filter((s) => s !== 400);
      assert.ok(
        upgrades.every((s) => s === 401),
        `every bad upgrade got 401: ${JSON.stringify([...new Set(statuses)])}`,
      );
      assert.equal(statuses.filter((s) => s === 400).length, 63);
      await c.waitForWorkers(10, 20_000);
      assert.equal(c.current().length, 10);
      const refused = records.filter((r) => r.msg === 'remote: join refused (401)');
      assert.equal(refused.length, upgrades.length);
      assert.ok(refused.every((r) => PEER.test(String(r.peer))));
      assert.deepEqual(new Set(refused.map((r) => r.reason)), new Set(['no token proof', 'wrong token']));
      assert.equal(records.filter((r) => r.msg === 'remote: bad HTTP request, connection refused (400)').length, 63);
      // responsive: a fresh challenge is answered and one more worker joins
      assert.match(await getNonce(c.port), /^[0-9a-f]{64}$/);
      await stillServes(c, 'after-crowd');
      // 200 connections (both ends live in this process) cost far less than this
      assert.ok(process.memoryUsage().heapUsed - heap0 < 128 << 20, `heap grew by ${process.memoryUsage().heapUsed - heap0} bytes`);
    } finally {
      await c.close();
    }
  });

  it('a peer asking for nonces in a loop (2000, more than the store holds) locks no one out: its oldest are forgotten, a worker from the same address joins', async () => {
    const { logger, records } = collectingLogger();
    const c = await smallCoordinator(logger, { token: TOKEN });
    try {
      const flood: string[] = [];
      for (let i = 0; i < 2000; i += 50) flood.push(...(await Promise.all(Array.from({ length: 50 }, () => getNonce(c.port)))));
      assert.equal(new Set(flood).size, 2000);
      assert.ok(
        flood.every((n) => /^[0-9a-f]{64}$/.test(n)),
        'every request got a nonce (none refused)',
      );
      // an honest worker from the same address still joins (before: 503 for 30 s)
      await stillServes(c, 'after-nonce-flood');
      /** Upgrade with a nonce and the right proof. */
      const upgrade = (n: string): Promise<number> =>
        upgradeStatus(c.port, {
          [AUTH_HEADERS.nonce]: n,
          [AUTH_HEADERS.proof]: workerProof(TOKEN, n),
          [AUTH_HEADERS.clientNonce]: newNonce(),
        });
      // the flood's first nonce was forgotten to make room; its newest is still good
      assert.equal(await upgrade(flood[0]!), 401);
      assert.equal(await upgrade(flood[flood.length - 1]!), 101);
      assert.ok(
        records.some((r) => r.msg === 'remote: join refused (401)' && r.reason === 'unknown or expired nonce' && PEER.test(String(r.peer))),
      );
    } finally {
      await c.close();
    }
  });

  it('a handshake aborted by the peer after the 101 (before hello, after run) leaves one coded record naming the peer and the state (issue 24)', async () => {
    const { logger, records } = collectingLogger();
    const c = await smallCoordinator(logger, { token: TOKEN });
    try {
      const aborted = (): Record<string, unknown>[] =>
        records.filter((x) => x.msg === 'remote: handshake aborted by the worker, connection closed');
      // upgraded, then closed before any hello
      const a = await rawPeer(c.port, TOKEN);
      a.close(1000, 'changed my mind');
      await until(() => aborted().length === 1);
      // hello answered with the run, then the socket cut without a close frame
      const b = await rawPeer(c.port, TOKEN);
      const run = once(b, 'message');
      b.send(hello('quitter'));
      await run;
      b.terminate();
      await until(() => aborted().length === 2);
      const [first, second] = aborted();
      assert.equal(first!.code, 'GS_ERR_PROTOCOL');
      assert.match(String(first!.peer), PEER);
      assert.equal(first!.state, 'hello');
      assert.equal(first!.closeCode, 1000);
      assert.equal(first!.reason, 'changed my mind');
      assert.equal(second!.executor, 'remote-quitter');
      assert.equal(second!.state, 'data');
      assert.equal(second!.closeCode, 1006);
      // a refusal is logged once, as a refusal, not also as an abort
      const bad = await rawPeer(c.port, TOKEN);
      bad.send(pack({ t: 'ready', v: PROTOCOL_VERSION }));
      await closed(bad);
      await until(() => records.some((x) => x.msg === 'remote: handshake refused, connection closed'));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(aborted().length, 2);
      // the id of the peer that left is free again
      await stillServes(c, 'quitter');
    } finally {
      await c.close();
    }
  });

  it('peers that authenticate and then go silent: no need/ready (4004), no pongs (terminated), no answer to a step (deadline, 4008)', async () => {
    const { logger, records } = collectingLogger();
    const c = await smallCoordinator(logger, {
      token: TOKEN,
      handshakeTimeoutMs: 300,
      heartbeatMs: 100,
      maxMisses: 1,
      deadline: { firstMs: 300, floorMs: 300 },
    });
    try {
      // hello, then nothing: the run was sent, need or ready never comes
      {
        const ws = await rawPeer(c.port, TOKEN);
        ws.send(hello('mute'));
        const r = await closed(ws);
        assert.equal(r.code, CLOSE.handshakeTimeout);
        assert.ok(
          records.some(
            (x) => x.executor === 'remote-mute' && PEER.test(String(x.peer)) && /no need or ready within 300 ms/.test(String(x.err)),
          ),
        );
      }
      // joined, but its pongs never come: terminated by the heartbeat, dropped from the executors
      {
        const ws = await joinRaw(c, 'nopong', { autoPong: false });
        const r = await closed(ws);
        assert.equal(r.code, 1006, 'terminated, no close handshake');
        await until(() => !c.current().some((e) => e.id === 'remote-nopong'));
        const rec = records.find((x) => x.msg === 'remote: worker missed a pong, terminated');
        assert.ok(
          rec !== undefined && rec.executor === 'remote-nopong' && PEER.test(String(rec.peer)) && rec.code === 'GS_ERR_EXECUTOR',
          JSON.stringify(rec),
        );
      }
      // joined and answering pings, but never a step: the deadline rejects the range, maxMisses closes it
      {
        const ws = await joinRaw(c, 'idle');
        const exec = c.current().find((e) => e.id === 'remote-idle') as RemoteExecutor;
        const params = new Float32Array(layoutOf(SPEC).size);
        const task = {
          step: 1,
          epoch: 0,
          params,
          batch: { step: 1, order: Uint32Array.from({ length: 16 }, (_, i) => i), start: 0, end: 16, microBatch: 8 },
        };
        const done = closed(ws);
        await assert.rejects(exec.compute(task, [{ h: 1, i: 0 }]), /missed the step deadline of 300 ms/);
        assert.equal((await done).code, CLOSE.tooSlow);
        assert.ok(
          records.some(
            (x) =>
              x.executor === 'remote-idle' &&
              PEER.test(String(x.peer)) &&
              x.msg === 'remote: step deadline missed, range recomputed elsewhere',
          ),
        );
      }
      await stillServes(c, 'after-silence');
    } finally {
      await c.close();
    }
  });

  describe('TLS', () => {
    let tc: TestCert | null = null;
    let tempRun = '';
    before(function () {
      tc = selfSignedCert();
      if (tc === null) this.skip(); // no openssl CLI: no certificate to test with
      tempRun = tempDir();
    });

    it('with a certificate and key the coordinator serves wss://; a worker trusting it joins, one that does not is refused', async () => {
      const { logger, lines } = collectingLogger();
      const cert = tc!.cert;
      const c = await smallCoordinator(logger, { token: TOKEN, tls: { cert, key: tc!.key } });
      try {
        assert.match(c.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
        await assert.rejects(
          runWorker({ url: c.url, token: TOKEN, id: 'untrusting', threads: 0 }),
          (e: GradsyncError) => e.code === 'GS_ERR_IO' && /SELF_SIGNED|self.signed/i.test(e.message),
        );
        await assert.rejects(runWorker({ url: c.url.replace('wss:', 'ws:'), token: TOKEN, id: 'plain', threads: 0 }));
        const w = runWorker({ url: c.url, token: TOKEN, id: 'tls', threads: 0, ca: cert });
        await c.waitForWorkers(1, 10_000);
        assert.deepEqual(
          c.current().map((e) => e.id),
          ['remote-tls'],
        );
        await c.close();
        assert.equal((await w).code, CLOSE.goingAway);
        assert.ok(!lines.some((l) => l.includes(TOKEN)));
      } finally {
        await c.close();
      }
    });

    it('`gradsync train --listen --tls-cert --tls-key` serves wss:// and `gradsync worker --join wss://… --ca` joins it', async () => {
      const bin = path.join(repoRoot(), 'bin', 'gradsync.js');
      const env = { ...process.env, GRADSYNC_TOKEN: TOKEN };
      // The embedded default, with no duplicate of a slow node's range on the main thread: on a
      // loaded machine that duplicate can win a step, and this test asserts every step is remote.
      const cfgFile = path.join(tempRun, 'no-duplicates.json');
      const dflt = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'config', 'default.json'), 'utf8'));
      fs.writeFileSync(cfgFile, JSON.stringify({ ...dflt, duplicateStragglers: false }));
      const trainer = spawn(
        process.execPath,
        [
          bin,
          'train',
          cfgFile,
          '--steps',
          '20',
          '--threads',
          '0',
          '--listen',
          '127.0.0.1:0',
          '--wait-workers',
          '1',
          '--tls-cert',
          tc!.certFile,
          '--tls-key',
          tc!.keyFile,
          '--run-dir',
          path.join(tempRun, 'run'),
        ],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      trainer.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
      });
      trainer.stderr!.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const trained = once(trainer, 'exit');
      try {
        await until(() => /listening for workers on wss:\/\/\S+/.test(out) || trainer.exitCode !== null, 20_000);
        const url = /listening for workers on (wss:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
        assert.ok(url !== undefined, out);
        const worker = spawn(process.execPath, [bin, 'worker', '--join', url, '--ca', tc!.certFile, '--threads', '0', '--id', 'cli-tls'], {
          env,
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let wout = '';
        worker.stderr!.on('data', (d: Buffer) => {
          wout += d.toString();
        });
        const [[tcode], [wcode]] = (await Promise.all([trained, once(worker, 'exit')])) as [number, string][];
        assert.equal(tcode, 0, out);
        assert.equal(wcode, 0, wout);
        assert.match(out, /executors main, remote-cli-tls/);
        assert.match(wout, /ready for run/);
        const steps = fs
          .readFileSync(path.join(tempRun, 'run', 'log.ndjson'), 'utf8')
          .split('\n')
          .filter((l) => l.includes('"msg":"step"'));
        assert.equal(steps.length, 20);
        assert.ok(
          steps.every((l) => l.includes('"remote-cli-tls"')),
          'every step names the remote executor',
        );
        assert.ok(!out.includes(TOKEN) && !fs.readFileSync(path.join(tempRun, 'run', 'log.ndjson'), 'utf8').includes(TOKEN));
      } finally {
        if (trainer.exitCode === null) trainer.kill('SIGKILL');
      }
    });
  });
});
