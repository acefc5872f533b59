/**
 * Issue 7, part 2: kill -9 and resume. `gradsync train --run-dir D` runs as a real process,
 * is killed with SIGKILL at a random step (read from D/log.ndjson), and `--resume D` ends
 * with the paramsSha256 of an uninterrupted run — with the same thread count, with another,
 * and with a remote worker process on loopback in both legs. Kill steps are random
 * (GRADSYNC_TEST_SEED fixes them) and printed.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfigFile } from '../../src/config/load';
import { readRecords } from '../../src/observe/tail';
import { listCheckpoints, readCheckpoint } from '../../src/train/checkpoint';
import { train } from '../../src/train/loop';
import { repoRoot, tempDir } from '../helpers/paths';
import { seeded, testSeed } from '../helpers/seeded';

const BIN = path.join(repoRoot(), 'bin', 'gradsync.js');
const STEPS = 400;

/** The digits default, float32, checkpoints every 7 steps (keep 2). */
function writeConfig(dir: string): string {
  const base = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'config', 'default.json'), 'utf8')) as Record<string, unknown>;
  const file = path.join(dir, 'run.json');
  fs.writeFileSync(
    file,
    JSON.stringify({ ...base, steps: STEPS, dtype: 'float32', batch: 64, microBatch: 8, checkpoint: { every: 7, keep: 2 } }),
  );
  return file;
}

interface Proc {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  exit: Promise<[number | null, NodeJS.Signals | null]>;
}

function gradsync(args: string[]): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout!.on('data', (c: Buffer) => stdout.push(c.toString()));
  child.stderr!.on('data', (c: Buffer) => stderr.push(c.toString()));
  const exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, stdout, stderr, exit };
}

const live: ChildProcess[] = [];

/** Highest step record in the log so far (whole lines only). */
function lastStep(log: string): number {
  let text: string;
  try {
    text = fs.readFileSync(log, 'utf8');
  } catch {
    return 0;
  }
  let best = 0;
  for (const line of text.split('\n')) {
    if (!line.includes('"msg":"step"')) continue;
    try {
      best = Math.max(best, (JSON.parse(line) as { step: number }).step);
    } catch {
      /* torn */
    }
  }
  return best;
}

