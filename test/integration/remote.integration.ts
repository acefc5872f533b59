/**
 * Remote worker nodes keep the bit-identical invariant: the digits default trained by 1
 * local thread + 2 remote worker processes ends with the single-thread paramsSha256; so
 * does a run whose remote worker is killed (SIGKILL) mid-step and another joins mid-run,
 * and a run whose remote peers send bad frames (each refused, logged, closed, recomputed).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfigFile } from '../../src/config/load';
import type { RunConfig } from '../../src/config';
import type { StepRecord } from '../../src/observe/schema';
import { train, type ExecutorContext } from '../../src/train/loop';
import { startCoordinator, type Coordinator } from '../../src/parallel/coordinator-server';
import { runWorker, runWorkerWith, type WorkerExit } from '../../src/parallel/remote-worker';
import { runWorkerRetrying } from '../../src/parallel/worker-retry';
import { encodePartial } from '../../src/parallel/codec-partials';
import { MainExecutor } from '../../src/parallel/main-executor';
import type { Executor } from '../../src/parallel/executor';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import { CLOSE } from '../../src/parallel/messages';
import { collectingLogger } from '../helpers/log-sink';
import { coordinatorFor } from '../helpers/coordinator';
import { repoRoot, tempDir } from '../helpers/paths';
import { WorkerProcesses } from '../helpers/worker-process';

const TOKEN = 'integration-token-4f1c';

const workers = new WorkerProcesses(TOKEN);

const steps = (records: Record<string, unknown>[]): StepRecord[] => records.filter((r) => r.msg === 'step') as unknown as StepRecord[];

/** A main-thread executor that runs `hook` before computing step `at` (to act at a known point of the run). */
function gate(ctx: { spec: never; data: never; microBatch: number }, hooks: Map<number, () => Promise<void>>): Executor {
  const main = new MainExecutor(ctx.spec, referenceKernels('float32'), ctx.data, ctx.microBatch);
  return {
    id: 'gate',
    kind: 'main',
    async compute(task, nodes) {
      const h = hooks.get(task.step);
      if (h) await h();
      return main.computeSync(task, nodes);
    },
    recycle: (p) => main.recycle(p),
    close: () => Promise.resolve(),
  };
}

