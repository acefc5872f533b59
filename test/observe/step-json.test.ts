import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import type { DiagnosisState, ExecutorRecord, LayerRecord } from '../../src/observe/schema';
import { stepFieldsJson, type StepFields } from '../../src/observe/step-json';
import { train } from '../../src/train/loop';
import { stepFields } from '../helpers/step-fields';

const STATES: DiagnosisState[] = [
  'ok',
  'converged',
  'vanishing',
  'saturated',
  'target-out-of-range',
  'exploding',
  'diverged',
  'dead-relus',
];

/** Any double, the special ones (NaN, ±Infinity, −0, subnormals, 1e21 and up) often. */
const number = fc.oneof(
  fc.double(),
  fc.constantFrom(NaN, Infinity, -Infinity, -0, 0, 5e-324, 1e21, 1e-7, 123456789012345680000, 0.1 + 0.2),
  fc.integer(),
);
const text = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.constantFrom('quote " backslash \\ newline \n tab \t \u0000 \u2028 ‖W‖', '\ud800 lone'),
);
const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });

const layer: fc.Arbitrary<LayerRecord> = fc.record({
  layer: fc.nat(40),
  activation: fc.constantFrom('tanh', 'relu', 'sigmoid', 'linear', 'softmax'),
  dJdW: number,
  dJdWb: number,
  W: number,
  updateRatio: number,
  saturated: number,
  dead: number,
});

/** An executor record with its optional keys in strategies/step-record.ts's order. */
const executor: fc.Arbitrary<ExecutorRecord> = fc
  .record({
    id: fc.oneof(fc.constantFrom('main', 'thread-1', 'remote-ab12'), text),
    kind: fc.constantFrom('main' as const, 'thread' as const, 'remote' as const),
    lo: fc.nat(1000),
    n: fc.nat(1000),
    examples: fc.nat(),
    computeMs: number,
    slowest: maybe(fc.constant(true)),
    why: maybe(fc.tuple(fc.boolean(), text)),
    straggler: maybe(text),
    audited: maybe(fc.constant(true)),
    replica: maybe(text),
    wire: maybe(fc.record({ bytesOut: fc.nat(), bytesIn: fc.nat(), transferMs: maybe(number) })),
  })
  .map((e) => {
    const r: ExecutorRecord = { id: e.id, kind: e.kind, leaves: [e.lo, e.lo + e.n], examples: e.examples, computeMs: e.computeMs };
    if (e.slowest) r.slowest = true;
    if (e.why !== undefined) {
      if (e.why[0]) r.late = e.why[1];
      else r.failed = e.why[1];
    }
    if (e.straggler !== undefined) r.straggler = e.straggler;
    if (e.audited) r.audited = true;
    if (e.replica !== undefined) r.replica = e.replica;
    if (e.wire !== undefined) {
      r.bytesOut = e.wire.bytesOut;
      r.bytesIn = e.wire.bytesIn;
      if (e.wire.transferMs !== undefined) r.transferMs = e.wire.transferMs;
    }
    return r;
  });

/** The split with its keys in step.ts's order, recordMs set after by loop.ts. */
const split = fc
  .record({
    computeMs: number,
    encodeMs: maybe(number),
    handoffMs: maybe(number),
    reduceMs: number,
    updateMs: number,
    tailShared: maybe(fc.boolean()),
    recordMs: maybe(number),
  })
  .map((p) => {
    const s: Record<string, number | boolean> = { computeMs: p.computeMs };
    if (p.encodeMs !== undefined) s.encodeMs = p.encodeMs;
    if (p.handoffMs !== undefined) s.handoffMs = p.handoffMs;
    s.reduceMs = p.reduceMs;
    s.updateMs = p.updateMs;
    if (p.tailShared !== undefined) s.tailShared = p.tailShared;
    if (p.recordMs !== undefined) s.recordMs = p.recordMs;
    return s as unknown as NonNullable<StepFields['split']>;
  });

const diagnosis = fc
  .record({
    states: fc.subarray(STATES, { minLength: 1 }),
    evidence: maybe(fc.dictionary(fc.constantFrom(...STATES), text)),
  })
  .map((d) => (d.evidence === undefined ? { states: d.states } : { states: d.states, evidence: d.evidence }));

/** A whole record, built in train/loop.ts's order (skipped and nonFiniteExamples last, when set). */
const record: fc.Arbitrary<StepFields> = fc
  .record({
    step: fc.nat(),
    epoch: fc.nat(),
    loss: number,
    examples: fc.nat(),
    lr: number,
    gradNorm: number,
    clipped: fc.boolean(),
    layers: fc.array(layer, { maxLength: 5 }),
    throughput: number,
    stepMs: number,
    split,
    executors: fc.array(executor, { minLength: 1, maxLength: 4 }),
    diagnosis,
    skipped: maybe(text),
    nonFiniteExamples: maybe(fc.array(fc.nat(), { maxLength: 8 })),
  })
  .map((r) => {
    const { skipped, nonFiniteExamples, ...rest } = r;
    const f: StepFields = { ...rest };
    if (skipped !== undefined) f.skipped = skipped;
    if (nonFiniteExamples !== undefined) f.nonFiniteExamples = nonFiniteExamples;
    return f;
  });

describe('stepFieldsJson (observe/step-json.ts): the step record written by hand', () => {
  it("gives JSON.stringify's text for any record built in the loop's order: special numbers, escaped text, optional keys, evidence", () => {
    fc.assert(
      fc.property(record, (f) => {
        assert.equal(`{${stepFieldsJson(f)}}`, JSON.stringify(f));
      }),
      { seed: 27, numRuns: 3000 },
    );
  });

  it('omits an optional key whose value is undefined, as JSON.stringify does', () => {
    const f = stepFields({ skipped: undefined, nonFiniteExamples: undefined, diagnosis: { states: ['ok'], evidence: undefined } });
    assert.equal(`{${stepFieldsJson(f)}}`, JSON.stringify(f));
    const e = stepFields({ executors: [{ id: 'main', kind: 'main', leaves: [0, 1], examples: 20, computeMs: 1, slowest: undefined }] });
    assert.equal(`{${stepFieldsJson(e)}}`, JSON.stringify(e));
  });

  it('writes every step line of a real run as JSON.stringify writes the parsed line (numbers, evidence, order)', async function () {
    this.timeout(60000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-step-json-'));
    try {
      const cfg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'config', 'doubling.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      await train({ ...cfg, steps: 120 }, { runDir: dir });
      const steps = fs
        .readFileSync(path.join(dir, 'log.ndjson'), 'utf8')
        .split('\n')
        .filter((l) => l.endsWith('"msg":"step"}'));
      assert.equal(steps.length, 120);
      for (const l of steps) assert.equal(JSON.stringify(JSON.parse(l)), l);
      assert.ok(steps.some((l) => l.includes('"evidence":')) && steps.some((l) => !l.includes('"evidence":')));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
