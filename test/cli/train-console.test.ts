/**
 * What `gradsync train` says on its console (issue: the console says what happens): one line per
 * held-out evaluation, read back against the run's eval records, and one line per remote worker
 * joining, leaving and refused. Real processes on 127.0.0.1, port 0.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot, tempDir } from '../helpers/paths';

const bin = path.join(repoRoot(), 'bin', 'gradsync.js');

describe('gradsync train: the console', function () {
  this.timeout(120_000);

  it('prints one line per epoch with the held-out loss and accuracy of its eval record', () => {
    const dir = tempDir();
    const r = spawnSync(process.execPath, [bin, 'train', '--steps', '135', '--threads', '0', '--no-progress', '--run-dir', dir], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const evals = fs
      .readFileSync(path.join(dir, 'log.ndjson'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"msg":"eval"'))
      .map((l) => JSON.parse(l) as { step: number; epoch: number; loss: number; accuracy: number });
    assert.equal(evals.length, 3);
    const lines = r.stdout.split('\n').filter((l) => /^epoch \d+ \(step/.test(l));
    assert.deepEqual(
      lines,
      evals.map(
        (e) =>
          `epoch ${e.epoch} (step ${e.step}): held-out loss ${Number(e.loss.toPrecision(6))}, accuracy ${(e.accuracy * 100).toFixed(2)} %`,
      ),
    );
    assert.match(r.stdout, /^step \d+\/135 epoch \d+ .* eta \d+ s$/m, 'the plain step lines carry an ETA');
  });

  it('prints a line when a worker joins, one when it leaves, and one when a worker with a wrong token is refused', async () => {
    const token = 'console-token-3b7f';
    const env = { ...process.env, GRADSYNC_TOKEN: token };
    const train = spawn(
      process.execPath,
      [
        bin,
        'train',
        '--steps',
        '300',
        '--threads',
        '1',
        '--listen',
        '127.0.0.1:0',
        '--wait-workers',
        '1',
        '--no-progress',
        '--run-dir',
        tempDir(),
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    train.stdout.on('data', (d: Buffer) => (out += d.toString()));
    train.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => train.once('exit', resolve));
    const join = await new Promise<string>((resolve, reject) => {
      const t = setInterval(() => {
        const m = /listening for workers on (ws:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) {
          clearInterval(t);
          resolve(m[1]!);
        }
      }, 20);
      void exited.then(() => reject(new Error(`train exited: ${out}`)));
    });
    const refused = spawnSync(process.execPath, [bin, 'worker', '--join', join, '--threads', '0', '--id', 'liar'], {
      encoding: 'utf8',
      env: { ...process.env, GRADSYNC_TOKEN: 'not-the-token' },
    });
    assert.notEqual(refused.status, 0);
    const worker = spawnSync(process.execPath, [bin, 'worker', '--join', join, '--threads', '0', '--id', 'w1'], { encoding: 'utf8', env });
    assert.equal(worker.status, 0, worker.stderr);
    assert.equal(await exited, 0, out);
    assert.match(out, /^worker from 127\.0\.0\.1:\d+ refused: wrong token \(401\)$/m);
    assert.match(out, /^worker remote-w1 joined from 127\.0\.0\.1:\d+ \(1 connected\)$/m);
    assert.match(out, /^worker remote-w1 left \(close code \d+\)$/m);
  });
});
