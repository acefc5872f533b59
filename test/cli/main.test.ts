/**
 * The gradsync command end to end: a real process per case, exit codes, parsed JSON output.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { repoRoot, tempDir } from '../helpers/paths';

function gradsync(
  args: string[],
  input?: string,
  env: NodeJS.ProcessEnv = {},
  node: string[] = [],
): { code: number; stdout: string; stderr: string } {
  const argv = [...node, path.join(repoRoot(), 'bin', 'gradsync.js'), ...args];
  const r = spawnSync(process.execPath, argv, {
    cwd: tempDir(),
    input,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const cfg = (name: string): string => path.join(repoRoot(), 'config', name);

/** Node flags that load the test fault preload, which reads GRADSYNC_FAULT (test/fixtures/fault-env.ts, docs/testing.md). */
const FAULT_PRELOAD = ['--require', path.join(__dirname, '..', 'fixtures', 'fault-env.js')];

describe('gradsync CLI', function () {
  this.timeout(120_000);

  it('train --json prints one summary object with steps, loss, paramsSha256 and the parameters of a small model', () => {
    const dir = tempDir();
    const r = gradsync(['train', cfg('doubling.json'), '--json', '--steps', '200', '--run-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'stdout holds only the JSON summary');
    const s = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(s.steps, 200);
    assert.equal(typeof s.loss, 'number');
    assert.match(String(s.paramsSha256), /^[0-9a-f]{64}$/);
    assert.equal((s.params as { W: number[] }[])[0]!.W.length, 1);
    assert.ok(r.stderr.includes(`log: ${path.join(dir, 'log.ndjson')}`), 'the log path is printed at start');
    assert.ok(fs.existsSync(path.join(dir, 'log.ndjson')));
  });

  it('train with flags overriding the config: --lr changes the result, --threads 0 and 2 do not', () => {
    const run = (...extra: string[]): string => {
      const r = gradsync(['train', '--json', '--steps', '60', '--run-dir', tempDir(), ...extra]);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { paramsSha256: string }).paramsSha256;
    };
    const a = run('--threads', '0');
    assert.equal(run('--threads', '2'), a);
    assert.notEqual(run('--threads', '0', '--lr', '0.01'), a);
  });

  it('train with earlyStopping: --json has stoppedEarly, bestEpoch and bestHeldOutLoss, stderr says where it stopped', () => {
    const dir = tempDir();
    const f = path.join(dir, 'early.json');
    const early = { patience: 3, restoreBest: true };
    fs.writeFileSync(
      f,
      JSON.stringify({ epochs: 60, threads: 0, optimizer: { kind: 'momentum', lr: 0.2, momentum: 0.9 }, earlyStopping: early }),
    );
    const r = gradsync(['train', f, '--json', '--run-dir', path.join(dir, 'run')]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as {
      epochs: number;
      stoppedEarly: boolean;
      bestEpoch: number;
      heldOutLoss: number;
      bestHeldOutLoss: number;
    };
    assert.equal(s.stoppedEarly, true);
    assert.ok(Number.isInteger(s.epochs) && s.epochs < 60 && s.bestEpoch <= s.epochs - 1 - 3, JSON.stringify(s));
    assert.equal(s.heldOutLoss, s.bestHeldOutLoss, 'the best weights were restored');
    assert.match(
      r.stderr,
      new RegExp(
        `^stopped early after epoch ${s.epochs - 1}: best epoch ${s.bestEpoch}, held-out loss \\S+ \\(its weights restored\\)$`,
        'm',
      ),
    );
  });

  it('train --threads 2 pins the two compute threads to CPUs of their own (start record), --no-pin leaves them floating, same result', function () {
    if (os.availableParallelism() < 2 || process.platform !== 'linux') this.skip();
    const run = (...extra: string[]): { sha: string; start: Record<string, unknown>; end: Record<string, unknown> } => {
      const dir = tempDir();
      const r = gradsync(['train', '--json', '--steps', '60', '--threads', '2', '--run-dir', dir, ...extra]);
      assert.equal(r.code, 0, r.stderr);
      const recs = fs
        .readFileSync(path.join(dir, 'log.ndjson'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      return {
        sha: (JSON.parse(r.stdout) as { paramsSha256: string }).paramsSha256,
        start: recs.find((x) => x.msg === 'start')!,
        end: recs.find((x) => x.msg === 'end')!,
      };
    };
    const pinned = run();
    const floating = run('--no-pin');
    assert.equal(pinned.sha, floating.sha);
    const cpus = pinned.start.pinned as number[];
    assert.ok(Array.isArray(cpus) && cpus.length === 2 && cpus[0] !== cpus[1], `start.pinned: ${JSON.stringify(pinned.start.pinned)}`);
    assert.deepEqual(
      (pinned.end.pool as { id: string; cpu: number | null }[]).map((p) => [p.id, p.cpu]),
      [['thread-1', cpus[1]]],
    );
    assert.equal(floating.start.pinned, undefined);
    assert.deepEqual(
      (floating.end.pool as { id: string; cpu: number | null }[]).map((p) => [p.id, p.cpu]),
      [['thread-1', null]],
    );
  });

  const badFlags: [string[], RegExp][] = [
    [['train', '--threads', '-1'], /--threads must be an integer ≥ 0, got "-1"/],
    [['train', '--steps', 'abc'], /--steps must be an integer ≥ 1, got "abc"/],
    [['train', '--lr', '0'], /--lr must be a positive number, got "0"/],
    [['train', '--dtype', 'float16'], /config field "dtype": must be one of "float64", "float32", got "float16"/],
    [['train', '--kernels', 'gpu'], /--kernels must be one of auto, native, wasm, ref, got "gpu"/],
    [['train', '--no-such-flag'], /unknown option '--no-such-flag'/],
    [['predict'], /required option '--checkpoint <file\|run-dir>' not specified/],
  ];
  for (const [args, msg] of badFlags) {
    it(`exits 2 naming the flag: gradsync ${args.join(' ')}`, () => {
      const r = gradsync(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, msg);
      assert.equal(r.stdout, '');
    });
  }

  it('exits 2 on a bad config file, naming the file and the field, and writes nothing', () => {
    const dir = tempDir();
    const f = path.join(dir, 'bad.json');
    fs.writeFileSync(f, JSON.stringify({ optimizer: { kind: 'sgd', lr: -1 } }));
    const runDir = path.join(dir, 'run');
    const r = gradsync(['train', f, '--run-dir', runDir]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /GS_ERR_USAGE|GS_ERR_CONFIG/);
    assert.match(r.stderr, /bad\.json: config field "optimizer\.lr": must be > 0, got -1/);
    assert.equal(fs.existsSync(runDir), false, 'no run folder is created');
  });

  // issue 24: bad input that met an internal error (exit 1) or a misleading message; [config text, message]
  const badConfigs: [string, string, RegExp][] = [
    [
      'an infinite value',
      '{"optimizer": {"kind": "sgd", "lr": 1e999}}',
      /config field "optimizer\.lr": must be a finite number, got an infinite value/,
    ],
    ['diagnosis.window 0', '{"diagnosis": {"window": 0}}', /config field "diagnosis\.window": must be ≥ 4, got 0/],
    ['a misspelt key', '{"optimzer": {"kind": "sgd"}}', /config field "optimzer": unknown key; did you mean "optimizer"\?/],
    [
      'a model too large for memory',
      '{"model": {"layers": [{"units": 1048576, "activation": "tanh"}, {"units": 1048576, "activation": "tanh"}, {"units": 10, "activation": "softmax"}]}}',
      /config field "model\.layers\[1\]": 1048576 units × 1048576 inputs: 8\.00 TiB of float64 parameters; the model's parameters need 8\.00 TiB \(\d+ bytes\)/,
    ],
  ];
  for (const [what, text, msg] of badConfigs) {
    it(`exits 2 on ${what} in a config, naming the field, and writes nothing`, () => {
      const dir = tempDir();
      const f = path.join(dir, 'c.json');
      fs.writeFileSync(f, text);
      const runDir = path.join(dir, 'run');
      const r = gradsync(['train', f, '--threads', '0', '--run-dir', runDir]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^gradsync: error GS_ERR_(CONFIG|USAGE): /);
      assert.match(r.stderr, msg);
      assert.doesNotMatch(r.stderr, /internal error|got null/);
      assert.equal(fs.existsSync(runDir), false, 'no run folder is created');
    });
  }

  it('--listen off loopback without a token exits 2 before anything starts, as --monitor does', () => {
    const runDir = path.join(tempDir(), 'run');
    const r = gradsync(['train', '--steps', '1', '--listen', '0.0.0.0:0', '--run-dir', runDir], undefined, { GRADSYNC_TOKEN: '' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /GS_ERR_AUTH: refusing to accept remote workers on 0\.0\.0\.0 without a token/);
    assert.match(r.stderr, /hint: set GRADSYNC_TOKEN or --token-file, or listen on 127\.0\.0\.1/);
    assert.equal(fs.existsSync(runDir), false);
  });

  it("looks for a config's data.path in the config file's folder, not the current directory, and names it when it is missing", () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'c.json'), JSON.stringify({ data: { source: 'csv', path: 'missing.csv' } }));
    const r = gradsync(['train', path.join(dir, 'c.json'), '--threads', '0', '--run-dir', path.join(dir, 'run')]);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(`gradsync: error GS_ERR_DATA: ${path.join(dir, 'missing.csv')}: CSV file not found`), r.stderr);
    assert.ok(
      r.stderr.includes(
        `hint: looked for ${path.join(dir, 'missing.csv')}; a config file's data.path and data.dir are resolved from the config file's folder`,
      ),
      r.stderr,
    );
  });

  it('exits 2 on a CSV with a wrong column count, naming the file and line', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'd.csv'), '1,2,0\n3,4,1\n5,1\n');
    fs.writeFileSync(
      path.join(dir, 'c.json'),
      JSON.stringify({ data: { source: 'csv', path: 'd.csv', heldOut: 0 }, model: { layers: [{ units: 2, activation: 'softmax' }] } }),
    );
    const r = gradsync(['train', path.join(dir, 'c.json'), '--threads', '0', '--run-dir', path.join(dir, 'run')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /GS_ERR_DATA/);
    assert.match(r.stderr, /d\.csv/);
    assert.match(r.stderr, /line 3/);
    assert.equal(fs.existsSync(path.join(dir, 'run')), false, 'no run folder is created');
  });

  it('gradcheck passes on the shipped configs and prints a JSON result with --json', () => {
    for (const c of ['doubling.json', 'default.json']) {
      const r = gradsync(['gradcheck', cfg(c), '--json']);
      assert.equal(r.code, 0, r.stderr);
      const res = JSON.parse(r.stdout) as { pass: boolean; tensors: { tensor: string; maxRelError: number }[] };
      assert.equal(res.pass, true);
      assert.ok(res.tensors.some((t) => t.tensor === 'dJdW[0]'));
      assert.match(r.stderr, /gradcheck passed/);
    }
  });

  it('gradcheck covers every layer with parameters of a CNN (conv, pools, flatten, dropout in its training mask; issue 23)', () => {
    const r = gradsync(['gradcheck', cfg('digits-cnn.json'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout) as { pass: boolean; tensors: { tensor: string }[] };
    assert.equal(res.pass, true);
    assert.deepEqual(
      res.tensors.map((t) => t.tensor),
      ['dJdW[0]', 'dJdWb[0]', 'dJdW[2]', 'dJdWb[2]', 'dJdW[6]', 'dJdWb[6]'],
    );
  });

  it('predict answers a CNN checkpoint from rows of C·H·W values, dropout inactive (issue 23)', () => {
    const dir = tempDir();
    const t = gradsync(['train', cfg('digits-cnn.json'), '--json', '--run-dir', dir, '--steps', '120', '--threads', '1']);
    assert.equal(t.code, 0, t.stderr);
    const text = zlib.gunzipSync(fs.readFileSync(path.join(repoRoot(), 'config', 'data', 'digits.csv.gz'))).toString('utf8');
    const lines = text.split('\n').slice(0, 20);
    const rows = lines.map((l) => l.split(',').slice(0, 64).join(',')).join('\n');
    const labels = lines.map((l) => Number(l.split(',')[64]));
    const a = gradsync(['predict', '--checkpoint', dir, '--json'], `${rows}\n`);
    const b = gradsync(['predict', '--checkpoint', dir, '--json'], `${rows}\n`);
    assert.equal(a.code, 0, a.stderr);
    const out = JSON.parse(a.stdout) as { rows: number; results: { output: number[]; class: number }[] };
    assert.equal(out.rows, 20);
    assert.equal(a.stdout, b.stdout, 'the same outputs twice: no dropout mask at predict');
    const right = out.results.filter((r, i) => r.class === labels[i]).length;
    assert.ok(right >= 15, `${right} of 20 rows classified right`);
    const short = gradsync(['predict', '--checkpoint', dir], '0.5,0.5\n');
    assert.match(short.stderr, /line 1: expected 64 numbers, found 2/);
  });

  it('gradcheck --sweep reports the error for each ε', () => {
    const r = gradsync(['gradcheck', cfg('doubling.json'), '--sweep']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ε sweep/);
    assert.match(r.stdout, /1e-9/);
  });

  it('predict reads rows from stdin like the original input loop and answers from the checkpoint', () => {
    const dir = tempDir();
    const t = gradsync(['train', cfg('doubling.json'), '--json', '--run-dir', dir]);
    assert.equal(t.code, 0, t.stderr);
    const s = JSON.parse(t.stdout) as { checkpoint: string; params: { W: number[]; b: number[] }[] };
    const r = gradsync(['predict', '--checkpoint', s.checkpoint, '--json'], '0.3\n\n0.1\n');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { rows: number; results: { output: number[] }[] };
    assert.equal(out.rows, 2);
    const [W, b] = [s.params[0]!.W[0]!, s.params[0]!.b[0]!];
    assert.ok(Math.abs(out.results[0]!.output[0]! - Math.tanh(W * 0.3 + b)) < 1e-14);
    assert.ok(Math.abs(out.results[0]!.output[0]! - 0.6) < 0.05, 'it learned to double');
    const bad = gradsync(['predict', '--checkpoint', s.checkpoint], '0.3\n0.1 0.2\n');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /\(stdin\) line 2: expected 1 number, found 2/);
    const nan = gradsync(['predict', '--checkpoint', s.checkpoint], 'abc\n');
    assert.match(nan.stderr, /line 1 \(field 1\): "abc" is not a finite number/);
  });

  it('predict --checkpoint RUN_DIR uses its newest valid checkpoint; a bad stdin row is reported and reading goes on; in --input, exit 2 naming the line (issue 24)', () => {
    const dir = tempDir();
    const t = gradsync(['train', cfg('doubling.json'), '--json', '--steps', '50', '--run-dir', dir]);
    assert.equal(t.code, 0, t.stderr);
    const s = JSON.parse(t.stdout) as { checkpoint: string };
    const r = gradsync(['predict', '--checkpoint', dir, '--json'], '0.3\n0.1 0.2\nabc\n0.1\n');
    assert.equal(r.code, 2, r.stderr);
    const out = JSON.parse(r.stdout) as { checkpoint: string; rows: number; rejected: { line: number }[] };
    assert.equal(out.checkpoint, s.checkpoint, 'the run folder means its newest checkpoint');
    assert.equal(out.rows, 2, 'the rows after the bad ones are answered');
    assert.deepEqual(
      out.rejected.map((x) => x.line),
      [2, 3],
    );
    assert.match(r.stderr, /GS_ERR_DATA: \(stdin\) line 2: expected 1 number, found 2\n/);
    assert.match(r.stderr, /GS_ERR_DATA: \(stdin\) line 3 \(field 1\): "abc" is not a finite number\n/);
    assert.match(r.stderr, /2 rows rejected \(lines 2, 3\)/);
    const rows = path.join(tempDir(), 'rows.csv');
    fs.writeFileSync(rows, '0.3\n0.1,0.2\n0.1\n');
    const f = gradsync(['predict', '--checkpoint', dir, '--input', rows]);
    assert.equal(f.code, 2, f.stderr);
    assert.equal(f.stdout.trim().split('\n').length, 1, 'the file stops at its bad line');
    assert.ok(f.stderr.includes(`GS_ERR_DATA: ${rows} line 2: expected 1 number, found 2`), f.stderr);
  });

  it('predict refuses a corrupt checkpoint with exit 2', () => {
    const dir = tempDir();
    const f = path.join(dir, 'x.gsck');
    fs.writeFileSync(f, Buffer.alloc(100, 7));
    const r = gradsync(['predict', '--checkpoint', f], '1\n');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /GS_ERR_CHECKPOINT: checkpoint .*x\.gsck: bad magic at byte 0/);
  });

  it('worker names the coordinator it cannot reach and exits non-zero', () => {
    const r = gradsync(['worker', '--join', 'ws://127.0.0.1:1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /GS_ERR_IO: cannot join 127\.0\.0\.1:1: ECONNREFUSED/);
  });

  it('--version names the kernel spec and the active kernel; --help lists the commands', () => {
    const v = gradsync(['--version']);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^gradsync \d+\.\d+\.\d+ \(kernel spec v\d+; active kernel [\w-]+; available: /);
    const h = gradsync(['--help']);
    assert.equal(h.code, 0);
    for (const c of ['train', 'gradcheck', 'predict', 'tail', 'worker']) assert.match(h.stdout, new RegExp(`\\b${c}\\b`));
  });

  it('GRADSYNC_FAULT (under the fault preload) with a bad value is a usage error naming the variable', () => {
    const r = gradsync(['train', '--steps', '1'], undefined, { GRADSYNC_FAULT: 'nonsense' }, FAULT_PRELOAD);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /GRADSYNC_FAULT must look like "executor=1,step=5,mode=throw\[,phase=tail\]"/);
    const p = gradsync(['train', '--steps', '1'], undefined, { GRADSYNC_FAULT: 'executor=1,step=2,mode=exit,phase=update' }, FAULT_PRELOAD);
    assert.equal(p.code, 2);
    assert.match(p.stderr, /phase: compute or tail\), got "executor=1,step=2,mode=exit,phase=update"/);
  });

  it('GRADSYNC_FAULT (under the fault preload) fails a pool thread of a gradsync process at its step: recorded, same paramsSha256', () => {
    const dir = tempDir();
    const fault = { GRADSYNC_FAULT: 'executor=2,step=10,mode=throw' };
    const r = gradsync(['train', '--json', '--steps', '30', '--threads', '3', '--run-dir', dir], undefined, fault, FAULT_PRELOAD);
    assert.equal(r.code, 0, r.stderr);
    const alone = gradsync(['train', '--json', '--steps', '30', '--threads', '0', '--run-dir', tempDir()]);
    assert.equal(alone.code, 0, alone.stderr);
    assert.equal(
      (JSON.parse(r.stdout) as { paramsSha256: string }).paramsSha256,
      (JSON.parse(alone.stdout) as { paramsSha256: string }).paramsSha256,
    );
    const recs = fs
      .readFileSync(path.join(dir, 'log.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const failedAt = recs.filter(
      (x) => x.msg === 'step' && (x.executors as { id: string; failed?: string }[]).some((e) => e.failed !== undefined),
    );
    assert.deepEqual(
      failedAt.map((x) => x.step),
      [10],
    );
    const t2 = (failedAt[0]!.executors as { id: string; failed?: string }[]).find((e) => e.id === 'thread-2')!;
    assert.match(t2.failed ?? '', /injected fault: executor 2 throws at step 10/);
  });

  it("train --auto-resume: starts in an empty --run-dir, continues from its newest checkpoint when restarted, to the uninterrupted run's paramsSha256", () => {
    const dir = tempDir();
    const sha = (r: { code: number; stdout: string; stderr: string }): string => {
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { paramsSha256: string }).paramsSha256;
    };
    const first = gradsync(['train', '--json', '--threads', '0', '--steps', '20', '--run-dir', dir, '--auto-resume']);
    sha(first);
    assert.doesNotMatch(first.stderr, /resumed from/);
    // the "restart": the same command with the run's full length
    const again = gradsync(['train', '--json', '--threads', '0', '--steps', '45', '--run-dir', dir, '--auto-resume']);
    const resumed = sha(again);
    assert.match(again.stderr, /resumed from .*step-00000020\.gsck at step 20/);
    assert.equal(resumed, sha(gradsync(['train', '--json', '--threads', '0', '--steps', '45', '--run-dir', tempDir()])));
  });

  it('train --auto-resume: GS_ERR_USAGE without --run-dir or beside --resume; GS_ERR_CHECKPOINT when no checkpoint of the folder verifies', () => {
    const noDir = gradsync(['train', '--auto-resume', '--steps', '2']);
    assert.equal(noDir.code, 2);
    assert.match(noDir.stderr, /GS_ERR_USAGE: --auto-resume needs --run-dir/);
    const dir = tempDir();
    const both = gradsync(['train', '--auto-resume', '--run-dir', dir, '--resume', dir, '--steps', '2']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /GS_ERR_USAGE: --auto-resume and --resume exclude each other/);
    fs.mkdirSync(path.join(dir, 'checkpoints'));
    fs.writeFileSync(path.join(dir, 'checkpoints', 'step-00000005.gsck'), 'not a checkpoint');
    const bad = gradsync(['train', '--auto-resume', '--run-dir', dir, '--steps', '8']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /GS_ERR_CHECKPOINT: .*nothing to resume from: none of its 1 checkpoints verifies/);
    assert.equal(fs.existsSync(path.join(dir, 'log.ndjson')), false, 'nothing started over it');
  });
});
