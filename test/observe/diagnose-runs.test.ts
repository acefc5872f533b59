/**
 * Issue 5's recorded runs with a known answer: real training runs through train(), their
 * step records' diagnosis checked (and, for the original problem, read back by `tail`).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { train, validateConfig, loadConfigFile, type RunConfig } from '../../src/index';
import type { DiagnosisState, StepRecord } from '../../src/observe/schema';
import { tailCommand } from '../../src/cli/tail';
import { Diagnoser } from '../../src/observe/diagnose';
import { DIAGNOSIS_DEFAULTS } from '../../src/observe/diagnose-options';

const ROOT = path.resolve(__dirname, '../../..');

interface Run {
  records: StepRecord[];
  final: DiagnosisState[];
  seen: Set<DiagnosisState>;
  runDir: string;
}

const dirs: string[] = [];
async function runOf(cfg: RunConfig, withLogFile = false): Promise<Run> {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-diag-run-'));
  dirs.push(runDir);
  const records: StepRecord[] = [];
  const summary = await train(cfg, {
    runDir,
    kernels: 'ref',
    onStep: (r) => {
      records.push(r);
    },
    ...(withLogFile ? {} : { logger: pino({ level: 'silent' }) }),
  });
  const seen = new Set<DiagnosisState>(records.flatMap((r) => r.diagnosis.states));
  evidenceWhenDue(records);
  replayAgrees(records, cfg);
  return { records, final: summary.diagnosis.states, seen, runDir };
}

/** A record carries the evidence on the first step, when the states change, every window and at the last step; the states alone between. */
function evidenceWhenDue(records: StepRecord[]): void {
  let explained = 0;
  let prev = '';
  records.forEach((r, i) => {
    const key = r.diagnosis.states.join(',');
    const due = i === 0 || i === records.length - 1 || r.step - explained >= DIAGNOSIS_DEFAULTS.window || key !== prev;
    assert.equal(r.diagnosis.evidence !== undefined, due, `step ${r.step}: evidence ${due ? 'expected' : 'not expected'}`);
    if (due) {
      explained = r.step;
      const words = Object.keys(r.diagnosis.evidence!).sort();
      assert.deepEqual(words, r.diagnosis.states.filter((x) => x !== 'ok').sort(), `step ${r.step}: a sentence per state`);
    }
    prev = key;
  });
}

/** pushStates() gives push()'s states at every step, and explain() after it push()'s whole diagnosis. */
function replayAgrees(records: StepRecord[], cfg: RunConfig): void {
  const acts = cfg.model.layers.map((l) => ('activation' in l ? String(l.activation) : ''));
  const ctx = { outputActivation: acts[acts.length - 1]!, loss: cfg.model.loss, targetMin: NaN, targetMax: NaN, layerActivations: acts };
  const full = new Diagnoser(ctx);
  const lean = new Diagnoser(ctx);
  for (const r of records) {
    const want = full.push(r);
    assert.deepEqual(lean.pushStates(r).states, want.states, `step ${r.step}: the states`);
    assert.deepEqual(lean.explain(), want, `step ${r.step}: the evidence`);
  }
}

const digits = (layers: { units: number; activation: string }[], init: object, optimizer: object, steps: number): RunConfig =>
  validateConfig({
    dtype: 'float64',
    data: { source: 'digits', heldOut: 0, shuffle: true },
    model: { layers, loss: 'cross-entropy', init },
    optimizer,
    reduction: 'mean',
    batch: 32,
    microBatch: 32,
    steps,
    seed: 1,
  });
const stack = (n: number, units: number, activation: string): { units: number; activation: string }[] => [
  ...Array.from({ length: n }, () => ({ units, activation })),
  { units: 10, activation: 'softmax' },
];

describe('observe/diagnose on recorded runs (issue 5)', () => {
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('the original doubling config ends converged and flags target-out-of-range (tanh cannot reach 1.0)', async () => {
    const r = await runOf(loadConfigFile(path.join(ROOT, 'config/doubling.json')), true);
    assert.equal(r.records.length, 10_000);
    assert.deepEqual(r.final, ['target-out-of-range', 'converged']);
    assert.ok(r.records.every((x) => x.diagnosis.states.includes('target-out-of-range')));
    const firstConverged = r.records.findIndex((x) => x.diagnosis.states.includes('converged')) + 1;
    assert.ok(firstConverged > 50, `converged at step ${firstConverged}, before a full window`);
    assert.ok(!r.seen.has('vanishing') && !r.seen.has('exploding') && !r.seen.has('diverged'));
    assert.match(r.records[r.records.length - 1]!.diagnosis.evidence!.converged!, /stationary point/);

    // and `tail --once` reads the same answer back from the run's log file
    const out = new (class extends Writable {
      text = '';
      override _write(c: Buffer, _e: BufferEncoding, cb: () => void): void {
        this.text += c.toString();
        cb();
      }
    })();
    assert.equal(await tailCommand(path.join(r.runDir, 'log.ndjson'), { once: true }, { stdout: out, stderr: out }), 0);
    assert.match(out.text, /^diagnosis {2}target-out-of-range, converged$/m);
    assert.match(out.text, /^ {2}target-out-of-range: targets span \[0\.05, 1\] \(max 1\) but the tanh output's range is \(-1, 1\)/m);
    assert.match(out.text, /^gradsync tail {2}step 10000 /);
  });

  it('a deep (9 hidden layers) sigmoid network with small initial weights is vanishing', async () => {
    const r = await runOf(digits(stack(9, 32, 'sigmoid'), { scheme: 'glorot-uniform', gain: 0.1 }, { kind: 'sgd', lr: 0.1 }, 60));
    assert.deepEqual(r.final, ['vanishing']);
    assert.ok(!r.seen.has('converged'));
    assert.match(r.records[r.records.length - 1]!.diagnosis.evidence!.vanishing!, /\|dJdW\| of layer 0 is \S+, of layer 9/);
  });

  it('a too-large learning rate is exploding or diverged', async () => {
    const r = await runOf(digits(stack(1, 64, 'tanh'), { scheme: 'glorot-uniform' }, { kind: 'sgd', lr: 50 }, 60));
    assert.ok(r.final.includes('exploding') || r.final.includes('diverged'), r.final.join());
    assert.ok(r.records[0]!.diagnosis.states.includes('exploding'), 'the first update is already far larger than the weights');
    assert.ok(!r.seen.has('converged'));
  });

  it('a relu network with a large negative bias has dead ReLUs', async () => {
    const r = await runOf(digits(stack(2, 64, 'relu'), { scheme: 'he-uniform', bias: -5 }, { kind: 'sgd', lr: 0.1 }, 60));
    assert.deepEqual(r.final, ['dead-relus']);
    assert.ok(r.records.every((x) => x.diagnosis.states.includes('dead-relus')));
    assert.match(r.records[r.records.length - 1]!.diagnosis.evidence!['dead-relus']!, /layer 0 100 %, layer 1 100 %/);
  });

  it('a healthy run is ok at every step', async () => {
    const r = await runOf(
      digits(stack(1, 64, 'tanh'), { scheme: 'glorot-uniform' }, { kind: 'momentum', lr: 0.05, momentum: 0.9, nesterov: false }, 150),
    );
    assert.deepEqual([...r.seen], ['ok']);
  });
});
