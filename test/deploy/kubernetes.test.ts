/**
 * deploy/kubernetes/ and the Dockerfile: every manifest valid against the Kubernetes API's JSON
 * schemas (kubernetes-models carries them: no network), and wired together as the cluster needs
 * — the Service selects the coordinator's pod and names a port it listens on, the workers join
 * that Service's name and port, the token comes from the generated Secret, nothing runs as
 * root, every container has resources, the coordinator has probes and resumes from a volume.
 * The Dockerfile copies only what exists and runs the packaged gradsync as a non-root user.
 * The commands themselves run in test/integration/cluster.integration.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Job } from 'kubernetes-models/batch/v1';
import { ConfigMap, PersistentVolumeClaim, Service } from 'kubernetes-models/v1';
import { validate } from '../../src/config/validate';
import {
  argOf,
  DEPLOY_DIR,
  find,
  podOf,
  readKustomization,
  readManifests,
  type Container,
  type K8sObject,
  type PodSpec,
} from '../helpers/kubernetes';
import { repoRoot } from '../helpers/paths';

/** The API model of an object's apiVersion and kind; its validate() throws naming the field. */
function modelOf(o: K8sObject): { validate(): void } {
  const key = `${o.apiVersion} ${o.kind}`;
  const data = o as never;
  switch (key) {
    case 'batch/v1 Job':
      return new Job(data);
    case 'v1 Service':
      return new Service(data);
    case 'v1 ConfigMap':
      return new ConfigMap(data);
    case 'v1 PersistentVolumeClaim':
      return new PersistentVolumeClaim(data);
    default:
      throw new Error(`no schema here for ${key} (${o.metadata.name})`);
  }
}

const manifests = readManifests();
const coordinatorJob = find(manifests, 'Job', 'gradsync-coordinator');
const workersJob = find(manifests, 'Job', 'gradsync-workers');
const service = find(manifests, 'Service', 'gradsync-coordinator');
const coord = podOf(coordinatorJob);
const workers = podOf(workersJob);
const coordC = coord.spec.containers[0]!;
const workerC = workers.spec.containers[0]!;

/** The file inside the container that `mountPath/rest` is: [volume, rest], or undefined. */
function mountedAt(pod: PodSpec, c: Container, file: string): { volume: PodSpec['volumes'][number]; rest: string } | undefined {
  const m = c.volumeMounts.find((v) => file.startsWith(v.mountPath + '/'));
  if (!m) return undefined;
  return { volume: pod.volumes.find((v) => v.name === m.name)!, rest: file.slice(m.mountPath.length + 1) };
}

