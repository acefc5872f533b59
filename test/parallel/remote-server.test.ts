/**
 * The coordinator's handshake refuses bad peers — with a coded log record naming the peer
 * and a closed connection — and keeps accepting good ones.
 */
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { GradsyncError } from '../../src/errors';
import { KERNEL_SPEC_VERSION } from '../../src/tensor/kernels';
import { runWorker, runWorkerWith } from '../../src/parallel/remote-worker';
import { CLOSE, PROTOCOL_VERSION } from '../../src/parallel/messages';
import { startCoordinator } from '../../src/parallel/coordinator-server';
import { loadDigits } from '../../src/data/datasets';
import { collectingLogger } from '../helpers/log-sink';
import { tempDir } from '../helpers/paths';
import { closed, rawPeer, smallCoordinator, SPEC, until } from './remote-helpers';

const TOKEN = 'correct horse battery staple';
const pack = (o: unknown): Buffer => new Packr({ useRecords: false }).pack(o);
const hello = (id: string, extra: Record<string, unknown> = {}): Buffer =>
  pack({ t: 'hello', v: PROTOCOL_VERSION, id, kernelSpec: KERNEL_SPEC_VERSION, dtypes: ['float32'], threads: 0, ...extra });

describe('remote: coordinator handshake', function () {
  this.timeout(30_000);

  it('refuses, logs and survives: no token, wrong token, wrong version, malformed msgpack, oversized frame, duplicate id, silence', async () => {
    const { logger, records, lines } = collectingLogger();
    const c = await smallCoordinator(logger, { token: TOKEN, handshakeTimeoutMs: 300 });
    const url = c.url;
    const good = runWorker({ url, token: TOKEN, id: 'good', threads: 0, dataDir: tempDir() });
    await c.waitForWorkers(1, 10_000);

    // no token, wrong token: 401 before any websocket exists
    await assert.rejects(
      runWorker({ url, id: 'anon', threads: 0 }),
      (e: GradsyncError) => e.code === 'GS_ERR_AUTH' && /401/.test(e.message),
    );
    await assert.rejects(
      runWorker({ url, token: 'wrong', id: 'wrong', threads: 0 }),
      (e: GradsyncError) => e.code === 'GS_ERR_AUTH' && /401/.test(e.message),
    );
    const refused = records.filter((r) => r.msg === 'remote: join refused (401)');
    assert.deepEqual(
      refused.map((r) => r.reason),
      ['no token proof', 'wrong token'],
    );
    for (const r of refused) assert.match(String(r.peer), /^127\.0\.0\.1:\d+$/);

    // wrong protocol version: 4001, both versions named; a version-1 worker (dense layers only) is refused (issue 23)
    for (const old of [999, 1]) {
      const v = await runWorkerWith({ url, token: TOKEN, id: 'old', threads: 0 }, { hello: { v: old } });
      assert.equal(v.code, CLOSE.protocol);
      assert.match(v.error!.message, new RegExp(`protocol version ${old} .* ${PROTOCOL_VERSION}`));
    }
    assert.equal(PROTOCOL_VERSION, 2);

    // malformed msgpack (0xc1 is never valid; a 4-GiB array header; a nested bomb), and an empty
    // map (bytes that decode, with no protocol version: a bad frame, not another version)
    for (const bytes of [
      Buffer.from([0x80]),
      Buffer.from([0xc1]),
      Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]),
      Buffer.alloc(3 * 2000, Buffer.from([0xdc, 0xff, 0xff])),
    ]) {
      const ws = await rawPeer(c.port, TOKEN);
      const done = closed(ws);
      ws.send(bytes);
      assert.equal((await done).code, CLOSE.badFrame);
    }
    // oversized: ws closes with 1009 before buffering it
    {
      const ws = await rawPeer(c.port, TOKEN);
      const done = closed(ws);
      ws.send(Buffer.alloc(1 << 20));
      assert.equal((await done).code, 1009);
    }
    // duplicate id
    {
      const ws = await rawPeer(c.port, TOKEN);
      const done = closed(ws);
      ws.send(hello('good'));
      assert.equal((await done).code, CLOSE.duplicateId);
    }
    // a peer that says nothing
    {
      const ws = await rawPeer(c.port, TOKEN);
      assert.equal((await closed(ws)).code, CLOSE.handshakeTimeout);
    }
    await until(() => records.filter((r) => r.msg === 'remote: handshake refused, connection closed').length >= 6);
    const hs = records.filter(
      (r) => r.msg === 'remote: handshake refused, connection closed' || r.msg === 'remote: bad frame, connection closed',
    );
    const codes = hs.map((r) => r.code);
    assert.ok(codes.includes('GS_ERR_PROTOCOL') && codes.includes('GS_ERR_WIRE'), JSON.stringify(codes));
    assert.equal(hs.filter((r) => r.wsCode === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH').length, 1, 'the oversized frame is logged');
    assert.ok(
      hs.every((r) => /^127\.0\.0\.1:\d+$/.test(String(r.peer))),
      'every record names the peer',
    );
    assert.ok(hs.some((r) => /already connected/.test(String(r.err))));
    assert.ok(hs.some((r) => /no hello within 300 ms/.test(String(r.err))));
    assert.ok(!lines.some((l) => l.includes(TOKEN)), 'the token never reaches the log');

    // survived: the good worker is still there, and a new one joins
    const second = runWorker({ url, token: TOKEN, id: 'second', threads: 0 });
    await c.waitForWorkers(2, 10_000);
    assert.deepEqual(
      c.current().map((e) => e.id),
      ['remote-good', 'remote-second'],
    );
    await c.close();
    const [g, s] = await Promise.all([good, second]);
    assert.equal(g.code, CLOSE.goingAway);
    assert.equal(s.code, CLOSE.goingAway);
    assert.equal(g.dataFromCache, false, 'the first join streamed the data');
  });

  it('a worker uses its cached copy of the data, by hash, on the next join', async () => {
    const dir = tempDir();
    for (const expectCached of [false, true]) {
      const { logger } = collectingLogger();
      const c = await smallCoordinator(logger);
      const w = runWorker({ url: c.url, id: 'cache', threads: 0, dataDir: dir });
      await c.waitForWorkers(1, 10_000);
      await c.close();
      assert.equal((await w).dataFromCache, expectCached);
    }
  });

  it('refuses to listen off loopback without a token', async () => {
    await assert.rejects(
      startCoordinator({ host: '0.0.0.0', port: 0, run: 'r', spec: SPEC, microBatch: 8, data: loadDigits({ dtype: 'float32' }) }),
      (e: GradsyncError) => e.code === 'GS_ERR_AUTH' && /without a token/.test(e.message),
    );
  });
});
