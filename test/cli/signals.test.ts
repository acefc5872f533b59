/**
 * `gradsync train` stopped by a signal (a pod evicted, a job cancelled, Ctrl-C): the step in
 * progress ends, its checkpoint and an `end` record with `interrupted` are written, the exit
 * status is 128 + the signal's number, a joined worker is told with close code 1012 (the run
 * may resume), --auto-resume continues to the uninterrupted run's paramsSha256, a signal
 * ends --wait-workers' wait the same way, and a worker told to stop leaves between steps.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot, tempDir } from '../helpers/paths';

const BIN = path.join(repoRoot(), 'bin', 'gradsync.js');

interface Proc {
  child: ChildProcess;
  out: string[];
  err: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[]): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: tempDir(), stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  const err: string[] = [];
  child.stdout!.on('data', (b: Buffer) => out.push(b.toString()));
  child.stderr!.on('data', (b: Buffer) => err.push(b.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  return { child, out, err, exit };
}

function records(file: string): Record<string, unknown>[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.endsWith('}'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Resolves once `until()` holds, polling every 10 ms; fails after 60 s, or when `p` exits first. */
async function waitFor(p: Proc, until: () => boolean, what: string): Promise<void> {
  const t0 = Date.now();
  while (!until()) {
    if (p.child.exitCode !== null) assert.fail(`exited before ${what}: ${p.err.join('')}`);
    if (Date.now() - t0 > 60_000) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sha = (args: string[]): string => {
  const r = spawnSync(process.execPath, [BIN, ...args, '--json'], { cwd: tempDir(), encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { paramsSha256: string }).paramsSha256;
};

/** A step record with worker `id`'s executor in it. */
const stepWith =
  (id: string) =>
  (r: Record<string, unknown>): boolean =>
    r.msg === 'step' && (r.executors as { id: string }[]).some((e) => e.id === id);

/** A long coordinator run waiting for one worker, and worker w1 joined to it, once a step has used it. */
async function coordinatorWithWorker(): Promise<{ coord: Proc; worker: Proc; log: string }> {
  const dir = tempDir();
  const log = path.join(dir, 'log.ndjson');
  const coord = start([
    'train',
    '--threads',
    '0',
    '--steps',
    '100000',
    '--no-progress',
    '--run-dir',
    dir,
    '--listen',
    '127.0.0.1:0',
    '--wait-workers',
    '1',
  ]);
  // without --json the human lines are on stdout
  const listening = (): RegExpExecArray | null => /listening for workers on (ws:\/\/[^\s)]+)/.exec(coord.out.join(''));
  await waitFor(coord, () => listening() !== null, 'the listen line');
  const worker = start(['worker', '--join', listening()![1]!, '--threads', '0', '--id', 'w1']);
  await waitFor(coord, () => records(log).some(stepWith('remote-w1')), 'a step with the worker');
  return { coord, worker, log };
}

describe('gradsync train stopped by SIGTERM / SIGINT', function () {
  this.timeout(180_000);

  for (const [sig, status] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`${sig}: ends the step in progress, checkpoints it, writes end with interrupted, exits ${status}; --auto-resume then reaches the uninterrupted paramsSha256`, async () => {
      const dir = tempDir();
      const log = path.join(dir, 'log.ndjson');
      const args = ['train', '--threads', '0', '--steps', '1500', '--no-progress', '--run-dir', dir];
      const p = start([...args, '--auto-resume']);
      await waitFor(p, () => records(log).some((r) => r.msg === 'step' && (r.step as number) >= 100), 'step 100');
      p.child.kill(sig);
      const { code } = await p.exit;
      assert.equal(code, status, p.err.join(''));
      const stderr = p.err.join('');
      assert.match(stderr, new RegExp(`gradsync: ${sig}: stopping after the step in progress \\(checkpoint, then exit ${status}\\)`));
      assert.match(stderr, new RegExp(`gradsync: stopped by ${sig} after step \\d+: continue with --resume`));
      const end = records(log).find((r) => r.msg === 'end') as { steps: number; interrupted: boolean; checkpoint: string };
      assert.equal(end.interrupted, true);
      assert.ok(end.steps >= 100 && end.steps < 1500, `stopped at step ${end.steps}`);
      assert.equal(
        path.basename(end.checkpoint),
        `step-${String(end.steps).padStart(8, '0')}.gsck`,
        'the step it stopped at is checkpointed',
      );
      const steps = records(log).filter((r) => r.msg === 'step');
      assert.equal(steps.at(-1)!.step, end.steps, 'no step record after the last step done');
      assert.equal(sha([...args, '--auto-resume']), sha(['train', '--threads', '0', '--steps', '1500', '--run-dir', tempDir()]));
    });
  }

  it('SIGTERM while --wait-workers waits: the wait ends, step 0 is checkpointed, exit 143 (no second signal needed)', async () => {
    const dir = tempDir();
    const coord = start(['train', '--threads', '0', '--no-progress', '--run-dir', dir, '--listen', '127.0.0.1:0', '--wait-workers', '2']);
    await waitFor(coord, () => coord.out.join('').includes('waiting for 2 workers…'), 'the waiting line');
    coord.child.kill('SIGTERM');
    assert.equal((await coord.exit).code, 143, coord.err.join(''));
    assert.match(coord.err.join(''), /gradsync: stopped by SIGTERM after step 0: continue with --resume/);
    const end = records(path.join(dir, 'log.ndjson')).find((r) => r.msg === 'end') as {
      steps: number;
      interrupted: boolean;
      checkpoint: string;
    };
    assert.equal(end.interrupted, true);
    assert.equal(end.steps, 0);
    assert.equal(path.basename(end.checkpoint), 'step-00000000.gsck');
  });

  it('SIGTERM to a worker: it answers the step in progress, closes with 1001 and exits 143; the run goes on without it', async () => {
    const { coord, worker, log } = await coordinatorWithWorker();
    const withWorker = stepWith('remote-w1');
    worker.child.kill('SIGTERM');
    assert.equal((await worker.exit).code, 143, worker.err.join(''));
    const werr = worker.err.join('');
    assert.match(werr, /gradsync worker: SIGTERM: leaving after the step in progress/);
    assert.match(werr, /gradsync worker: stopped by SIGTERM after \d+ steps/);
    // the coordinator saw a worker that left (1001), and its later steps run without it
    await waitFor(coord, () => records(log).some((r) => r.msg === 'remote: worker left' && r.closeCode === 1001), 'the worker left record');
    const leftAt = records(log).findIndex((r) => r.msg === 'remote: worker left');
    const stepsAfter = (): Record<string, unknown>[] =>
      records(log)
        .slice(leftAt)
        .filter((r) => r.msg === 'step');
    await waitFor(coord, () => stepsAfter().length >= 3, 'three steps after it left');
    // the first may be the step whose answer came with the close
    assert.ok(!stepsAfter().slice(1).some(withWorker), 'no step with the worker after it left');
    coord.child.kill('SIGTERM');
    assert.equal((await coord.exit).code, 143, coord.err.join(''));
  });

  it('a joined worker is told the run was interrupted (close 1012), not that it ended', async () => {
    const { coord, worker } = await coordinatorWithWorker();
    coord.child.kill('SIGTERM');
    assert.equal((await coord.exit).code, 143, coord.err.join(''));
    // without --retry the worker ends there, naming the close: exit 1 (a run that ended would be 0)
    assert.equal((await worker.exit).code, 1, worker.err.join(''));
    assert.match(worker.err.join(''), /connection closed \(1012: gradsync run interrupted/);
  });
});
