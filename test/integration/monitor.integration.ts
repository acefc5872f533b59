/**
 * `gradsync train --monitor` serves the run's records live; `gradsync tail ws://…` reads them.
 * Real processes, loopback, port 0.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { repoRoot, tempDir } from '../helpers/paths';

describe('live record stream (integration)', function () {
  this.timeout(120_000);

  it('train --monitor publishes start and step records that tail ws:// --once --json prints as NDJSON', async () => {
    const bin = path.join(repoRoot(), 'bin', 'gradsync.js');
    const child = spawn(
      process.execPath,
      [bin, 'train', '--steps', '200000', '--threads', '0', '--monitor', '127.0.0.1:0', '--run-dir', tempDir(), '--no-progress'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /live record stream on (ws:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.once('exit', (c) => reject(new Error(`train exited (${c}) before serving: ${out}`)));
      });
      // wait until some steps exist, then read the snapshot
      let lines: Record<string, unknown>[] = [];
      for (let attempt = 0; attempt < 50 && !lines.some((r) => r.msg === 'step'); attempt++) {
        const r = spawnSync(process.execPath, [bin, 'tail', url, '--once', '--json'], { encoding: 'utf8', timeout: 30_000 });
        assert.equal(r.status, 0, r.stderr);
        lines = r.stdout
          .trim()
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        if (!lines.some((x) => x.msg === 'step')) await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(lines[0]!.msg, 'start');
      const steps = lines.filter((r) => r.msg === 'step');
      assert.ok(steps.length > 0, 'step records arrive live');
      // the snapshot is the start record and the last steps, in order (training goes on meanwhile)
      steps.forEach((r, i) => assert.equal(r.step, (steps[0]!.step as number) + i));
      for (const r of steps) assert.equal(r.schema, 1);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('refuses --monitor on a non-loopback address without a token', () => {
    const r = spawnSync(
      process.execPath,
      [path.join(repoRoot(), 'bin', 'gradsync.js'), 'train', '--steps', '1', '--monitor', '0.0.0.0:0', '--run-dir', tempDir()],
      { encoding: 'utf8', env: { ...process.env, GRADSYNC_TOKEN: '' } },
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /GS_ERR_AUTH/);
    assert.match(r.stderr, /without a token/);
  });
});