describe('deploy/kubernetes: the manifests (against the Kubernetes API schemas) and the Dockerfile', () => {
  it('lists every manifest of the folder in kustomization.yaml, and each object validates against its API schema', () => {
    const files = fs.readdirSync(DEPLOY_DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    assert.deepEqual([...readKustomization().resources].sort(), files.sort());
    assert.deepEqual(manifests.map((m) => `${m.obj.kind}/${m.obj.metadata.name}`).sort(), [
      'ConfigMap/gradsync-config',
      'Job/gradsync-coordinator',
      'Job/gradsync-workers',
      'PersistentVolumeClaim/gradsync-data',
      'PersistentVolumeClaim/gradsync-runs',
      'Service/gradsync-coordinator',
    ]);
    for (const { file, obj } of manifests) assert.doesNotThrow(() => modelOf(obj).validate(), `${file}: ${obj.kind} ${obj.metadata.name}`);
  });

  it('the schemas catch a wrong type, a missing required field and a bad enum (the validation can fail)', () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a deep edit of a parsed manifest
    type Loose = any;
    const broken = (mutate: (o: Loose) => void): K8sObject => {
      const o = JSON.parse(JSON.stringify(workersJob)) as Loose;
      mutate(o);
      return o as K8sObject;
    };
    assert.throws(() => modelOf(broken((o) => (o.spec.parallelism = '3'))).validate(), /spec\/parallelism must be integer/);
    assert.throws(
      () => modelOf(broken((o) => delete o.spec.template.spec.containers)).validate(),
      /spec\/template\/spec must have required property containers/,
    );
    assert.throws(
      () => modelOf(broken((o) => (o.spec.completionMode = 'indexed'))).validate(),
      /spec\/completionMode must be equal to one of the allowed values/,
    );
    assert.throws(
      () => modelOf(broken((o) => (o.spec.template.spec.containers[0].volumeMounts[0].readOnly = 'yes'))).validate(),
      /readOnly must be boolean/,
    );
  });

  it("the config in the ConfigMap is a valid gradsync config, and the coordinator's config argument is that file", () => {
    const cm = find(manifests, 'ConfigMap', 'gradsync-config');
    const at = mountedAt(coord.spec, coordC, coordC.args[1]!);
    assert.equal(coordC.args[0], 'train');
    assert.ok(at?.volume.configMap, `${coordC.args[1]} is in the ConfigMap's mount`);
    assert.equal(at.volume.configMap.name, 'gradsync-config');
    assert.doesNotThrow(() => validate(JSON.parse(cm.data![at.rest]!)));
  });

  it('the Service selects the coordinator pod and targets the ports it listens on; the workers join that name and port', () => {
    const sel = (service.spec as { selector: Record<string, string> }).selector;
    for (const [k, v] of Object.entries(sel)) assert.equal(coord.labels[k], v, `coordinator pod label ${k}`);
    assert.notEqual(
      workers.labels['app.kubernetes.io/component'],
      sel['app.kubernetes.io/component'],
      'the Service does not select workers',
    );
    const ports = (service.spec as { ports: { name: string; port: number; targetPort: string }[] }).ports;
    const byName = new Map((coordC.ports ?? []).map((p) => [p.name, p.containerPort]));
    const listen = Number(argOf(coordC, '--listen')!.split(':').at(-1));
    const monitor = Number(argOf(coordC, '--monitor')!.split(':').at(-1));
    assert.equal(byName.get(ports.find((p) => p.name === 'workers')!.targetPort), listen);
    assert.equal(byName.get(ports.find((p) => p.name === 'monitor')!.targetPort), monitor);
    assert.match(argOf(coordC, '--listen')!, /^0\.0\.0\.0:/, 'the coordinator listens on the pod network, not loopback');
    const join = new URL(argOf(workerC, '--join')!);
    assert.equal(join.hostname, service.metadata.name);
    assert.equal(Number(join.port), ports.find((p) => p.name === 'workers')!.port);
    for (const probe of [coordC.startupProbe, coordC.readinessProbe, coordC.livenessProbe])
      assert.equal(byName.get(String(probe?.tcpSocket?.port)), listen, 'probes check the workers port');
  });

  it('both read the token from the generated Secret gradsync-token through --token-file', () => {
    const gen = readKustomization().secretGenerator.find((g) => g.name === 'gradsync-token');
    assert.ok(gen, 'kustomization generates the Secret');
    const key = gen.files[0]!.split('=')[0]!;
    for (const [pod, c] of [
      [coord.spec, coordC],
      [workers.spec, workerC],
    ] as const) {
      const at = mountedAt(pod, c, argOf(c, '--token-file')!);
      assert.equal(at?.volume.secret?.secretName, 'gradsync-token', `${c.name}: --token-file is in the Secret's mount`);
      assert.equal(at.rest, key);
      assert.ok(!JSON.stringify(c.env ?? []).includes('GRADSYNC_TOKEN'), 'no token in the environment');
    }
    const ignored = fs.readFileSync(path.join(repoRoot(), '.gitignore'), 'utf8').split('\n');
    assert.ok(ignored.includes('deploy/kubernetes/token.txt'), "token.txt, the Secret's source, is never committed");
  });

  it('nothing runs as root or escalates; every container has requests and a memory limit; workers are an Indexed Job that retries joining', () => {
    for (const [name, pod] of [
      ['coordinator', coord.spec],
      ['workers', workers.spec],
    ] as const) {
      assert.equal(pod.securityContext?.runAsNonRoot, true, name);
      assert.ok((pod.securityContext?.runAsUser ?? 0) > 0, name);
      for (const c of pod.containers) {
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, c.name);
        assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory && c.resources.limits?.memory, `${c.name} resources`);
        assert.equal(c.image, coordC.image, 'one image');
      }
    }
    const spec = workersJob.spec as { completionMode: string; completions: number; parallelism: number };
    assert.equal(spec.completionMode, 'Indexed');
    assert.equal(spec.completions, spec.parallelism);
    assert.ok(Number(argOf(workerC, '--retry')) > 0, 'workers retry: they may start before the coordinator, and rejoin after it restarts');
    assert.match(argOf(workerC, '--id')!, /\$\(JOB_COMPLETION_INDEX\)/, 'each worker has an id of its own');
    const cache = mountedAt(workers.spec, workerC, argOf(workerC, '--data-dir')! + '/x');
    assert.ok(cache?.volume.emptyDir, 'the dataset cache is a volume (the root filesystem is read-only)');
  });

  it('the coordinator resumes on restart from its run folder on a persistent volume', () => {
    assert.ok(coordC.args.includes('--auto-resume'));
    const runs = mountedAt(coord.spec, coordC, argOf(coordC, '--run-dir')!);
    assert.equal(runs?.volume.persistentVolumeClaim?.claimName, 'gradsync-runs');
    assert.equal(coord.spec.restartPolicy, 'Never');
    const rules = (coordinatorJob.spec as { podFailurePolicy: { rules: { action: string; onExitCodes?: { values: number[] } }[] } })
      .podFailurePolicy.rules;
    assert.ok(
      rules.some((r) => r.action === 'FailJob' && r.onExitCodes?.values.includes(2)),
      'bad input (exit 2) fails the Job instead of restarting it',
    );
  });

  it('the Dockerfile: node:20-slim stages, COPY sources that exist, the packaged gradsync run by a non-root user; .dockerignore keeps local builds out', () => {
    const text = fs.readFileSync(path.join(repoRoot(), 'Dockerfile'), 'utf8');
    // instructions, with continuation lines joined
    const lines = text
      .replace(/\\\n/g, ' ')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    const froms = lines.filter((l) => l.startsWith('FROM '));
    assert.ok(froms.length >= 2 && froms.every((l) => /^FROM node:20-slim( AS \w+)?$/.test(l)), froms.join('; '));
    for (const l of lines.filter((x) => x.startsWith('COPY ') && !x.includes('--from='))) {
      const parts = l.split(/\s+/).slice(1, -1);
      for (const p of parts) assert.ok(fs.existsSync(path.join(repoRoot(), p)), `COPY ${p}: not in the repository`);
    }
    const last = lines.slice(lines.lastIndexOf(froms.at(-1)!));
    const user = last.filter((l) => l.startsWith('USER ')).at(-1);
    assert.ok(user && !/^USER (root|0)(:|$)/.test(user), `the final stage's user: ${user}`);
    const entry = JSON.parse(last.find((l) => l.startsWith('ENTRYPOINT '))!.slice('ENTRYPOINT '.length)) as string[];
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { bin: { gradsync: string } };
    assert.deepEqual(entry, ['node', `/app/node_modules/gradsync/${pkg.bin.gradsync}`]);
    assert.ok(
      lines.some((l) => /^RUN npm ci\b/.test(l)) && lines.some((l) => /npm install --omit=dev .*gradsync-\*\.tgz/.test(l)),
      'builds, packs and installs',
    );
    const ignored = fs.readFileSync(path.join(repoRoot(), '.dockerignore'), 'utf8').split('\n');
    for (const d of ['node_modules', 'dist', 'build', '.git']) assert.ok(ignored.includes(d), `.dockerignore: ${d}`);
  });
});
