/**
 * deploy/kubernetes/ run as a cluster would run it, on hosts of their own: a coordinator and
 * three workers, each in a network namespace of its own (the coordinator's namespace linked to
 * each worker's by a veth pair on a /30 of 10.213.48.0/24), each process started with its
 * container's args from the manifests — volumes as folders (the ConfigMap's keys and the
 * Secret's token written as files), `$(JOB_COMPLETION_INDEX)` expanded, the Service's name
 * resolved through the namespace's /etc/hosts (`ip netns exec` mounts /etc/netns/NS/hosts),
 * the image's entrypoint as this checkout's bin/gradsync.js. Then what evictions do: the
 * coordinator's pod is stopped by SIGTERM (it ends its step, checkpoints it, exits 143), and
 * the next one killed by SIGKILL after a checkpoint, each followed by a new pod with the same
 * command (the Job's); the workers rejoin each time by --retry. The run ends with the single-thread paramsSha256
 * and every worker computed a share. Two changes from the manifests, both said here: the
 * config is a short digits run (the ConfigMap's Fashion-MNIST run takes minutes), and the
 * coordinator waits for the three workers (--wait-workers 3) so that all take part in a short
 * run. Needs root and iproute2; skips with the reason otherwise; removes what it made.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { validate } from '../../src/config/validate';
import { train } from '../../src/train/loop';
import { find, podOf, readManifests, type Container, type PodSpec } from '../helpers/kubernetes';
import { repoRoot, tempDir } from '../helpers/paths';

const TAG = process.pid % 10000;
const COORD_NS = `gskc-${process.pid}`;
const WORKER_NS = [0, 1, 2].map((k) => `gskw${k}-${process.pid}`);
const coordIp = (k: number): string => `10.213.48.${4 * k + 1}`;
const workerIp = (k: number): string => `10.213.48.${4 * k + 2}`;
const TOKEN = 'cluster-test-token-5c2a9e';

/** The short run the test trains instead of the ConfigMap's (same shape of config: digits, float32). */
const CONFIG = {
  dtype: 'float32',
  data: { source: 'digits', heldOut: 0.2 },
  model: {
    layers: [
      { units: 32, activation: 'tanh' },
      { units: 10, activation: 'softmax' },
    ],
    loss: 'cross-entropy',
  },
  optimizer: { kind: 'momentum', lr: 0.05, momentum: 0.9 },
  batch: 64,
  microBatch: 8,
  steps: 600,
  seed: 3,
  duplicateStragglers: false,
  checkpoint: { every: 100 },
};

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

/**
 * A container's process as the kubelet would start it here: the image's entrypoint (this
 * checkout's gradsync), its args with `$(VAR)` from `env` and each mount path replaced by the
 * folder standing for that volume.
 */
function containerArgv(c: Container, mounts: Map<string, string>, env: Record<string, string>): string[] {
  assert.equal(c.command, undefined, 'the container runs the image entrypoint');
  const args = c.args.map((a) => {
    const v = a.replace(/\$\(([A-Z_][A-Z0-9_]*)\)/g, (_, k: string) => env[k] ?? `$(${k})`);
    // the mount the path is in: the longest mount path that is a prefix of it, replaced once
    const at = [...mounts.keys()].filter((m) => v === m || v.startsWith(m + '/')).sort((x, y) => y.length - x.length)[0];
    return at === undefined ? v : mounts.get(at)! + v.slice(at.length);
  });
  return [process.execPath, path.join(repoRoot(), 'bin', 'gradsync.js'), ...args];
}

/** A folder per volume mount of the pod's container: ConfigMaps and Secrets written out, the rest empty (or `claims`). */
function mountsOf(
  pod: PodSpec,
  c: Container,
  files: Record<string, Record<string, string>>,
  claims: Map<string, string>,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of c.volumeMounts) {
    const v = pod.volumes.find((x) => x.name === m.name)!;
    const claim = v.persistentVolumeClaim?.claimName;
    const dir = claim !== undefined && claims.has(claim) ? claims.get(claim)! : tempDir(`gsk-${m.name}-`);
    if (claim !== undefined) claims.set(claim, dir);
    const source = v.configMap?.name ?? v.secret?.secretName;
    if (source !== undefined)
      for (const [k, text] of Object.entries(files[source] ?? {})) fs.writeFileSync(path.join(dir, k), text, { mode: 0o400 });
    out.set(m.mountPath, dir);
  }
  return out;
}

