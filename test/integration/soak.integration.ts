/**
 * The soak run (issue 24 item 5): the digits default trains 3,000 steps with `replicate: 2`
 * while six worker processes on 127.0.0.1 join, leave (SIGTERM), hang (SIGSTOP, later
 * SIGCONT) and are killed (SIGKILL) on a seeded schedule (GRADSYNC_TEST_SEED replays one); one
 * of the six is a liar process (test/fixtures/liar-worker.ts) that sends finite wrong partials
 * from its 20th…300th step, replaced by a new liar each time it is caught; and a live-stream
 * subscriber connects and never reads. The run ends with the single-thread paramsSha256, every liar closed with 4011, the
 * subscriber dropped as slow, the coordinator's RSS bounded and its descriptors all given back.
 * The figures (faults, RSS, descriptors) are printed.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { loadConfigFile } from '../../src/config/load';
import type { RunConfig } from '../../src/config';
import { CLOSE } from '../../src/parallel/messages';
import { MainExecutor } from '../../src/parallel/main-executor';
import type { Executor } from '../../src/parallel/executor';
import { startCoordinator, type Coordinator } from '../../src/parallel/coordinator-server';
import { startLiveServer, type LiveServer } from '../../src/observe/live-server';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import { train } from '../../src/train/loop';
import type { ExecutorContext } from '../../src/train/options';
import { repoRoot, tempDir } from '../helpers/paths';
import { seeded, testSeed } from '../helpers/seeded';

const STEPS = 3000;
const WORKERS = 6;
const BIN = path.join(repoRoot(), 'bin', 'gradsync.js');
const LIAR = path.join(__dirname, '..', 'fixtures', 'liar-worker.js');
const MiB = 1024 * 1024;

interface Worker {
  id: string;
  liar: boolean;
  p: ChildProcess;
  stopped: boolean;
  /** Set once the process has exited (its pipes closed). */
  gone: Promise<void>;
  stderr: string[];
}

const openFds = (): number => fs.readdirSync('/proc/self/fd').length;

