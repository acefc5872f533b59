import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Diagnoser, DIAGNOSIS_ORDER } from '../../src/observe/diagnose';
import { DIAGNOSIS_DEFAULTS, type DiagnosisContext, type DiagnosisOptions } from '../../src/observe/diagnose-options';
import { targetRangeEvidence } from '../../src/observe/diagnose-evidence';
import type { Diagnosis, LayerRecord } from '../../src/observe/schema';
import { healthy, layer, MLP_CTX, stepRecord, type StepInput } from './records';

function run(d: Diagnoser, from: number, to: number, rec: (step: number) => StepInput): Diagnosis[] {
  const out: Diagnosis[] = [];
  for (let s = from; s <= to; s++) out.push(d.push(rec(s)));
  return out;
}

const DOUBLING_CTX: DiagnosisContext = {
  outputActivation: 'tanh',
  loss: 'half-sse',
  targetMin: 0.05,
  targetMax: 1,
  layerActivations: ['tanh'],
};
const TANH_OK_CTX: DiagnosisContext = { ...DOUBLING_CTX, targetMax: 0.95 };

/** The original problem's shape: one tanh layer, loss falling to a floor, gradient falling to 0. */
function converging(step: number): StepInput {
  const e = Math.exp(-step / 40);
  return stepRecord(step, {
    loss: 0.0282 + 0.55 * e,
    gradNorm: 0.76 * e,
    layers: [layer(0, 'tanh', { dJdW: 0.5 * e, dJdWb: 0.57 * e, updateRatio: 0.05 * e, saturated: 0 })],
  });
}