describe('deploy/kubernetes on four network hosts: coordinator and 3 workers from the manifests, the coordinator evicted twice (integration)', function () {
  this.timeout(300_000);
  const made: string[] = [];
  const procs: ChildProcess[] = [];

  before(function () {
    if (process.platform !== 'linux') this.skip();
    if (process.getuid?.() !== 0) {
      process.stdout.write('      skipped: network namespaces need root\n');
      this.skip();
    }
    if (trySh(['ip', '-V']) !== null) {
      process.stdout.write('      skipped: `ip` (iproute2) is not installed\n');
      this.skip();
    }
    if (sh(['ip', '-4', 'route']).includes('10.213.48.')) {
      process.stdout.write('      skipped: 10.213.48.0/24 is already routed here\n');
      this.skip();
    }
    const err = trySh(['ip', 'netns', 'add', COORD_NS]);
    if (err !== null) {
      process.stdout.write(`      skipped: cannot create a network namespace: ${err}\n`);
      this.skip();
    }
    made.push(COORD_NS);
    sh(['ip', 'netns', 'exec', COORD_NS, 'ip', 'link', 'set', 'lo', 'up']);
    WORKER_NS.forEach((ns, k) => {
      sh(['ip', 'netns', 'add', ns]);
      made.push(ns);
      const a = `gkc${k}x${TAG}`;
      const b = `gkw${k}x${TAG}`;
      sh(['ip', 'link', 'add', a, 'netns', COORD_NS, 'type', 'veth', 'peer', 'name', b, 'netns', ns]);
      sh(['ip', 'netns', 'exec', COORD_NS, 'ip', 'addr', 'add', `${coordIp(k)}/30`, 'dev', a]);
      sh(['ip', 'netns', 'exec', COORD_NS, 'ip', 'link', 'set', a, 'up']);
      sh(['ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `${workerIp(k)}/30`, 'dev', b]);
      sh(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', b, 'up']);
      sh(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
      // the Service's name, as cluster DNS would answer it on this worker's link
      fs.mkdirSync(`/etc/netns/${ns}`, { recursive: true });
      fs.writeFileSync(`/etc/netns/${ns}/hosts`, `127.0.0.1 localhost\n${coordIp(k)} gradsync-coordinator\n`);
    });
  });

  after(() => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    for (const ns of made) {
      trySh(['ip', 'netns', 'del', ns]); // takes its ends of the veth pairs with it
      fs.rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    }
    const left = sh(['ip', 'netns', 'list']);
    for (const ns of made) assert.ok(!left.includes(ns), `namespace ${ns} is gone`);
  });

  it('trains to the single-thread paramsSha256 with every worker computing, through a SIGTERM and a SIGKILL of the coordinator, each followed by a new pod', async () => {
    const objs = readManifests();
    const coord = podOf(find(objs, 'Job', 'gradsync-coordinator'));
    const workers = podOf(find(objs, 'Job', 'gradsync-workers'));
    const configMap = find(objs, 'ConfigMap', 'gradsync-config');
    const configKey = Object.keys(configMap.data!)[0]!;
    const files = { 'gradsync-config': { [configKey]: JSON.stringify(CONFIG) }, 'gradsync-token': { token: `${TOKEN}\n` } };
    const claims = new Map<string, string>();
    const reference = (await train(validate({ ...CONFIG, threads: 0 }), { runDir: tempDir() })).paramsSha256;

    const logs: string[][] = [[], [], [], []];
    const start = (ns: string, argv: string[], out: string[]): ChildProcess => {
      const env = { ...process.env };
      delete env.GRADSYNC_TOKEN; // the token comes from the Secret's file only
      const p = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env });
      p.stdout!.on('data', (b: Buffer) => out.push(b.toString()));
      p.stderr!.on('data', (b: Buffer) => out.push(b.toString()));
      procs.push(p);
      return p;
    };
    const exited = (p: ChildProcess): Promise<number | null> =>
      p.exitCode !== null || p.signalCode !== null ? Promise.resolve(p.exitCode) : new Promise((r) => p.once('exit', (code) => r(code)));
    // the workers first: they join by --retry once the coordinator listens, as pods that start first do
    const workerProcs = WORKER_NS.map((ns, k) => {
      const c = workers.spec.containers[0]!;
      return start(ns, containerArgv(c, mountsOf(workers.spec, c, files, claims), { JOB_COMPLETION_INDEX: String(k) }), logs[k + 1]!);
    });
    const cc = coord.spec.containers[0]!;
    const coordMounts = mountsOf(coord.spec, cc, files, claims);
    const coordArgv = [...containerArgv(cc, coordMounts, {}), '--wait-workers', '3'];
    const runDir = coordArgv[coordArgv.indexOf('--run-dir') + 1]!;
    const logFile = path.join(runDir, 'log.ndjson');
    const records = (): Record<string, unknown>[] =>
      fs.existsSync(logFile)
        ? fs
            .readFileSync(logFile, 'utf8')
            .split('\n')
            .flatMap((l) => {
              try {
                return [JSON.parse(l) as Record<string, unknown>];
              } catch {
                return []; // the line a kill tore
              }
            })
        : [];

    /** Waits for a checkpoint at or past `step` on the volume, then signals the pod's process; returns that checkpoint's step. */
    const evictAfter = async (pod: ChildProcess, step: number, sig: NodeJS.Signals): Promise<number> => {
      for (;;) {
        const ck = records().filter((r) => r.msg === 'checkpoint' && (r.step as number) >= step);
        if (ck.length > 0) {
          pod.kill(sig);
          return ck[0]!.step as number;
        }
        if (pod.exitCode !== null) assert.fail(`the coordinator ended before it could be evicted: ${logs[0]!.join('')}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const startOf = (): number =>
      (
        records()
          .filter((r) => r.msg === 'start')
          .at(-1) as { startStep: number }
      ).startStep;
    // pod 1: evicted with grace (SIGTERM): it ends its step, checkpoints it, tells the workers (1012) and exits 143
    const first = start(COORD_NS, coordArgv, logs[0]!);
    await evictAfter(first, 200, 'SIGTERM');
    assert.equal(await exited(first), 143, `SIGTERM: exit 128 + 15, so the Job starts another pod: ${logs[0]!.join('')}`);
    const stopped = records()
      .filter((r) => r.msg === 'end')
      .at(-1) as { steps: number; interrupted?: boolean };
    assert.equal(stopped.interrupted, true);
    // pod 2: the same command; --auto-resume continues from the step pod 1 stopped at; then killed without grace
    const second = start(COORD_NS, coordArgv, logs[0]!);
    const killedAfter = await evictAfter(second, 400, 'SIGKILL');
    await exited(second);
    assert.equal(startOf(), stopped.steps, 'pod 2 resumed exactly where pod 1 stopped');
    // pod 3: resumes from the newest checkpoint pod 2 left, and the workers rejoin it again
    const third = start(COORD_NS, coordArgv, logs[0]!);
    assert.equal(await exited(third), 0, `the last coordinator pod: ${logs[0]!.join('')}`);
    const resumedAt = startOf();
    assert.ok(resumedAt >= 400 && resumedAt <= killedAfter + 100, `pod 3 resumed from the volume's checkpoint (step ${resumedAt})`);
    for (const [k, p] of workerProcs.entries()) assert.equal(await exited(p), 0, `worker ${k}: ${logs[k + 1]!.join('')}`);

    const all = records();
    const end = all.filter((r) => r.msg === 'end').at(-1)!;
    assert.equal(end.paramsSha256, reference, 'the single-thread paramsSha256');
    assert.equal(end.steps, CONFIG.steps);
    assert.match(logs[0]!.join(''), /resumed from .*step-\d{8}\.gsck at step \d+/);
    const steps = all.filter((r) => r.msg === 'step') as { step: number; executors: { id: string; examples: number }[] }[];
    for (let k = 0; k < 3; k++) {
      const id = `remote-worker-${k}`;
      const n = steps.filter((s) => s.executors.some((e) => e.id === id && e.examples > 0)).length;
      assert.ok(n > 0, `${id} computed in some steps`);
    }
    process.stdout.write(
      `      cluster: coordinator ${COORD_NS}, workers ${WORKER_NS.join(', ')}; pod 1 stopped by SIGTERM at step ${stopped.steps}, pod 2 killed after checkpoint ${killedAfter}, pod 3 resumed at step ${resumedAt}; ${steps.length} step records\n`,
    );
  });
});
