/** paths.ts — the repository root and fixture files, from the compiled test folder. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

export function fixture(name: string): string {
  return path.join(repoRoot(), 'test', 'fixtures', name);
}

export function readReference(): Reference {
  return JSON.parse(fs.readFileSync(fixture('reference.json'), 'utf8')) as Reference;
}

/** test/fixtures/schedules.json (scripts/make-schedules.py): PyTorch's lr per step, and correctly rounded cosines. */
export function readSchedules(): Schedules {
  return JSON.parse(fs.readFileSync(fixture('schedules.json'), 'utf8')) as Schedules;
}

export interface ScheduleCase {
  name: string;
  /** A config's `schedule` field, as written. */
  schedule: Record<string, unknown>;
  /** The base learning rate (optimizer.lr). */
  lr: number;
  perEpoch: number;
  steps: number;
  /** torch's lr of optimizer steps 1 … steps. */
  lrs: number[];
}

export interface Schedules {
  torch: string;
  cases: ScheduleCase[];
  cos: { args: number[]; cos: number[] };
}

const made: string[] = [];
process.once('exit', () => {
  for (const d of made) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
});

/** A fresh temp folder, removed when the test process exits. */
export function tempDir(prefix = 'gradsync-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

export interface MlpCase {
  sizes: number[];
  activations: string[];
  loss: 'half-sse' | 'cross-entropy';
  rows: number;
  init: { layers: { W: number[]; b: number[] }[] };
  step0: { loss: number; layers: { dJdW: number[]; dJdWb: number[] }[] };
  sgd_losses: number[];
}

export interface Reference {
  doubling: { grad_step1: [number, number]; grad_norm_step1000: number; final: { W: number; b: number; loss: number } };
  mlp: MlpCase;
  mlp_sse: MlpCase;
}

/** How many of this process's descriptors are open on `file` (Linux: /proc/self/fd). */
export function openOn(file: string): number {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === file) n++;
    } catch {
      /* the directory's own descriptor, closed by now */
    }
  }
  return n;
}