describe('soak run (integration, issue 24)', function () {
  this.timeout(240_000);
  const base = (replicate: 1 | 2): RunConfig => ({
    ...loadConfigFile(path.join(repoRoot(), 'config', 'default.json')),
    steps: STEPS,
    dtype: 'float32',
    batch: 64,
    microBatch: 8,
    threads: 0,
    replicate,
    checkpoint: { ...loadConfigFile(path.join(repoRoot(), 'config', 'default.json')).checkpoint, every: 500 },
  });
  const all: Worker[] = [];
  after(() => {
    for (const w of all) {
      if (w.p.exitCode !== null || w.p.signalCode !== null) continue;
      if (w.stopped) w.p.kill('SIGCONT');
      w.p.kill('SIGKILL');
    }
  });

  it('six workers joining, leaving, hung and killed, a liar among them, a subscriber that never reads: the single-thread paramsSha256', async function () {
    if (!fs.existsSync('/proc/self/fd')) this.skip(); // descriptors are counted in /proc
    const reference = (await train(base(1), { runDir: tempDir(), kernels: 'ref' })).paramsSha256;
    const seed = testSeed();
    const rnd = seeded(seed);
    const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)]!;
    const fdsBefore = openFds();
    const runDir = tempDir();
    const t0 = Date.now();
    const faults = { kill: 0, hang: 0, leave: 0, joins: 0, liars: 0 };
    let coord: Coordinator | null = null;
    let n = 0;

    const spawnWorker = (liar: boolean): Worker => {
      const id = `${liar ? 'liar' : 'w'}${++n}`;
      const args = liar
        ? [LIAR, coord!.url, id, String(20 + Math.floor(rnd() * 280))]
        : [BIN, 'worker', '--join', coord!.url, '--threads', '0', '--kernels', 'ref', '--id', id];
      const p = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      const gone = new Promise<void>((resolve) => p.once('close', () => resolve()));
      const w: Worker = { id, liar, p, stopped: false, gone, stderr: [] };
      p.stderr!.on('data', (c: Buffer) => w.stderr.push(c.toString()));
      all.push(w);
      faults.joins++;
      if (liar) faults.liars++;
      return w;
    };
    const listed = (id: string): boolean => coord!.current().some((e) => e.id === `remote-${id}`);
    const alive = (): Worker[] => all.filter((w) => w.p.exitCode === null && w.p.signalCode === null);
    const waitListed = async (w: Worker): Promise<void> => {
      const t0 = Date.now();
      while (!listed(w.id)) {
        if (Date.now() - t0 > 30_000) throw new Error(`${w.id} did not join within 30 s: ${w.stderr.join('')}`);
        if (w.p.exitCode !== null) return; // a liar caught at once has come and gone
        await new Promise((r) => setTimeout(r, 5));
      }
    };

    // the schedule: 30 faults at random steps in 50…2900 (kill, hang, leave, 10 each); whatever
    // leaves is replaced 5…40 steps later, a caught liar by a new liar, so six are usually there
    const kinds = [...Array<string>(10).fill('kill'), ...Array<string>(10).fill('hang'), ...Array<string>(10).fill('leave')];
    const at = new Map<number, string[]>();
    const plan = (s: number, what: string): void => void at.set(s, [...(at.get(s) ?? []), what]);
    for (const k of kinds) plan(50 + Math.floor(rnd() * 2850), k);
    const conts = new Map<number, Worker[]>();
    let liarNext = false;
    let acted = 0;
    const rss: { step: number; mb: number }[] = [];

    const act = async (step: number): Promise<void> => {
      for (let s = acted + 1; s <= step; s++) {
        if (s % 100 === 0) rss.push({ step: s, mb: process.memoryUsage().rss / MiB });
        for (const w of conts.get(s) ?? []) {
          if (w.p.exitCode === null && w.p.signalCode === null) w.p.kill('SIGCONT');
          w.stopped = false;
        }
        // a liar caught (its process exits after the 4011 close) is replaced by another liar
        if (!all.some((w) => w.liar && w.p.exitCode === null && w.p.signalCode === null) && !liarNext && s < STEPS - 200) {
          liarNext = true;
          plan(s + 5 + Math.floor(rnd() * 35), 'join-liar');
        }
        for (const k of at.get(s) ?? []) {
          const running = alive().filter((w) => !w.stopped && !w.liar);
          if (k === 'join' || k === 'join-liar') {
            if (k === 'join-liar') liarNext = false;
            if (k === 'join' && alive().length >= WORKERS) continue;
            await waitListed(spawnWorker(k === 'join-liar'));
            continue;
          }
          if (running.length === 0) continue;
          const w = pick(running);
          if (k === 'kill') {
            w.p.kill('SIGKILL');
            faults.kill++;
          } else if (k === 'leave') {
            w.p.kill('SIGTERM');
            faults.leave++;
          } else {
            w.p.kill('SIGSTOP');
            w.stopped = true;
            const back = s + 3 + Math.floor(rnd() * 30);
            conts.set(back, [...(conts.get(back) ?? []), w]);
            faults.hang++;
          }
          if (k !== 'hang') plan(s + 5 + Math.floor(rnd() * 35), 'join');
        }
      }
      acted = Math.max(acted, step);
    };

    // a main-thread executor that runs the schedule before computing each step
    const gate = (ctx: ExecutorContext): Executor => {
      const main = new MainExecutor(ctx.spec, referenceKernels('float32'), ctx.data, ctx.microBatch);
      return {
        id: 'gate',
        kind: 'main',
        async compute(task, nodes) {
          await act(task.step);
          return main.computeSync(task, nodes);
        },
        recycle: (p) => main.recycle(p),
        close: () => Promise.resolve(),
      };
    };

    // the live stream with a subscriber that sends its upgrade request and never reads a byte
    const live: LiveServer = await startLiveServer({ host: '127.0.0.1', port: 0, maxBufferedBytes: 64 * 1024, heartbeatMs: 600_000 });
    const mute = net.connect(live.port, '127.0.0.1');
    mute.pause();
    const muteClosed = new Promise<void>((resolve) => mute.once('close', () => resolve()));
    mute.on('error', () => {});
    mute.write(
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );

    const s = await train(base(2), {
      runDir,
      kernels: 'ref',
      tee: (line) => live.publish(JSON.parse(line) as object),
      onLogger: (log) => live.useLogger(log),
      executors: async (ctx) => [gate(ctx)],
      joinable: async (ctx) => {
        coord = await startCoordinator({
          host: '127.0.0.1',
          port: 0,
          run: ctx.run,
          spec: ctx.spec,
          microBatch: ctx.microBatch,
          data: ctx.data,
          logger: ctx.logger,
          heartbeatMs: 500,
          maxMisses: 2,
          deadline: { floorMs: 250, factor: 5, firstMs: 3000 },
        });
        const first = [spawnWorker(true), ...Array.from({ length: WORKERS - 1 }, () => spawnWorker(false))];
        for (const w of first) await waitListed(w);
        return coord;
      },
    });
    const seconds = (Date.now() - t0) / 1000;
    await live.close();
    for (const w of alive()) {
      if (w.stopped) w.p.kill('SIGCONT');
    }
    await Promise.all(all.map((w) => w.gone));
    mute.destroy(); // its end of the connection, never read
    await muteClosed;

    assert.equal(s.steps, STEPS);
    assert.equal(s.skippedSteps, 0);
    assert.equal(s.paramsSha256, reference);

    const records = fs
      .readFileSync(s.logFile!, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const steps = records.filter((r) => r.msg === 'step') as unknown as {
      executors: { id: string; failed?: string; examples: number }[];
    }[];
    assert.equal(steps.length, STEPS);
    const caught = records.filter((r) => r.code === 'GS_ERR_EXECUTOR' && r.closeCode === CLOSE.replicaMismatch);
    // a liar that joined late may not have reached its first lie; every one that lied was caught
    const liars = all.filter((w) => w.liar && w.stderr.join('').includes(`liar ${w.id}: lied`));
    assert.ok(liars.length >= 3, `${liars.length} liars lied`);
    assert.equal(caught.length, liars.length, 'every liar caught once');
    for (const w of liars) assert.match(w.stderr.join(''), new RegExp(`liar ${w.id}: closed ${CLOSE.replicaMismatch} `));
    const remoteSteps = steps.filter((r) =>
      r.executors.some((e) => e.id.startsWith('remote-') && e.examples > 0 && e.failed === undefined),
    ).length;
    assert.ok(remoteSteps > STEPS / 2, `remote workers computed in ${remoteSteps} steps`);
    const dropped = records.find((r) => r.msg === 'monitor: slow subscriber dropped');
    assert.ok(dropped, 'the subscriber that never reads was dropped as slow');

    // memory: the RSS of the second half of the run stays within 48 MiB of the first half's peak
    const early = Math.max(...rss.filter((r) => r.step <= STEPS / 2).map((r) => r.mb));
    const late = Math.max(...rss.filter((r) => r.step > STEPS / 2).map((r) => r.mb));
    assert.ok(late < early + 48, `RSS peak ${early.toFixed(0)} MiB in steps ≤ ${STEPS / 2}, ${late.toFixed(0)} MiB after`);
    // descriptors: every socket, pipe and file the run opened is closed again
    let fdsAfter = openFds();
    for (let k = 0; k < 100 && fdsAfter > fdsBefore; k++) {
      await new Promise((r) => setTimeout(r, 20));
      fdsAfter = openFds();
    }
    assert.equal(fdsAfter, fdsBefore, 'open descriptors after the run');

    const failed = steps.reduce((k, r) => k + r.executors.filter((e) => e.failed !== undefined).length, 0);
    process.stdout.write(
      `      soak (GRADSYNC_TEST_SEED=${seed}): ${STEPS} steps in ${seconds.toFixed(1)} s — ${faults.kill} SIGKILL, ${faults.hang} SIGSTOP/SIGCONT, ` +
        `${faults.leave} SIGTERM, ${faults.joins} joins, ${caught.length} liars caught (${faults.liars} joined); ${failed} ranges recomputed; remote work in ${remoteSteps}/${STEPS} steps; ` +
        `RSS peak ${early.toFixed(0)} MiB (first half) / ${late.toFixed(0)} MiB (second half); descriptors ${fdsBefore} before, ${fdsAfter} after; ` +
        `subscriber dropped with ${String(dropped.bufferedAmount)} bytes queued\n`,
    );
  });
});