/** Polls until `f` holds, failing with `what` and the process output after `ms`. */
async function until(f: () => boolean, ms: number, what: string, p: Proc): Promise<void> {
  const t0 = Date.now();
  while (!f()) {
    if (p.child.exitCode !== null)
      throw new Error(`${what}: the process exited (${p.child.exitCode}) first; stderr:\n${p.stderr.join('')}`);
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms; stderr:\n${p.stderr.join('')}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Starts a coordinator that listens for one worker, and that worker. */
async function withWorker(args: string[]): Promise<{ coord: Proc; worker: Proc }> {
  const coord = gradsync([...args, '--listen', '127.0.0.1:0', '--wait-workers', '1']);
  live.push(coord.child);
  let url = '';
  await until(
    () => {
      const m = /listening for workers on (ws:\/\/\S+)/.exec(coord.stderr.join(''));
      if (m) url = m[1]!;
      return m !== null;
    },
    30_000,
    'the coordinator listens',
    coord,
  );
  const worker = gradsync(['worker', '--join', url, '--threads', '0', '--id', `w${live.length}`]);
  live.push(worker.child);
  return { coord, worker };
}

describe('kill -9 and resume (integration, issue 7)', function () {
  this.timeout(180_000);
  const seed = testSeed();
  const rnd = seeded(seed);
  const kills: string[] = [];
  let reference = '';
  let cfgFile = '';

  before(async () => {
    cfgFile = writeConfig(tempDir());
    reference = (await train({ ...loadConfigFile(cfgFile), threads: 0 }, { runDir: tempDir() })).paramsSha256;
  });
  after(() => {
    for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    process.stdout.write(`      kill -9 steps (GRADSYNC_TEST_SEED=${seed}): ${kills.join('; ')}\n`);
  });

  const scenarios: { name: string; first: string[]; second: string[]; remote: boolean }[] = [
    { name: 'the same thread count (0 → 0)', first: ['--threads', '0'], second: ['--threads', '0'], remote: false },
    { name: 'another thread count (0 → 2)', first: ['--threads', '0'], second: ['--threads', '2'], remote: false },
    {
      name: 'a remote worker process in both legs (1 thread + worker → main + worker)',
      first: ['--threads', '1'],
      second: ['--threads', '0'],
      remote: true,
    },
  ];
  for (const sc of scenarios) {
    it(`SIGKILL at a random step, then --resume RUN_DIR with ${sc.name}: the uninterrupted paramsSha256`, async () => {
      const dir = path.join(tempDir(), 'run');
      const log = path.join(dir, 'log.ndjson');
      const k = 20 + Math.floor(rnd() * 200); // at least two checkpoints (every 7) exist by then
      const args = ['train', cfgFile, '--run-dir', dir, '--no-progress', '--json'];
      const leg1 = sc.remote ? (await withWorker([...args, ...sc.first])).coord : gradsync([...args, ...sc.first]);
      live.push(leg1.child);
      await until(() => lastStep(log) >= k, 120_000, `step ${k} in the log`, leg1);
      leg1.child.kill('SIGKILL');
      const [code, signal] = await leg1.exit;
      assert.equal(signal, 'SIGKILL', `killed, not exited (${code})`);
      const at = lastStep(log);
      assert.ok(at < STEPS, 'killed before the end');
      const ck = listCheckpoints(path.join(dir, 'checkpoints'));
      assert.ok(ck.length >= 1, 'a checkpoint exists');
      const resumeStep = readCheckpoint(ck[0]!).header.step;
      kills.push(`${sc.name}: asked ≥ ${k}, killed after step ${at}, resumed from ${resumeStep}`);

      const rargs = ['train', cfgFile, '--resume', dir, '--no-progress', '--json', ...sc.second];
      const leg2 = sc.remote ? (await withWorker(rargs)).coord : gradsync(rargs);
      live.push(leg2.child);
      const [code2] = await leg2.exit;
      assert.equal(code2, 0, leg2.stderr.join(''));
      const summary = JSON.parse(leg2.stdout.join('')) as { paramsSha256: string; steps: number; runDir: string };
      assert.equal(summary.steps, STEPS);
      assert.equal(summary.runDir, dir);
      assert.equal(summary.paramsSha256, reference);
      assert.match(
        leg2.stderr.join(''),
        new RegExp(`resumed from .*step-${String(resumeStep).padStart(8, '0')}\\.gsck at step ${resumeStep}`),
      );

      // one log across the crash: two starts, the second resumed; at most one torn line
      const recs: Record<string, unknown>[] = [];
      const st = await readRecords(log, (r) => {
        recs.push(r);
      });
      assert.ok(st.skipped.notJson <= 1, `${st.skipped.notJson} unreadable lines`);
      const starts = recs.filter((r) => r.msg === 'start');
      assert.equal(starts.length, 2);
      assert.equal(starts[1]!.startStep, resumeStep);
      const end = recs.find((r) => r.msg === 'end')!;
      assert.equal(end.paramsSha256, reference);
      if (sc.remote) {
        const remoteWorked = recs.some(
          (r) =>
            r.msg === 'step' &&
            (r.step as number) > resumeStep &&
            (r.executors as { kind: string; examples: number }[]).some((e) => e.kind === 'remote' && e.examples > 0),
        );
        assert.ok(remoteWorked, 'the remote worker computed part of the resumed run');
      }
    });
  }

  it("--resume RUN_DIR without a config file takes the run's own config from its checkpoint, and names a corrupt newest checkpoint on stderr", async () => {
    const dir = path.join(tempDir(), 'run');
    const first = gradsync(['train', cfgFile, '--run-dir', dir, '--threads', '0', '--steps', '30', '--no-progress', '--json']);
    assert.equal((await first.exit)[0], 0, first.stderr.join(''));
    const [newest] = listCheckpoints(path.join(dir, 'checkpoints'));
    const b = fs.readFileSync(newest!);
    b[b.length - 1] ^= 0xff;
    fs.writeFileSync(newest!, b);
    const r = gradsync(['train', '--resume', dir, '--threads', '0', '--no-progress', '--json']);
    const [code] = await r.exit;
    assert.equal(code, 0, r.stderr.join(''));
    const err = r.stderr.join('');
    assert.match(err, /warning: skipped corrupt checkpoint .*step-00000030\.gsck \(GS_ERR_CHECKPOINT\): .*checksum mismatch/);
    assert.match(err, /resumed from .*step-00000028\.gsck at step 28/);
    const s = JSON.parse(r.stdout.join('')) as { steps: number; paramsSha256: string };
    // the config file says 400 steps; the first leg's --steps 30 went into its checkpoints' config, which applies
    assert.equal(s.steps, 30);
    const straight = await train({ ...loadConfigFile(cfgFile), threads: 0, steps: 30 }, { runDir: tempDir() });
    assert.equal(s.paramsSha256, straight.paramsSha256);
  });
});
