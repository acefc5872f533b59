/**
 * kubernetes.ts — reads deploy/kubernetes/ as `kubectl apply -k` would take it: the files its
 * kustomization.yaml lists, every YAML document of them, and the pieces of the objects the
 * tests look into (a Job's pod template, a container's args and mounts, a Service's ports).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from './paths';

export const DEPLOY_DIR = path.join(repoRoot(), 'deploy', 'kubernetes');

/** A Kubernetes object as written (the tests read it; the API's models validate it). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

export interface Container {
  name: string;
  image: string;
  args: string[];
  command?: string[];
  env?: { name: string; value?: string }[];
  ports?: { name: string; containerPort: number }[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
  startupProbe?: { tcpSocket?: { port: string | number } };
  readinessProbe?: { tcpSocket?: { port: string | number } };
  livenessProbe?: { tcpSocket?: { port: string | number } };
}

export interface Volume {
  name: string;
  configMap?: { name: string };
  secret?: { secretName: string };
  persistentVolumeClaim?: { claimName: string };
  emptyDir?: Record<string, unknown>;
}

export interface PodSpec {
  restartPolicy: string;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  containers: Container[];
  volumes: Volume[];
}

export interface Kustomization {
  resources: string[];
  secretGenerator: { name: string; files: string[] }[];
}

/** Every YAML document of `text`, as plain objects; a YAML error throws naming `file`. */
export function parseManifests(text: string, file: string): K8sObject[] {
  return parseAllDocuments(text).map((d, i) => {
    if (d.errors.length > 0) throw new Error(`${file}, document ${i + 1}: ${d.errors[0]!.message}`);
    return d.toJS() as K8sObject;
  });
}

export function readKustomization(): Kustomization {
  const [k] = parseManifests(fs.readFileSync(path.join(DEPLOY_DIR, 'kustomization.yaml'), 'utf8'), 'kustomization.yaml');
  return k as unknown as Kustomization;
}

/** The objects of the files the kustomization lists, each with the file it came from. */
export function readManifests(): { file: string; obj: K8sObject }[] {
  return readKustomization().resources.flatMap((file) =>
    parseManifests(fs.readFileSync(path.join(DEPLOY_DIR, file), 'utf8'), file).map((obj) => ({ file, obj })),
  );
}

export function find(objs: { obj: K8sObject }[], kind: string, name: string): K8sObject {
  const o = objs.find((x) => x.obj.kind === kind && x.obj.metadata.name === name);
  if (!o) throw new Error(`deploy/kubernetes has no ${kind} ${name}`);
  return o.obj;
}

/** A Job's pod template: its labels and its pod spec. */
export function podOf(job: K8sObject): { labels: Record<string, string>; spec: PodSpec } {
  const t = (job.spec as { template: { metadata?: { labels?: Record<string, string> }; spec: PodSpec } }).template;
  return { labels: t.metadata?.labels ?? {}, spec: t.spec };
}

/** The value after `flag` in a container's args, or undefined. */
export function argOf(c: Container, flag: string): string | undefined {
  const i = c.args.indexOf(flag);
  return i >= 0 ? c.args[i + 1] : undefined;
}
