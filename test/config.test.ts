import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULTS } from '../src/config';
import { loadConfigFile } from '../src/config/load';
import { validate } from '../src/config/validate';
import { GradsyncError } from '../src/errors';
import { Diagnoser } from '../src/observe/diagnose';
import { DIAGNOSIS_INTEGERS } from '../src/observe/diagnose-options';
import { MLP_CTX } from './observe/records';
import { repoRoot, tempDir } from './helpers/paths';

describe('config', () => {
  it('an empty config is the defaults', () => {
    assert.deepEqual(validate({}), DEFAULTS);
  });

  it('the shipped configs validate: loading one is validating its JSON', () => {
    for (const f of ['default.json', 'doubling.json', 'digits-cnn.json', 'fashion-cnn.json']) {
      const file = path.join(repoRoot(), 'config', f);
      assert.deepEqual(loadConfigFile(file), validate(JSON.parse(fs.readFileSync(file, 'utf8'))), f);
    }
  });

  it("a schedule's defaults are PyTorch's: per epoch, no warm-up, start factor 1/3, γ 0.1, ηmin 0", () => {
    assert.deepEqual(validate({}).schedule, { kind: 'constant', unit: 'epoch', warmup: 0, warmupStartFactor: 1 / 3 });
    assert.deepEqual(validate({ schedule: { kind: 'step', stepSize: 5 } }).schedule, {
      kind: 'step',
      stepSize: 5,
      gamma: 0.1,
      unit: 'epoch',
      warmup: 0,
      warmupStartFactor: 1 / 3,
    });
    assert.deepEqual(validate({ schedule: { kind: 'cosine', tMax: 9, unit: 'step', warmup: 2 } }).schedule, {
      kind: 'cosine',
      tMax: 9,
      etaMin: 0,
      unit: 'step',
      warmup: 2,
      warmupStartFactor: 1 / 3,
    });
  });

  it("early stopping is off by default; on, its defaults are Keras's: patience 0, minDelta 0, no restore, the held-out loss", () => {
    assert.equal(validate({}).earlyStopping, null);
    assert.equal(validate({ earlyStopping: null }).earlyStopping, null);
    assert.deepEqual(validate({ earlyStopping: {} }).earlyStopping, { patience: 0, minDelta: 0, restoreBest: false, monitor: 'loss' });
    assert.deepEqual(
      validate({ data: { source: 'doubling', heldOut: 0.25 }, earlyStopping: { patience: 2, restoreBest: true } }).earlyStopping,
      {
        patience: 2,
        minDelta: 0,
        restoreBest: true,
        monitor: 'loss',
      },
    );
  });

  it("an IDX source's heldOut is null (the t10k split) unless given, else a fraction like a CSV's", () => {
    const idx = (extra: Record<string, unknown>): unknown => validate({ data: { source: 'idx', dir: 'd', ...extra } }).data;
    assert.deepEqual(idx({}), { source: 'idx', dir: 'd', scale: 1 / 255, shuffle: true, heldOut: null });
    assert.deepEqual(idx({ heldOut: null }), idx({}));
    assert.deepEqual(idx({ heldOut: 0.1 }), { source: 'idx', dir: 'd', scale: 1 / 255, shuffle: true, heldOut: 0.1 });
    assert.deepEqual(idx({ heldOut: 0 }), { source: 'idx', dir: 'd', scale: 1 / 255, shuffle: true, heldOut: 0 });
  });

  it('a CSV source\'s header is "auto" unless forced with true or false (issue 25)', () => {
    const csv = (extra: Record<string, unknown>): unknown => {
      const d = validate({ data: { source: 'csv', path: 'd.csv', ...extra } }).data;
      return d.source === 'csv' ? d.header : null;
    };
    assert.equal(csv({}), 'auto');
    assert.equal(csv({ header: 'auto' }), 'auto');
    assert.equal(csv({ header: true }), true);
    assert.equal(csv({ header: false }), false);
  });

  it('in-memory data (data: { x, y }) is described in the RunConfig without its arrays, heldOut 0 by default (issue 25)', () => {
    const d = validate({ data: { x: [[1], [2]], y: [0, 1] } }).data;
    assert.deepEqual(d, { source: 'memory', name: 'arrays', classes: null, heldOut: 0, shuffle: true });
    const named = validate({
      data: { source: 'memory', x: [1, 2], shape: [2, 1], y: [0, 1], name: 'xor', classes: 3, heldOut: 0.5, shuffle: false },
    });
    assert.deepEqual(named.data, { source: 'memory', name: 'xor', classes: 3, heldOut: 0.5, shuffle: false });
  });

  // [config, field named in the message, a part of the message]
  const bad: [unknown, string, RegExp][] = [
    [[], '', /must be an object/],
    [{ lr: 0.1 }, 'lr', /unknown key \(allowed: .*optimizer/],
    [{ optimizer: { kind: 'sgd', lr: -1 } }, 'optimizer.lr', /must be > 0, got -1/],
    [{ optimizer: { kind: 'rmsprop' } }, 'optimizer.kind', /must be one of "sgd", "momentum", "adam", got "rmsprop"/],
    [{ optimizer: { kind: 'sgd', lr: 0.1, beta1: 0.9 } }, 'optimizer.beta1', /is not an option of "sgd"/],
    [{ dtype: 'float16' }, 'dtype', /must be one of "float64", "float32"/],
    [{ batch: 0 }, 'batch', /must be ≥ 1, got 0/],
    [{ batch: 2.5 }, 'batch', /must be an integer/],
    [{ batch: 'half' }, 'batch', /must be a finite number, got "half"/],
    [{ microBatch: -3 }, 'microBatch', /must be ≥ 1/],
    [{ epochs: null }, 'epochs', /must be a finite number, got null/],
    [{ model: { layers: [] } }, 'model.layers', /non-empty array/],
    [
      { model: { layers: [{ units: 10, activation: 'swish' }] } },
      'model.layers[0].activation',
      /must be one of "tanh", "sigmoid", "relu", "linear", "softmax", got "swish"/,
    ],
    [{ model: { layers: [{ units: 0, activation: 'tanh' }] } }, 'model.layers[0].units', /must be ≥ 1/],
    [
      { model: { layers: [{ units: 3, activation: 'tanh' }], loss: 'cross-entropy' } },
      'model.loss',
      /needs the last layer's activation to be "softmax"/,
    ],
    [{ model: { init: { scheme: 'values', layers: [{ W: [1, 'x'], b: [0] }] } } }, 'model.init.layers[0].W[1]', /finite number/],
    [{ model: { init: { scheme: 'safetensors' } } }, 'model.init.path', /must be a non-empty string, got undefined/],
    [{ model: { init: { scheme: 'safetensors', path: 'w.safetensors', gain: 2 } } }, 'model.init.gain', /unknown key/],
    [{ data: { source: 'csv' } }, 'data.path', /non-empty string/],
    [{ data: { source: 'digits', heldOut: 1.5 } }, 'data.heldOut', /must be ≤ 0.9/],
    [{ data: { source: 'digits', path: 'x' } }, 'data.path', /unknown key/],
    [{ data: { source: 'idx', dir: 'd', heldOut: 0.95 } }, 'data.heldOut', /must be ≤ 0.9/],
    [{ data: { source: 'idx', dir: 'd', heldOut: 'test' } }, 'data.heldOut', /must be a finite number, got "test"/],
    [{ data: { source: 'csv', path: 'd.csv', header: 'yes' } }, 'data.header', /must be true, false or "auto", got "yes"/],
    [{ data: { source: 'memory' } }, 'data.source', /"memory" is for arrays given to train\(\) from code/],
    [{ data: { x: [[1]] } }, 'data.y', /is required with data.x/],
    [{ data: { y: [1] } }, 'data.x', /is required with data.y/],
    [{ data: { x: [[1]], y: [0], label: 'last' } }, 'data.label', /unknown key/],
    [{ data: { x: [[1]], y: [0], heldOut: 0.95 } }, 'data.heldOut', /must be ≤ 0.9/],
    [{ weightDecay: -0.1 }, 'weightDecay', /must be ≥ 0/],
    [{ clipNorm: 0 }, 'clipNorm', /must be > 0/],
    [{ reduction: 'avg' }, 'reduction', /must be one of "sum", "mean"/],
    [{ threads: 1000 }, 'threads', /must be ≤ 256/],
    [{ nonFinite: 'ignore' }, 'nonFinite', /"skip", "stop"/],
    [{ diagnosis: { noSuchThreshold: 1 } }, 'diagnosis.noSuchThreshold', /unknown key/],
    [{ checkpoint: { every: -1 } }, 'checkpoint.every', /must be ≥ 0/],
    [{ pinThreads: 'yes' }, 'pinThreads', /must be true or false, got "yes"/],
    [{ shareTail: 1 }, 'shareTail', /must be true or false, got 1/],
    [{ seed: Infinity }, 'seed', /must be a finite number, got an infinite value \(1e999/],
    [{ optimizer: { kind: 'sgd', lr: -Infinity } }, 'optimizer.lr', /got an infinite value \(-1e999/],
    [{ diagnosis: { window: 0 } }, 'diagnosis.window', /must be ≥ 4, got 0/],
    [{ diagnosis: { window: 100_001 } }, 'diagnosis.window', /must be ≤ 100000/],
    [{ diagnosis: { smoothSteps: 2.5 } }, 'diagnosis.smoothSteps', /must be an integer, got 2\.5/],
    [{ diagnosis: { warmupSteps: 0 } }, 'diagnosis.warmupSteps', /must be ≥ 1/],
    [{ diagnosis: { saturatedFraction: -0.5 } }, 'diagnosis.saturatedFraction', /must be ≥ 0, got -0\.5/],
    [{ optimzer: { kind: 'sgd' } }, 'optimzer', /unknown key; did you mean "optimizer"\? \(allowed: /],
    [{ checkpoint: { evry: 1 } }, 'checkpoint.evry', /unknown key; did you mean "every"\?/],
    [{ diagnosis: { windw: 8 } }, 'diagnosis.windw', /unknown key; did you mean "window"\?/],
    [{ zzzzzz: 1 }, 'zzzzzz', /^config field "zzzzzz": unknown key \(allowed: /],
    [{ schedule: 'cosine' }, 'schedule', /must be an object, got "cosine"/],
    [
      { schedule: { kind: 'linear' } },
      'schedule.kind',
      /must be one of "constant", "step", "multistep", "exponential", "cosine", got "linear"/,
    ],
    [{ schedule: { kind: 'step' } }, 'schedule.stepSize', /is required for "step"/],
    [{ schedule: { kind: 'step', stepSize: 0 } }, 'schedule.stepSize', /must be ≥ 1, got 0/],
    [{ schedule: { kind: 'exponential' } }, 'schedule.gamma', /is required for "exponential"/],
    [{ schedule: { kind: 'exponential', gamma: 1.5 } }, 'schedule.gamma', /must be ≤ 1, got 1.5/],
    [{ schedule: { kind: 'step', stepSize: 2, gamma: 0 } }, 'schedule.gamma', /must be > 0, got 0/],
    [{ schedule: { kind: 'multistep', milestones: [] } }, 'schedule.milestones', /non-empty array of increasing whole numbers/],
    [{ schedule: { kind: 'multistep', milestones: [3, 'x'] } }, 'schedule.milestones[1]', /must be a finite number, got "x"/],
    [{ schedule: { kind: 'multistep', milestones: [5, 5] } }, 'schedule.milestones[1]', /greater than the one before it \(5\), got 5/],
    [{ schedule: { kind: 'cosine' } }, 'schedule.tMax', /is required for "cosine"/],
    [{ schedule: { kind: 'cosine', tMax: 10, etaMin: -1 } }, 'schedule.etaMin', /must be ≥ 0, got -1/],
    [{ schedule: { kind: 'cosine', tMax: 10, gamma: 0.5 } }, 'schedule.gamma', /is not an option of "cosine" \(allowed: .*tMax, etaMin\)/],
    [{ schedule: { kind: 'cosine', tmax: 10 } }, 'schedule.tmax', /unknown key; did you mean "tMax"\?/],
    [{ schedule: { unit: 'batch' } }, 'schedule.unit', /must be one of "epoch", "step", got "batch"/],
    [{ schedule: { warmup: 2.5 } }, 'schedule.warmup', /must be an integer, got 2.5/],
    [{ schedule: { warmup: 3, warmupStartFactor: 0 } }, 'schedule.warmupStartFactor', /must be > 0, got 0/],
    [{ schedule: { warmup: 3, warmupStartFactor: 1.2 } }, 'schedule.warmupStartFactor', /must be ≤ 1, got 1.2/],
    [{ earlyStopping: true }, 'earlyStopping', /must be an object, got true/],
    [{ earlyStopping: { patience: -1 } }, 'earlyStopping.patience', /must be ≥ 0, got -1/],
    [{ earlyStopping: { patience: 1.5 } }, 'earlyStopping.patience', /must be an integer, got 1.5/],
    [{ earlyStopping: { minDelta: -0.1 } }, 'earlyStopping.minDelta', /must be ≥ 0, got -0.1/],
    [{ earlyStopping: { restoreBest: 'yes' } }, 'earlyStopping.restoreBest', /must be true or false, got "yes"/],
    [{ earlyStopping: { monitor: 'val_loss' } }, 'earlyStopping.monitor', /must be one of "loss", "accuracy", got "val_loss"/],
    [{ earlyStopping: { patence: 3 } }, 'earlyStopping.patence', /unknown key; did you mean "patience"\?/],
    [
      { data: { source: 'doubling' }, earlyStopping: { patience: 3 } },
      'earlyStopping',
      /needs held-out data to watch, and data.heldOut is 0: set data.heldOut/,
    ],
  ];
  for (const [cfg, field, msg] of bad) {
    it(`rejects ${JSON.stringify(cfg)} naming "${field}"`, () => {
      assert.throws(
        () => validate(cfg),
        (e: unknown) => {
          assert.ok(e instanceof GradsyncError);
          assert.equal(e.code, 'GS_ERR_CONFIG');
          assert.equal(e.exitCode, 2);
          assert.ok(e.message.startsWith(`config field "${field}"`), e.message);
          assert.match(e.message, msg);
          return true;
        },
      );
    });
  }

  it('names the file, line and column of malformed JSON', () => {
    const dir = tempDir();
    const f = path.join(dir, 'bad.json');
    fs.writeFileSync(f, '{\n  "batch": 4,\n  "seed": ,\n}\n');
    assert.throws(
      () => loadConfigFile(f),
      (e: unknown) => {
        assert.ok(e instanceof GradsyncError);
        assert.equal(e.code, 'GS_ERR_CONFIG');
        assert.match(e.message, /bad\.json: not valid JSON at line 3, column 11/);
        return true;
      },
    );
  });

  it('names the file of an invalid config and resolves data paths relative to it', () => {
    const dir = tempDir();
    const f = path.join(dir, 'c.json');
    fs.writeFileSync(f, JSON.stringify({ batch: -1 }));
    assert.throws(() => loadConfigFile(f), /c\.json: config field "batch": must be ≥ 1/);
    fs.writeFileSync(f, JSON.stringify({ data: { source: 'csv', path: 'sub/d.csv' } }));
    const c = loadConfigFile(f);
    assert.equal(c.data.source === 'csv' && c.data.path, path.join(dir, 'sub', 'd.csv'));
    fs.writeFileSync(f, JSON.stringify({ data: { source: 'idx', dir: '../fashion' } }));
    const i = loadConfigFile(f);
    assert.equal(i.data.source === 'idx' && i.data.dir, path.join(path.dirname(dir), 'fashion'));
  });

  it('1e999 in a config file is named as an infinite value, not as null (JSON.parse reads it as Infinity)', () => {
    const f = path.join(tempDir(), 'inf.json');
    fs.writeFileSync(f, '{"weightDecay": 1e999}');
    assert.throws(() => loadConfigFile(f), {
      code: 'GS_ERR_CONFIG',
      message:
        /inf\.json: config field "weightDecay": must be a finite number, got an infinite value \(1e999 and the like overflow a double\)$/,
    });
  });

  it('the config accepts exactly the diagnosis step counts the Diagnoser accepts', () => {
    for (const [k, min] of Object.entries(DIAGNOSIS_INTEGERS) as [string, number][]) {
      for (const v of [min - 1, min, 100_000, 100_001, min + 0.5]) {
        const config = (() => {
          try {
            return validate({ diagnosis: { [k]: v } }).diagnosis;
          } catch {
            return null;
          }
        })();
        const diagnoser = (() => {
          try {
            return new Diagnoser(MLP_CTX, { [k]: v });
          } catch {
            return null;
          }
        })();
        assert.equal(config !== null, diagnoser !== null, `diagnosis.${k} = ${v}`);
      }
    }
  });

  it('a missing file is a config error naming it', () => {
    assert.throws(() => loadConfigFile('/nonexistent/x.json'), {
      code: 'GS_ERR_CONFIG',
      message: /cannot read \/nonexistent\/x\.json: ENOENT/,
    });
  });
});