describe('observe/diagnose', () => {
  describe('options', () => {
    it('documents a numeric default for every threshold', () => {
      for (const [k, v] of Object.entries(DIAGNOSIS_DEFAULTS)) assert.equal(typeof v, 'number', k);
    });

    it('throws a RangeError naming the option when a threshold is out of range', () => {
      assert.throws(
        () => new Diagnoser(MLP_CTX, { window: 2 }),
        (e: Error) => e instanceof RangeError && /"window"/.test(e.message),
      );
      assert.throws(
        () => new Diagnoser(MLP_CTX, { plateauRelChange: NaN }),
        (e: Error) => e instanceof RangeError && /"plateauRelChange"/.test(e.message),
      );
    });

    it('throws a TypeError naming an unknown option', () => {
      assert.throws(
        () => new Diagnoser(MLP_CTX, { windw: 5 } as never),
        (e: Error) => e instanceof TypeError && /"windw"/.test(e.message),
      );
    });
  });

  describe('ok', () => {
    it('reports ok alone on a healthy run, at every step', () => {
      const all = run(new Diagnoser(MLP_CTX), 1, 400, (s) => healthy(s));
      for (const d of all) assert.deepEqual(d, { states: ['ok'], evidence: {} });
    });

    it('reports ok on a healthy deep relu and sigmoid run', () => {
      const acts = ['relu', 'relu', 'sigmoid', 'softmax'];
      const ctx = { ...MLP_CTX, layerActivations: acts };
      for (const d of run(new Diagnoser(ctx), 1, 200, (s) => healthy(s, acts))) assert.deepEqual(d.states, ['ok']);
    });
  });

  describe('converged', () => {
    it('fires once the loss is on a plateau and the gradient is small relative to its start', () => {
      const all = run(new Diagnoser(TANH_OK_CTX), 1, 600, converging);
      const first = all.findIndex((d) => d.states.includes('converged')) + 1;
      assert.ok(first > 50, `converged at step ${first}`);
      assert.ok(first < 600, 'never converged');
      const last = all[all.length - 1]!;
      assert.deepEqual(last.states, ['converged']);
      assert.match(last.evidence.converged!, /stationary point/);
      assert.match(last.evidence.converged!, /of its start 0\.741/);
    });

    it('does not fire before a full window, even on a flat loss with a tiny gradient', () => {
      const d = new Diagnoser(MLP_CTX);
      const flat = (s: number): StepInput =>
        stepRecord(s, {
          loss: 0.5,
          gradNorm: s === 1 ? 1 : 1e-9,
          layers: [layer(0, 'tanh', { dJdW: s === 1 ? 1 : 1e-9 }), layer(1, 'softmax', { dJdW: s === 1 ? 1 : 1e-9 })],
        });
      const all = run(d, 1, DIAGNOSIS_DEFAULTS.window, flat);
      for (const x of all.slice(0, -1)) assert.ok(!x.states.includes('converged'), `converged too early: ${JSON.stringify(x)}`);
      assert.ok(all[all.length - 1]!.states.includes('converged'));
    });

    it('does not fire while the loss is still falling', () => {
      const falling = (s: number): StepInput => stepRecord(s, { loss: 1 / s, gradNorm: 1e-4, layers: [layer(0, 'tanh', { dJdW: 1e-4 })] });
      const d = new Diagnoser(TANH_OK_CTX);
      run(d, 1, 5, (s) => stepRecord(s, { loss: 1, gradNorm: 1, layers: [layer(0, 'tanh', { dJdW: 1 })] }));
      for (const x of run(d, 6, 200, falling)) assert.ok(!x.states.includes('converged'));
    });

    it('does not fire on a plateau whose gradient is still large (a noisy floor is not a stationary point)', () => {
      const d = new Diagnoser(TANH_OK_CTX);
      for (const x of run(d, 1, 300, (s) => stepRecord(s, { loss: 0.3, gradNorm: 0.5 + 0.1 * Math.sin(s), layers: [layer(0, 'tanh')] }))) {
        assert.ok(!x.states.includes('converged'));
      }
    });
  });

  describe('vanishing', () => {
    const acts = ['sigmoid', 'sigmoid', 'sigmoid', 'sigmoid'];
    const ctx: DiagnosisContext = { outputActivation: 'sigmoid', loss: 'half-sse', targetMin: 0.1, targetMax: 0.9, layerActivations: acts };
    const stuck = (s: number): StepInput =>
      stepRecord(s, {
        loss: 0.25,
        gradNorm: 0.1,
        layers: acts.map((a, i) => layer(i, a, { dJdW: [1e-6, 1e-4, 1e-2, 1e-1][i]!, saturated: 0 })),
      });

    it('fires when the first layer gradient is orders of magnitude below a later layer while the loss is still high', () => {
      const all = run(new Diagnoser(ctx), 1, 30, stuck);
      const last = all[all.length - 1]!;
      assert.deepEqual(last.states, ['vanishing']);
      assert.match(last.evidence.vanishing!, /layer 0 is 1\.0e-6, of layer 3 0\.1/);
      assert.match(last.evidence.vanishing!, /100 % of its start/);
    });

    it('waits for the warm-up steps', () => {
      const all = run(new Diagnoser(ctx), 1, DIAGNOSIS_DEFAULTS.warmupSteps, stuck);
      for (const x of all.slice(0, -1)) assert.deepEqual(x.states, ['ok']);
      assert.deepEqual(all[all.length - 1]!.states, ['vanishing']);
    });

    it('does not fire once the loss has fallen well below its start', () => {
      const d = new Diagnoser(ctx);
      run(d, 1, 5, stuck);
      const low = (s: number): StepInput => ({ ...stuck(s), loss: 0.01 });
      for (const x of run(d, 6, 60, low)) assert.ok(!x.states.includes('vanishing'));
    });

    it('does not fire when the layers differ by less than the threshold', () => {
      const mild = (s: number): StepInput =>
        stepRecord(s, { loss: 0.25, gradNorm: 0.1, layers: acts.map((a, i) => layer(i, a, { dJdW: [1e-3, 1e-2, 3e-2, 1e-1][i]! })) });
      for (const x of run(new Diagnoser(ctx), 1, 60, mild)) assert.ok(!x.states.includes('vanishing'));
    });

    it('takes precedence over converged: a small global gradient with silent early layers is not a stationary point', () => {
      const flat = (s: number): StepInput => ({ ...stuck(s), gradNorm: s <= 5 ? 1 : 1e-4 });
      const last = run(new Diagnoser(ctx), 1, 120, flat).pop()!;
      assert.ok(last.states.includes('vanishing'));
      assert.ok(!last.states.includes('converged'));
    });
  });

  describe('saturated', () => {
    it('fires when a large fraction of a tanh layer is saturated, naming the layer and the fraction', () => {
      const d = new Diagnoser(MLP_CTX);
      const rec = (s: number): StepInput => ({ ...healthy(s), layers: [layer(0, 'tanh', { saturated: 0.8 }), layer(1, 'softmax')] });
      const x = d.push(rec(1));
      assert.deepEqual(x.states, ['saturated']);
      assert.match(x.evidence.saturated!, /layer 0 \(tanh\) 80 %/);
    });

    it('does not fire for a small saturated fraction', () => {
      const rec = (s: number): StepInput => ({ ...healthy(s), layers: [layer(0, 'tanh', { saturated: 0.1 }), layer(1, 'softmax')] });
      for (const x of run(new Diagnoser(MLP_CTX), 1, 30, rec)) assert.deepEqual(x.states, ['ok']);
    });

    it('ignores the saturated field of activations that cannot saturate', () => {
      const rec = (s: number): StepInput => ({
        ...healthy(s),
        layers: [layer(0, 'relu', { saturated: 0.9 }), layer(1, 'softmax', { saturated: 0.9 })],
      });
      for (const x of run(new Diagnoser(MLP_CTX), 1, 30, rec)) assert.deepEqual(x.states, ['ok']);
    });
  });

  describe('dead-relus', () => {
    it('fires when most of a relu layer is dead', () => {
      const rec = (s: number): StepInput => ({
        ...healthy(s),
        layers: [layer(0, 'relu', { dead: 0.75 }), layer(1, 'relu', { dead: 0 }), layer(2, 'softmax')],
      });
      const x = new Diagnoser(MLP_CTX).push(rec(1));
      assert.deepEqual(x.states, ['dead-relus']);
      assert.match(x.evidence['dead-relus']!, /layer 0 75 %/);
      assert.doesNotMatch(x.evidence['dead-relus']!, /layer 1/);
    });

    it('does not fire for a few dead units', () => {
      const rec = (s: number): StepInput => ({ ...healthy(s), layers: [layer(0, 'relu', { dead: 0.2 }), layer(1, 'softmax')] });
      for (const x of run(new Diagnoser(MLP_CTX), 1, 30, rec)) assert.deepEqual(x.states, ['ok']);
    });
  });

  describe('target-out-of-range', () => {
    it('flags the original target 1.0 for a tanh output on every step, from the first', () => {
      const d = new Diagnoser(DOUBLING_CTX);
      const x = d.push(converging(1));
      assert.deepEqual(x.states, ['target-out-of-range']);
      assert.match(x.evidence['target-out-of-range']!, /max 1\b.*\(-1, 1\)/);
      assert.ok(run(d, 2, 100, converging).every((y) => y.states.includes('target-out-of-range')));
    });

    it('knows the range of each output activation', () => {
      const ev = (outputActivation: string, targetMin: number, targetMax: number): string | null =>
        targetRangeEvidence({ outputActivation, loss: 'half-sse', targetMin, targetMax, layerActivations: [outputActivation] });
      assert.equal(ev('tanh', -0.9, 0.95), null);
      assert.notEqual(ev('tanh', -1, 0.5), null);
      assert.notEqual(ev('sigmoid', 0, 0.5), null);
      assert.equal(ev('sigmoid', 0.1, 0.9), null);
      assert.equal(ev('softmax', 0, 1), null);
      assert.notEqual(ev('softmax', 0, 2), null);
      assert.notEqual(ev('relu', -1, 1), null);
      assert.equal(ev('linear', -1e9, 1e9), null);
      assert.equal(ev('tanh', NaN, NaN), null);
    });
  });

  describe('exploding', () => {
    it('fires when the gradient norm grows by orders of magnitude while the loss rises', () => {
      const rec = (s: number): StepInput =>
        stepRecord(s, {
          loss: 0.5 * 1.1 ** s,
          gradNorm: 0.01 * 1.5 ** s,
          layers: [layer(0, 'tanh', { saturated: 0 }), layer(1, 'softmax')],
        });
      const all = run(new Diagnoser(MLP_CTX), 1, 20, rec);
      const last = all[all.length - 1]!;
      assert.deepEqual(last.states, ['exploding']);
      assert.match(last.evidence.exploding!, /global \|g\| grew/);
    });

    it('fires from the first step when a layer update is as large as its weights', () => {
      const rec = (s: number): StepInput => ({
        ...healthy(s),
        layers: [layer(0, 'tanh', { updateRatio: 3, saturated: 0 }), layer(1, 'softmax')],
      });
      const all = run(new Diagnoser(MLP_CTX), 1, 20, rec);
      assert.ok(all.every((x) => x.states.includes('exploding')));
      assert.match(all[0]!.evidence.exploding!, /update\/weight ratio .*layer 0 3 at step 1/);
    });

    it('fires when the loss rises to a multiple of its start', () => {
      const rec = (s: number): StepInput => ({ ...healthy(s), loss: s < 10 ? 2.3 : 50 });
      const all = run(new Diagnoser(MLP_CTX), 1, 20, rec);
      assert.ok(all.slice(0, 9).every((x) => !x.states.includes('exploding')));
      assert.match(all[all.length - 1]!.evidence.exploding!, /the loss 50 .* is 21.7x its start 2.3/);
    });

    it('does not fire when the gradient grows while the loss falls (leaving a plateau)', () => {
      const rec = (s: number): StepInput =>
        stepRecord(s, { loss: 2 / (1 + s / 10), gradNorm: 1e-4 * 1.3 ** Math.min(s, 40), layers: [layer(0, 'tanh'), layer(1, 'softmax')] });
      for (const x of run(new Diagnoser(MLP_CTX), 1, 60, rec)) assert.ok(!x.states.includes('exploding'), JSON.stringify(x));
    });
  });

  describe('diverged', () => {
    const acts = ['tanh', 'tanh', 'tanh', 'softmax'];
    const rec = (s: number): StepInput => {
      const r = healthy(s, acts);
      if (s === 7) {
        r.layers[2]!.dJdW = NaN;
        r.layers[3]!.dJdWb = Infinity;
        r.loss = NaN;
      }
      return r;
    };

    it('names the first step and layer where a non-finite value appeared', () => {
      const all = run(new Diagnoser(MLP_CTX), 1, 7, rec);
      assert.deepEqual(all[5]!.states, ['ok']);
      const x = all[6]!;
      assert.equal(x.states[0], 'diverged');
      assert.match(x.evidence.diverged!, /step 7: layer 2 dJdW = NaN; layer 3 dJdWb = Infinity; loss = NaN/);
    });

    it('stays diverged on later finite steps, still naming the first one', () => {
      const all = run(new Diagnoser(MLP_CTX), 1, 40, rec);
      for (const x of all.slice(6)) {
        assert.equal(x.states[0], 'diverged');
        assert.match(x.evidence.diverged!, /step 7: layer 2/);
        assert.ok(!x.states.includes('converged'));
      }
    });

    it('reads null (how pino writes NaN and Infinity) as non-finite', () => {
      const r = healthy(1) as unknown as Record<string, unknown>;
      r.gradNorm = null;
      const x = new Diagnoser(MLP_CTX).push(r as unknown as StepInput);
      assert.deepEqual(x.states, ['diverged']);
      assert.match(x.evidence.diverged!, /global \|g\| = null/);
    });
  });

  it('orders states by severity', () => {
    const d = new Diagnoser(DOUBLING_CTX, { warmupSteps: 1 });
    const x = d.push(stepRecord(1, { loss: NaN, gradNorm: 1, layers: [layer(0, 'tanh', { saturated: 0.9, updateRatio: 5 })] }));
    const y = d.push(stepRecord(2, { loss: 1, gradNorm: 1, layers: [layer(0, 'tanh', { saturated: 0.9, updateRatio: 5 })] }));
    // a non-finite step enters no window: its other numbers are not trusted
    assert.deepEqual(x.states, ['diverged', 'target-out-of-range']);
    assert.deepEqual(y.states, ['diverged', 'exploding', 'saturated', 'target-out-of-range']);
    for (const d2 of [x, y]) {
      const idx = d2.states.map((s) => DIAGNOSIS_ORDER.indexOf(s));
      assert.deepEqual(
        idx,
        [...idx].sort((a, b) => a - b),
      );
    }
  });

  describe('pushStates', () => {
    /** A relu, tanh, sigmoid, softmax run through every state in turn, some together, ending diverged. */
    const acts = ['relu', 'tanh', 'sigmoid', 'softmax'];
    const ctx: DiagnosisContext = { ...MLP_CTX, layerActivations: acts };
    const tour = (s: number): StepInput => {
      if (s <= 60) return healthy(s, acts);
      const r = healthy(s, acts);
      const at = (o: Partial<LayerRecord>[]): StepInput => ({ ...r, layers: acts.map((a, i) => layer(i, a, { ...r.layers[i], ...o[i] })) });
      if (s <= 120) return at([{}, { saturated: 0.8 }, { saturated: 0.6 + 0.01 * (s % 3) }]);
      if (s <= 150) return at([{ dead: 0.75 }]);
      if (s <= 180) return at([{ dead: 0.75 }, { saturated: 0.9 }]);
      if (s <= 240) return at([{ dead: 0.6 }, { updateRatio: 3, saturated: 0.7 }, {}, { updateRatio: 1.5 }]);
      if (s <= 300) return { ...r, loss: 0.5 * 1.05 ** (s - 240), gradNorm: 0.01 * 1.3 ** (s - 240) };
      const still = (loss: number, g: number, first: number, o: Partial<LayerRecord> = {}): StepInput =>
        stepRecord(s, { loss, gradNorm: g, layers: acts.map((a, i) => layer(i, a, { dJdW: i === 0 ? first : g, saturated: 0, ...o })) });
      if (s <= 400) return still(2, 0.1, 1e-7);
      if (s <= 520) return still(0.05, 1e-6, 1e-6);
      if (s <= 600) return still(0.05, 1e-6, 1e-6, { dead: 0.9 });
      const d = still(0.05, 1e-6, 1e-6);
      if (s === 601) d.layers[1]!.W = NaN;
      return d;
    };
    const runs: [string, DiagnosisContext, Partial<DiagnosisOptions>, (s: number) => StepInput, number][] = [
      ['the tour', ctx, {}, tour, 650],
      ['the tour, short windows and no smoothing', ctx, { window: 8, warmupSteps: 3, smoothSteps: 1 }, tour, 650],
      ['the tour, targets out of range', { ...ctx, targetMax: 2 }, {}, tour, 650],
      ['the original problem', DOUBLING_CTX, {}, converging, 300],
    ];

    it("gives push()'s states, and explain() after it push()'s whole diagnosis, at every step, through every state", () => {
      const seen = new Set<string>();
      const words = new Set<string>();
      for (const [name, c, o, rec, steps] of runs) {
        const full = new Diagnoser(c, o);
        const lean = new Diagnoser(c, o);
        for (let s = 1; s <= steps; s++) {
          const want = full.push(rec(s));
          const got = lean.pushStates(rec(s));
          assert.deepEqual(got, { states: want.states }, `${name}, step ${s}: the states`);
          // deep-equal, and the same sentences in the same key order (what a record's JSON shows)
          const told = lean.explain();
          assert.deepEqual(told, want, `${name}, step ${s}: the evidence`);
          assert.equal(JSON.stringify(told), JSON.stringify(want), `${name}, step ${s}: the evidence's order`);
          for (const st of want.states) seen.add(st);
          for (const v of Object.values(want.evidence)) {
            if (/because the units are dead/.test(v)) words.add('dead and flat');
            if (/ over steps \d+-\d+/.test(v)) words.add('over steps');
            if (/ at step \d+ /.test(v)) words.add('at step');
            if (/global \|g\| grew/.test(v)) words.add('grew');
            if (/update\/weight ratio .*layer 1 3, layer 3 1\.5/.test(v)) words.add('update ratios');
            if (/x its start/.test(v)) words.add('loss rose');
          }
        }
      }
      assert.deepEqual([...seen].sort(), ['ok', ...DIAGNOSIS_ORDER].sort());
      assert.deepEqual([...words].sort(), ['at step', 'dead and flat', 'grew', 'loss rose', 'over steps', 'update ratios']);
    });

    it('writes the bytes that the one-function Diagnoser (commit 721bf80) wrote for the same records', () => {
      // sha256 of every push()'s JSON over the runs above, one line each, recorded with that
      // implementation: a sentence, a number's format or a key's order that changes changes it
      const h = createHash('sha256');
      for (const [, c, o, rec, steps] of runs) {
        const d = new Diagnoser(c, o);
        for (let s = 1; s <= steps; s++) h.update(JSON.stringify(d.push(rec(s))) + '\n');
      }
      assert.equal(h.digest('hex'), 'c2d8272be71d0610f858095fd00426b8cfafccced9d3ed44f2b05fba1a7eb19f');
    });

    it('returns one frozen object per set of states, without evidence, the same one for the same states', () => {
      const byStates = new Map<string, object>();
      for (const [name, c, o, rec, steps] of runs) {
        const d = new Diagnoser(c, o);
        for (let s = 1; s <= steps; s++) {
          const x = d.pushStates(rec(s));
          assert.ok(Object.isFrozen(x) && Object.isFrozen(x.states), `${name}, step ${s}: frozen`);
          assert.ok(!('evidence' in x), `${name}, step ${s}: no evidence`);
          const key = x.states.join(',');
          if (!byStates.has(key)) byStates.set(key, x);
          assert.equal(x, byStates.get(key), `${name}, step ${s}: the same object for ${key}`);
        }
      }
      assert.ok(byStates.size >= 8, `only ${byStates.size} sets of states`);
    });

    it('leaves push() and explain() new objects of their own', () => {
      const d = new Diagnoser(MLP_CTX);
      const a = d.push(healthy(1));
      const b = d.explain();
      assert.deepEqual(a, { states: ['ok'], evidence: {} });
      assert.notEqual(a, b);
      assert.notEqual(a.states, b.states);
      a.states.push('converged');
      assert.deepEqual(d.explain().states, ['ok']);
      assert.deepEqual(d.pushStates(healthy(2)).states, ['ok']);
    });
  });

  it("exploding's growth is measured from the window's smallest |g|, the oldest of equal ones, as a scan of the window finds it", () => {
    // many ties (four values), non-finite steps (not in the window) and a window that wraps many times
    const W = 6;
    const d = new Diagnoser(TANH_OK_CTX, { window: W, warmupSteps: 1, smoothSteps: 1, explodingGrowth: 3 });
    const values = [1, 2, 4, 8];
    let x = 12345;
    const next = (): number => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const finite: { step: number; gradNorm: number }[] = [];
    let exploded = 0;
    for (let step = 1; step <= 400; step++) {
      const gradNorm = next() < 0.05 ? NaN : values[Math.floor(next() * 4)]!;
      const r = d.push(stepRecord(step, { loss: 1, gradNorm, layers: [layer(0, 'tanh', { updateRatio: 0 })] }));
      if (Number.isNaN(gradNorm)) continue;
      finite.push({ step, gradNorm });
      const win = finite.slice(-W);
      let min = win[0]!;
      for (const e of win) if (e.gradNorm < min.gradNorm) min = e;
      const grew = gradNorm / min.gradNorm >= 3;
      assert.equal(r.states.includes('exploding'), grew, `step ${step}`);
      if (grew) {
        exploded++;
        assert.match(r.evidence.exploding!, new RegExp(`from ${min.gradNorm} at step ${min.step} to ${gradNorm} `), `step ${step}`);
      }
    }
    assert.ok(exploded > 40, `${exploded} steps exploding`);
  });

  it('is a pure function of the records pushed: two diagnosers fed the same records agree', () => {
    const a = new Diagnoser(DOUBLING_CTX);
    const b = new Diagnoser(DOUBLING_CTX);
    for (let s = 1; s <= 300; s++) assert.deepEqual(a.push(converging(s)), b.push(converging(s)));
  });
});
