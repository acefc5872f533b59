/**
 * `gradsync train --monitor` serves the run's records live; `gradsync tail ws://…` reads them.
 * Real processes, loopback, port 0.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot, tempDir } from '../helpers/paths';
import { selfSignedCert } from '../helpers/tls-cert';

/** The parsed records of an NDJSON log. */
const recordsOf = (file: string): Record<string, unknown>[] =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

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
  it('train --monitor --tls-cert/--tls-key serves wss://; tail --ca with the token reads it, a wrong token is refused; both are records in the run log', async function () {
    const cert = selfSignedCert();
    if (cert === null) this.skip(); // no openssl CLI: no certificate to test with
    const bin = path.join(repoRoot(), 'bin', 'gradsync.js');
    const token = 'tok-monitor-integration-4c5d6e';
    const dir = tempDir();
    const runDir = path.join(dir, 'run');
    const env = { ...process.env, GRADSYNC_TOKEN: token };
    const child = spawn(
      process.execPath,
      [
        bin,
        'train',
        '--steps',
        '200000',
        '--threads',
        '0',
        '--monitor',
        '127.0.0.1:0',
        '--tls-cert',
        cert!.certFile,
        '--tls-key',
        cert!.keyFile,
        '--run-dir',
        runDir,
        '--no-progress',
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /live record stream on (wss?:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.once('exit', (c) => reject(new Error(`train exited (${c}) before serving: ${out}`)));
      });
      assert.match(url, /^wss:/, 'served over TLS');
      const tail = (args: string[], tok: string): ReturnType<typeof spawnSync> =>
        spawnSync(process.execPath, [bin, 'tail', url, '--once', '--json', ...args], {
          encoding: 'utf8',
          timeout: 30_000,
          env: { ...process.env, GRADSYNC_TOKEN: tok },
        });
      const untrusted = tail([], token);
      assert.equal(untrusted.status, 1, String(untrusted.stderr));
      assert.match(String(untrusted.stderr), /not trusted here.*--ca FILE/);
      const wrong = tail(['--ca', cert!.certFile], 'tok-not-the-one');
      assert.equal(wrong.status, 1, String(wrong.stderr));
      assert.match(String(wrong.stderr), /refused the subscription \(401\): wrong token/);
      let lines: Record<string, unknown>[] = [];
      for (let attempt = 0; attempt < 50 && !lines.some((r) => r.msg === 'step'); attempt++) {
        const r = tail(['--ca', cert!.certFile], token);
        assert.equal(r.status, 0, String(r.stderr));
        lines = String(r.stdout)
          .trim()
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        if (!lines.some((x) => x.msg === 'step')) await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(lines[0]!.msg, 'start');
      assert.ok(
        lines.some((r) => r.msg === 'step'),
        'step records arrive over wss://',
      );
      // the run log holds the monitor's records (synchronous writes: there as soon as logged)
      const log = recordsOf(path.join(runDir, 'log.ndjson'));
      const monitor = log.filter((r) => String(r.msg).startsWith('monitor: '));
      const listening = monitor.find((r) => r.msg === 'monitor: listening');
      assert.ok(listening, JSON.stringify(monitor));
      assert.equal(listening.tls, true);
      assert.equal(listening.authRequired, true);
      const refused = monitor.filter((r) => r.msg === 'monitor: subscriber refused (401)');
      assert.deepEqual(
        refused.map((r) => [r.code, r.reason]),
        [['GS_ERR_AUTH', 'wrong token']],
      );
      assert.ok(monitor.some((r) => r.msg === 'monitor: subscriber connected' && /^127\.0\.0\.1:\d+$/.test(String(r.peer))));
      assert.ok(monitor.some((r) => r.msg === 'monitor: TLS handshake failed, connection closed'));
      for (const r of monitor) assert.equal(r.run, log[0]!.run, 'a record of the run');
      assert.ok(!fs.readFileSync(path.join(runDir, 'log.ndjson'), 'utf8').includes(token), 'the token reached the log');
    } finally {
      child.kill('SIGTERM');
    }
  });
});
