/**
 * Issue 7, part 7: several hosts on one machine. A remote worker runs in a network namespace
 * of its own, joined to this one by a veth pair on a private /30 this test creates
 * (10.213.47.1 here, 10.213.47.2 there), with latency and loss added by `tc netem` (or, on a
 * kernel without netem, a rate limit by `tbf`, which adds queueing delay but no loss); the
 * run authenticates with a token (it is not loopback) and ends with the single-thread
 * paramsSha256. Traffic flows only between the two addresses created here. Needs root and
 * iproute2 (`ip`, `tc`; Debian: apt-get install -y iproute2); skips with the reason otherwise.
 * The namespace and the veth pair are removed afterwards.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { loadConfigFile } from '../../src/config/load';
import type { RunConfig } from '../../src/config';
import type { StepRecord } from '../../src/observe/schema';
import { startCoordinator } from '../../src/parallel/coordinator-server';
import { train } from '../../src/train/loop';
import { collectingLogger } from '../helpers/log-sink';
import { repoRoot, tempDir } from '../helpers/paths';

const NS = `gsns-${process.pid}`;
const HOST_IF = `gsh${process.pid % 100000}`;
const NS_IF = `gsw${process.pid % 100000}`;
const HOST_IP = '10.213.47.1';
const NS_IP = '10.213.47.2';
const TOKEN = 'netns-test-token-7d1e';

function sh(args: string[]): string {
  return execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function trySh(args: string[]): string | null {
  try {
    sh(args);
    return null;
  } catch (e) {
    return ((e as { stderr?: string }).stderr ?? (e as Error).message).trim();
  }
}

describe('a worker on its own network host (namespace, veth, netem) (integration, issue 7)', function () {
  this.timeout(120_000);
  let impairment = '';
  let worker: ChildProcess | null = null;
  let made = false;

  before(function () {
    if (process.platform !== 'linux') this.skip(); // namespaces are Linux's
    if (process.getuid?.() !== 0) {
      process.stdout.write('      skipped: network namespaces need root\n');
      this.skip();
    }
    if (trySh(['ip', '-V']) !== null) {
      process.stdout.write('      skipped: `ip` (iproute2) is not installed\n');
      this.skip();
    }
    const routes = sh(['ip', '-4', 'route']);
    if (routes.includes('10.213.47.')) {
      process.stdout.write('      skipped: 10.213.47.0/30 is already routed here\n');
      this.skip();
    }
    const err = trySh(['ip', 'netns', 'add', NS]);
    if (err !== null) {
      process.stdout.write(`      skipped: cannot create a network namespace: ${err}\n`);
      this.skip();
    }
    made = true;
    sh(['ip', 'link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', NS_IF]);
    sh(['ip', 'link', 'set', NS_IF, 'netns', NS]);
    sh(['ip', 'addr', 'add', `${HOST_IP}/30`, 'dev', HOST_IF]);
    sh(['ip', 'link', 'set', HOST_IF, 'up']);
    sh(['ip', 'netns', 'exec', NS, 'ip', 'addr', 'add', `${NS_IP}/30`, 'dev', NS_IF]);
    sh(['ip', 'netns', 'exec', NS, 'ip', 'link', 'set', NS_IF, 'up']);
    sh(['ip', 'netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
    // latency and loss both ways; TCP retransmits what is lost
    const netem = ['netem', 'delay', '4ms', '2ms', 'loss', '1%'];
    const e1 = trySh(['tc', 'qdisc', 'add', 'dev', HOST_IF, 'root', ...netem]);
    if (e1 === null) {
      sh(['ip', 'netns', 'exec', NS, 'tc', 'qdisc', 'add', 'dev', NS_IF, 'root', ...netem]);
      impairment = 'netem delay 4 ms ± 2 ms, loss 1 % each way';
    } else {
      const tbf = ['tbf', 'rate', '8mbit', 'burst', '16kbit', 'latency', '200ms'];
      sh(['tc', 'qdisc', 'add', 'dev', HOST_IF, 'root', ...tbf]);
      sh(['ip', 'netns', 'exec', NS, 'tc', 'qdisc', 'add', 'dev', NS_IF, 'root', ...tbf]);
      impairment = `tbf 8 mbit/s each way (tc netem is not available: "${e1}"; no loss emulated)`;
    }
  });

  after(() => {
    if (worker && worker.exitCode === null) worker.kill('SIGKILL');
    if (!made) return;
    trySh(['ip', 'netns', 'del', NS]); // takes the veth pair with it
    trySh(['ip', 'link', 'del', HOST_IF]);
    assert.ok(!sh(['ip', 'netns', 'list']).includes(NS), 'the namespace is gone');
  });

  it('1 local thread + a worker in another namespace over an impaired link: the single-thread paramsSha256', async () => {
    // no straggler duplication: netem's jitter would make the worker sit out steps, and this
    // test follows one worker over an impaired link through every step
    const base = (): RunConfig => ({
      ...loadConfigFile(path.join(repoRoot(), 'config', 'default.json')),
      steps: 60,
      dtype: 'float32',
      batch: 64,
      microBatch: 8,
      duplicateStragglers: false,
    });
    const reference = (await train({ ...base(), threads: 0 }, { runDir: tempDir(), kernels: 'ref' })).paramsSha256;
    const { logger, records } = collectingLogger();
    const out: string[] = [];
    const s = await train(
      { ...base(), threads: 1 },
      {
        runDir: tempDir(),
        logger,
        kernels: 'ref',
        joinable: async (ctx) => {
          const c = await startCoordinator({
            host: HOST_IP,
            port: 0,
            token: TOKEN,
            run: ctx.run,
            spec: ctx.spec,
            microBatch: ctx.microBatch,
            data: ctx.data,
            logger: ctx.logger,
          });
          worker = spawn(
            'ip',
            [
              'netns',
              'exec',
              NS,
              process.execPath,
              path.join(repoRoot(), 'bin', 'gradsync.js'),
              'worker',
              '--join',
              c.url,
              '--threads',
              '0',
              '--kernels',
              'ref',
              '--id',
              'nshost',
            ],
            { env: { ...process.env, GRADSYNC_TOKEN: TOKEN }, stdio: ['ignore', 'ignore', 'pipe'] },
          );
          worker.stderr!.on('data', (b: Buffer) => out.push(b.toString()));
          try {
            await c.waitForWorkers(1, 60_000);
          } catch (e) {
            await c.close();
            throw new Error(`${(e as Error).message}; worker: ${out.join('')}`);
          }
          return c;
        },
      },
    );
    assert.equal(s.paramsSha256, reference);
    const steps = records.filter((r) => r.msg === 'step') as unknown as StepRecord[];
    const remote = steps.filter((r) => r.executors.some((e) => e.id === 'remote-nshost' && e.examples > 0 && e.failed === undefined));
    // the planner sizes ranges by measured speed: over a slow link the worker gets few leaves, but it computes
    assert.ok(remote.length >= 1, 'the namespaced worker computed part of some steps');
    assert.ok(
      steps.slice(5).every((r) => r.executors.some((e) => e.id === 'remote-nshost')),
      'and stayed in the run',
    );
    const ms = remote.map((r) => r.executors.find((e) => e.id === 'remote-nshost')!.computeMs).sort((a, b) => a - b);
    process.stdout.write(
      `      netns: worker at ${NS_IP} in namespace ${NS}, coordinator at ${HOST_IP}; ${impairment}; remote in ${remote.length}/60 steps, median remote wall ${ms[Math.floor(ms.length / 2)]} ms\n`,
    );
  });
});