describe('remote worker nodes (integration)', function () {
  this.timeout(120_000);
  // stragglers are not duplicated here: these tests follow each remote frame's fate exactly
  // (a loaded machine would otherwise let the main thread answer first, now and then)
  const base = (): RunConfig => ({
    ...loadConfigFile(path.join(repoRoot(), 'config', 'default.json')),
    steps: 150,
    dtype: 'float32',
    batch: 64,
    microBatch: 8,
    duplicateStragglers: false,
  });
  let reference = '';
  /** A joinable that starts a coordinator and waits for worker processes `ids`; their exits land in `exits`. */
  const withWorkers =
    (ids: string[], exits: Promise<unknown>[]) =>
    async (ctx: ExecutorContext): Promise<Coordinator> => {
      const c = await startCoordinator({
        host: '127.0.0.1',
        port: 0,
        token: TOKEN,
        run: ctx.run,
        spec: ctx.spec,
        microBatch: ctx.microBatch,
        data: ctx.data,
        logger: ctx.logger,
      });
      for (const id of ids) {
        exits.push(once(workers.spawn(c.url, id, 'ref'), 'exit'));
      }
      await workers.joined(c, ids.length);
      return c;
    };

  before(async () => {
    reference = (await train({ ...base(), threads: 0 }, { runDir: tempDir(), kernels: 'ref' })).paramsSha256;
  });
  after(() => workers.killAll());

  it('1 local thread + 2 remote worker processes end with the single-thread paramsSha256', async () => {
    const { logger, records, lines } = collectingLogger();
    const exits: Promise<unknown>[] = [];
    const s = await train(
      { ...base(), threads: 1 },
      {
        runDir: tempDir(),
        logger,
        kernels: 'ref',
        joinable: withWorkers(['w1', 'w2'], exits),
      },
    );
    assert.equal(s.paramsSha256, reference);
    const st = steps(records);
    for (const r of [st[0]!, st[149]!]) {
      assert.deepEqual(r.executors.map((e) => e.id).sort(), ['main', 'remote-w1', 'remote-w2']);
      assert.equal(
        r.executors.reduce((n, e) => n + e.examples, 0),
        64,
      );
    }
    const remote = st[100]!.executors.filter((e) => e.kind === 'remote' && e.examples > 0);
    assert.ok(remote.length > 0, 'the remote workers computed at step 101');
    const params = (records.find((r) => r.msg === 'start') as { params: number }).params;
    for (const e of remote) {
      // float32: the step frame carries the weights, and each partial a whole gradient
      assert.ok(
        e.bytesOut! > 4 * params && e.bytesIn! > 4 * params,
        `${e.id}: ${e.bytesOut} bytes out, ${e.bytesIn} in, for ${params} parameters`,
      );
      // the wire's share of the node's wall time: a part of it, and not nothing
      assert.ok(
        Number.isFinite(e.transferMs) && e.transferMs! > 0 && e.transferMs! <= e.computeMs,
        `${e.id}: transferMs ${e.transferMs} of computeMs ${e.computeMs}`,
      );
    }
    assert.ok(!lines.some((l) => l.includes(TOKEN)));
    const codes = (await Promise.all(exits)) as [number][];
    assert.deepEqual(
      codes.map((c) => c[0]),
      [0, 0],
      'the workers exit 0 when the run ends',
    );
  });

  it('the main thread, a pool thread and a remote node each compute a share: the single-thread paramsSha256', async () => {
    const { logger, records } = collectingLogger();
    const exits: Promise<unknown>[] = [];
    const s = await train(
      { ...base(), threads: 2 },
      {
        runDir: tempDir(),
        logger,
        kernels: 'ref',
        joinable: withWorkers(['w-serve'], exits),
      },
    );
    assert.equal(s.paramsSha256, reference);
    const st = steps(records);
    assert.equal(st.length, 150);
    for (const r of st) {
      assert.deepEqual(r.executors.map((e) => e.id).sort(), ['main', 'remote-w-serve', 'thread-1'], `step ${r.step}`);
      assert.equal(
        r.executors.reduce((n, e) => n + e.examples, 0),
        r.examples,
      );
    }
    await Promise.all(exits);
  });

  it('a worker killed (SIGKILL) mid-step, and one that joins mid-run: same paramsSha256', async () => {
    const { logger, records } = collectingLogger();
    let coord: Coordinator | null = null;
    let victim: ChildProcess | null = null;
    const hooks = new Map<number, () => Promise<void>>([
      [
        40,
        async () => {
          // the kill lands before this step's frame reaches the worker: its range must be recomputed
          victim!.kill('SIGKILL');
          await once(victim!, 'exit');
        },
      ],
      [
        80,
        async () => {
          workers.spawn(coord!.url, 'late', 'ref');
          await workers.joined(coord!, 2);
        },
      ],
    ]);
    const s = await train(
      { ...base(), threads: 0 },
      {
        runDir: tempDir(),
        logger,
        kernels: 'ref',
        executors: async (ctx) => [gate(ctx as never, hooks)],
        joinable: async (ctx) => {
          coord = await startCoordinator({
            host: '127.0.0.1',
            port: 0,
            token: TOKEN,
            run: ctx.run,
            spec: ctx.spec,
            microBatch: ctx.microBatch,
            data: ctx.data,
            logger: ctx.logger,
          });
          victim = workers.spawn(coord.url, 'victim', 'ref');
          workers.spawn(coord.url, 'stay', 'ref');
          await workers.joined(coord, 2);
          return coord;
        },
      },
    );
    assert.equal(s.paramsSha256, reference);
    const st = steps(records);
    const killed = st[39]!.executors.find((e) => e.id === 'remote-victim')!;
    // (the planner may have given it no leaves at that step: then there was nothing to recompute)
    assert.ok(killed.failed !== undefined || killed.examples === 0, "the killed worker's range is marked failed at step 40");
    assert.ok(!st[41]!.executors.some((e) => e.id === 'remote-victim'), 'and it is gone from the next steps');
    assert.ok(!st[79]!.executors.some((e) => e.id === 'remote-late'), 'the late worker is not in the step it joined during');
    assert.ok(
      st[80]!.executors.some((e) => e.id === 'remote-late' && e.failed === undefined),
      'it is planned from the next step',
    );
    assert.ok(
      st.slice(80).some((r) => r.executors.some((e) => e.id === 'remote-late' && e.examples > 0)),
      'and computes',
    );
  });

  it('bad frames from remote peers mid-run are refused, logged with the peer, closed and recomputed: same paramsSha256', async () => {
    const { logger, records } = collectingLogger();
    const workers: Promise<WorkerExit>[] = [];
    let coord: Coordinator | null = null;
    const firedAt = new Map<string, number>();
    // misbehaves at the first step from `at` on in which it is given work (the planner may give a node none)
    const bad = (id: string, at: number, f: (frames: Buffer[], ps: Parameters<typeof encodePartial>[0][]) => Buffer[]): void => {
      workers.push(
        runWorkerWith(
          { url: coord!.url, token: TOKEN, id, threads: 0, kernels: 'ref' },
          {
            tamper: (step, frames, ps) => {
              if (step < at || firedAt.has(id)) return frames;
              firedAt.set(id, step);
              return f(frames, ps);
            },
          },
        ),
      );
    };
    const s = await train(
      { ...base(), threads: 0 },
      {
        runDir: tempDir(),
        logger,
        kernels: 'ref',
        joinable: async (ctx) => {
          coord = await startCoordinator({
            host: '127.0.0.1',
            port: 0,
            token: TOKEN,
            run: ctx.run,
            spec: ctx.spec,
            microBatch: ctx.microBatch,
            data: ctx.data,
            logger: ctx.logger,
          });
          bad('shape', 10, (fr, ps) => [fr[0]!, encodePartial({ ...ps[0]!, grads: ps[0]!.grads.subarray(1) }), ...fr.slice(2)]);
          bad('msgpack', 20, (fr) => [fr[0]!, Buffer.from([0x82, 0xa1, 0x74, 0xc1]), ...fr.slice(2)]);
          bad('big', 30, (fr) => [fr[0]!, Buffer.alloc(fr[1]!.length + 2048), ...fr.slice(2)]);
          bad('stale', 40, (fr, ps) => [encodePartial({ ...ps[0]!, step: ps[0]!.step - 1 }), ...fr]);
          await coord.waitForWorkers(4, 30_000);
          return coord;
        },
      },
    );
    assert.equal(s.paramsSha256, reference);
    const exits = await Promise.all(workers);
    assert.deepEqual(
      exits.map((e) => e.code),
      [CLOSE.badFrame, CLOSE.badFrame, 1009, CLOSE.goingAway],
    );
    const st = steps(records);
    for (const id of ['shape', 'msgpack', 'big']) {
      const step = firedAt.get(id)!;
      assert.ok(st[step - 1]!.executors.find((e) => e.id === `remote-${id}`)!.failed !== undefined, `${id} failed at step ${step}`);
      const rec = records.find((r) => r.executor === `remote-${id}` && r.code === 'GS_ERR_WIRE');
      assert.ok(rec !== undefined, `a GS_ERR_WIRE record names ${id}`);
      assert.match(String(rec.peer), /^127\.0\.0\.1:\d+$/);
    }
    assert.match(
      String(records.find((r) => r.executor === 'remote-shape' && r.code === 'GS_ERR_WIRE')!.err),
      /field "grads" has \d+ bytes, expected/,
    );
    const stale = records.find((r) => r.executor === 'remote-stale' && r.msg === 'remote: partial for an earlier step dropped')!;
    assert.equal(stale.step, firedAt.get('stale')! - 1);
    assert.ok(
      st[firedAt.get('stale')! - 1]!.executors.find((e) => e.id === 'remote-stale')!.failed === undefined,
      'a stale partial is dropped, not fatal',
    );
    assert.equal(s.skippedSteps, 0);
  });

  it('over wss (TLS, a self-signed certificate the worker trusts by --ca): the single-thread paramsSha256; a worker that does not trust it is refused and the run goes on', async () => {
    const tlsDir = path.join(repoRoot(), 'test', 'fixtures', 'tls');
    const cert = fs.readFileSync(path.join(tlsDir, 'cert.pem'));
    const key = fs.readFileSync(path.join(tlsDir, 'key.pem'));
    const { logger, records } = collectingLogger();
    let trusted: Promise<WorkerExit> | null = null;
    let untrusted: unknown = null;
    let url = '';
    const s = await train(
      { ...base(), threads: 0 },
      {
        runDir: tempDir(),
        logger,
        kernels: 'ref',
        joinable: async (ctx) => {
          const c = await startCoordinator({
            host: '127.0.0.1',
            port: 0,
            token: TOKEN,
            tls: { cert, key },
            run: ctx.run,
            spec: ctx.spec,
            microBatch: ctx.microBatch,
            data: ctx.data,
            logger: ctx.logger,
          });
          url = c.url;
          // without the certificate in its trust store the worker fails the TLS handshake
          untrusted = await runWorker({ url: c.url, token: TOKEN, id: 'no-ca', threads: 0, kernels: 'ref' }).then(
            (x) => x,
            (e: unknown) => e,
          );
          trusted = runWorker({ url: c.url, token: TOKEN, id: 'tls', threads: 0, kernels: 'ref', ca: cert });
          await workers.joined(c, 1);
          return c;
        },
      },
    );
    assert.match(url, /^wss:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(s.paramsSha256, reference);
    assert.ok(untrusted instanceof Error, `a worker without --ca is refused (got ${JSON.stringify(untrusted)})`);
    assert.match((untrusted as Error).message, /TLS certificate is not trusted here \(DEPTH_ZERO_SELF_SIGNED_CERT: .*--ca FILE/);
    assert.equal((untrusted as { code?: string }).code, 'GS_ERR_IO');
    const st = steps(records);
    const remoteSteps = st.filter((r) =>
      r.executors.some((e) => e.id === 'remote-tls' && e.leaves[1] > e.leaves[0] && e.failed === undefined),
    );
    assert.ok(remoteSteps.length >= 100, `the wss worker computed in most steps (${remoteSteps.length} of ${st.length})`);
    assert.equal((await trusted!).code, CLOSE.goingAway);
  });

  it('--retry: a worker started before the coordinator listens joins once it does; cut off mid-run, it joins again and computes: same paramsSha256', async () => {
    const { logger, records } = collectingLogger();
    // a TCP proxy in front of the coordinator, listening before it exists, whose connections the test cuts
    let target = 0;
    const links = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      if (target === 0) {
        client.destroy();
        return;
      } // nothing behind it yet: as a refused connection
      const up = net.connect(target, '127.0.0.1');
      links.add(client).add(up);
      const drop = (): void => {
        client.destroy();
        up.destroy();
        links.delete(client);
        links.delete(up);
      };
      client.on('error', drop).on('close', drop).pipe(up);
      up.on('error', drop).on('close', drop).pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const url = `ws://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
    const events: string[] = [];
    const worker = runWorkerRetrying(
      { url, token: TOKEN, id: 'elastic', threads: 0, kernels: 'ref', onEvent: (l) => events.push(l) },
      { retryMs: 30_000, firstDelayMs: 50, maxDelayMs: 400 },
    );
    let coord: Coordinator | null = null;
    let cutAt = 0;
    const hooks = new Map<number, () => Promise<void>>([
      [
        40,
        async () => {
          cutAt = 40;
          for (const l of links) l.destroy(); // no close frame: the worker sees 1006
        },
      ],
      [
        60,
        async () => {
          await workers.joined(coord!, 1);
        },
      ],
    ]);
    try {
      await new Promise((resolve) => setTimeout(resolve, 300)); // a few refused attempts first
      const s = await train(
        { ...base(), threads: 0 },
        {
          runDir: tempDir(),
          logger,
          kernels: 'ref',
          executors: async (ctx) => [gate(ctx as never, hooks)],
          joinable: async (ctx) => {
            coord = await startCoordinator({
              host: '127.0.0.1',
              port: 0,
              token: TOKEN,
              run: ctx.run,
              spec: ctx.spec,
              microBatch: ctx.microBatch,
              data: ctx.data,
              logger: ctx.logger,
            });
            target = Number(new URL(coord.url).port);
            await workers.joined(coord, 1);
            return coord;
          },
        },
      );
      assert.equal(s.paramsSha256, reference);
      const st = steps(records);
      const works = (r: StepRecord): boolean =>
        r.executors.some((e) => e.id === 'remote-elastic' && e.examples > 0 && e.failed === undefined);
      assert.ok(st.slice(0, cutAt - 1).some(works), 'the worker computed before the cut');
      assert.ok(!st[cutAt + 1]!.executors.some((e) => e.id === 'remote-elastic'), 'it is gone just after the cut');
      assert.ok(st.slice(60).some(works), 'it computes again after joining again');
      assert.ok(
        events.some((l) => /cannot reach the coordinator.*joining again in/.test(l)),
        `it said it retried before the coordinator was up: ${events.join(' | ')}`,
      );
      assert.ok(
        events.some((l) => /connection closed \(1006\); joining again in/.test(l) || /cannot join.*joining again in/.test(l)),
        `it said it retried after the cut: ${events.join(' | ')}`,
      );
      assert.equal((await worker).code, CLOSE.goingAway, "the run's end stops it (no retry)");
    } finally {
      proxy.close();
      for (const l of links) l.destroy();
    }
  });

  for (const [name, every] of [
    ['once', false],
    ['at every step', true],
  ] as const) {
    it(`a worker that sends a NaN partial ${name} is an executor fault: closed (1008), its range recomputed, the single-thread paramsSha256`, async () => {
      const { logger, records } = collectingLogger();
      let w: Promise<WorkerExit> | null = null;
      let nanAt = 0;
      let lies = 0;
      const s = await train(
        { ...base(), threads: 0 },
        {
          runDir: tempDir(),
          logger,
          kernels: 'ref',
          joinable: async (ctx) => {
            const c = await coordinatorFor(ctx);
            w = runWorkerWith(
              { url: c.url, id: 'nan', threads: 0, kernels: 'ref' },
              {
                tamper: (step, frames, ps) => {
                  if (step < 10 || (!every && nanAt > 0)) return frames;
                  if (nanAt === 0) nanAt = step;
                  lies++;
                  const g = Float32Array.from(ps[0]!.grads);
                  g[3] = NaN;
                  return [frames[0]!, encodePartial({ ...ps[0]!, grads: g }), ...frames.slice(2)];
                },
              },
            );
            await c.waitForWorkers(1, 30_000);
            return c;
          },
        },
      );
      assert.equal(s.skippedSteps, 0);
      assert.equal(s.paramsSha256, reference);
      assert.equal(lies, 1, 'closed at its first lie, it never sent another');
      const st = steps(records);
      const e = st[nanAt - 1]!.executors.find((x) => x.id === 'remote-nan')!;
      assert.match(
        String(e.failed),
        /returned a non-finite value in dJdW\[0\] \(element 3\) for tree node \d+:\d+ at step \d+, which recomputed on the main thread is finite/,
      );
      const closed = records.find((r) => r.code === 'GS_ERR_EXECUTOR' && r.closeCode === CLOSE.badFrame) as { err: string } | undefined;
      assert.ok(closed, 'the coordinator logged the close');
      assert.match(closed.err, /^remote-nan returned a non-finite value/);
      const exit = await w!;
      assert.equal(exit.code, CLOSE.badFrame);
      assert.ok(
        st.slice(nanAt).every((r) => !r.executors.some((x) => x.id === 'remote-nan')),
        'dropped from the next step on',
      );
    });
  }
});
