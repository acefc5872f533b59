/**
 * export → model.init → the same weights: a trained checkpoint exported as safetensors and named
 * by a config's model.init starts a run from its weights bit for bit, trains exactly as the same
 * weights given inline (scheme "values") do, and a damaged file stops the run before it writes
 * anything, naming the tensor.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfigFile } from '../../src/config/load';
import { GradsyncError } from '../../src/errors';
import { layoutOf, paramsSha256, paramsToArrays } from '../../src/model/params';
import { readCheckpoint } from '../../src/train/checkpoint';
import { prepare } from '../../src/train/prepare';
import { assertBitEqual } from '../helpers/close';
import { tempDir } from '../helpers/paths';
import { cli, EXPORT_CASES, trainCase } from '../helpers/export-run';

/** Exports `checkpoint` as safetensors into `dir`/model.safetensors. */
function exportSafetensors(checkpoint: string, dir: string): string {
  const out = path.join(dir, 'model.safetensors');
  const r = cli(['export', '--checkpoint', checkpoint, '--format', 'safetensors', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  return out;
}

/** A config in a folder of its own (`dir`, default a new one): the case's config with model.init as given. */
function configWith(c: (typeof EXPORT_CASES)[number], init: object, steps: number, dir = tempDir('gradsync-init-')): string {
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify({ ...c.config, steps, model: { ...(c.config.model as object), init } }));
  return file;
}

describe('export: safetensors round trip through model.init', function () {
  this.timeout(120_000);

  for (const c of EXPORT_CASES.slice(0, 2)) {
    it(`${c.name}: a run started from the exported file has the checkpoint's weights bit for bit`, () => {
      const { dir, checkpoint } = trainCase(c);
      const weights = exportSafetensors(checkpoint, dir);
      // the path is relative to the config file's folder
      const cfgDir = tempDir('gradsync-init-');
      const cfgFile = configWith(c, { scheme: 'safetensors', path: path.relative(cfgDir, weights) }, 1, cfgDir);
      const cfg = loadConfigFile(cfgFile);
      assert.deepEqual(cfg.model.init, { scheme: 'safetensors', path: weights });
      const ck = readCheckpoint(checkpoint);
      const p = prepare(cfg, { runDir: tempDir() });
      assertBitEqual(p.params, ck.params, `${c.name} initial weights`);
      assert.equal(paramsSha256(p.params), ck.header.paramsSha256);
    });
  }

  it('training from the file gives the same bits as training from the same weights given inline (scheme "values")', () => {
    const c = EXPORT_CASES[1]!;
    const { dir, checkpoint } = trainCase(c);
    const weights = exportSafetensors(checkpoint, dir);
    const ck = readCheckpoint(checkpoint);
    const inline = paramsToArrays(layoutOf(ck.header.spec), ck.params);
    const sha = (cfgFile: string): string => {
      const r = cli(['train', cfgFile, '--json', '--no-progress', '--run-dir', tempDir()]);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { paramsSha256: string }).paramsSha256;
    };
    const fromFile = sha(configWith(c, { scheme: 'safetensors', path: weights }, 20));
    const fromValues = sha(configWith(c, { scheme: 'values', layers: inline }, 20));
    assert.equal(fromFile, fromValues);
    assert.notEqual(fromFile, ck.header.paramsSha256, 'the 20 steps changed the weights');
  });

  it('a truncated weights file stops `gradsync train` with exit 2 and GS_ERR_WEIGHTS naming the tensor, before the run folder is made', () => {
    const c = EXPORT_CASES[0]!;
    const { dir, checkpoint } = trainCase(c);
    const weights = exportSafetensors(checkpoint, dir);
    fs.truncateSync(weights, fs.statSync(weights).size - 10);
    const runDir = path.join(tempDir(), 'run');
    const r = cli(['train', configWith(c, { scheme: 'safetensors', path: weights }, 5), '--run-dir', runDir, '--no-progress']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /gradsync: error GS_ERR_WEIGHTS: .*model\.safetensors \(tensor "6\.bias"\): data_offsets \[\d+, \d+\] run past the data section's/,
    );
    assert.equal(fs.existsSync(runDir), false);
  });

  it('weights of another model are refused naming the tensor and the model', () => {
    const [a, b] = EXPORT_CASES;
    const { dir, checkpoint } = trainCase(a!);
    const weights = exportSafetensors(checkpoint, dir);
    const cfg = loadConfigFile(configWith(b!, { scheme: 'safetensors', path: weights }, 1));
    assert.throws(
      () => prepare(cfg, { runDir: tempDir() }),
      (e: unknown) => {
        assert.ok(e instanceof GradsyncError);
        assert.equal(e.code, 'GS_ERR_WEIGHTS');
        assert.match(e.message, /\(tensor "0\.weight"\): shape \[24, 64\] does not fit the model, which needs \[16, 64\]/);
        assert.match(
          e.hint ?? '',
          /the model is nn\.Sequential\(nn\.Linear\(64, 16\), nn\.Linear\(16, 16\), nn\.ReLU\(\), nn\.Linear\(16, 12\), nn\.Sigmoid\(\), nn\.Linear\(12, 12\), nn\.Tanh\(\), nn\.Linear\(12, 10\), nn\.Softmax\(dim=1\)\)/,
        );
        return true;
      },
    );
  });
});
