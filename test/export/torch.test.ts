/**
 * safetensors against PyTorch, both ways (test/fixtures/torch_sequential.py, its own reader and
 * writer of the format): gradsync's exported file loaded into the matching nn.Sequential with
 * load_state_dict(strict=True) gives `gradsync predict`'s outputs; a Sequential initialised by
 * PyTorch and saved by it, named in model.init, gives gradsync's forward PyTorch's outputs.
 * Skipped, with the reason, where no python3 imports torch (Debian: apt-get install python3-torch).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfigFile } from '../../src/config/load';
import { Model } from '../../src/model/model';
import { selectKernels } from '../../src/tensor/select';
import { prepare } from '../../src/train/prepare';
import { NO_TORCH, torchPython } from '../../scripts/bench-common';
import { assertClose } from '../helpers/close';
import { fixture, tempDir } from '../helpers/paths';
import { cli, EXPORT_CASES, predictOutputs, rowsFor, trainCase } from '../helpers/export-run';

/** The nn.Sequential each case documents (docs/export.md), written out by hand, and its input scale. */
const TORCH: Record<string, { sequential: string; scale: number; input_shape?: number[] }> = {
  'float32 digits relu-sigmoid-tanh-softmax': {
    sequential:
      'nn.Sequential(nn.Linear(64, 24), nn.ReLU(), nn.Linear(24, 16), nn.Sigmoid(), nn.Linear(16, 12), nn.Tanh(), nn.Linear(12, 10), nn.Softmax(dim=1))',
    scale: 1 / 16,
  },
  'float64 digits linear-relu-sigmoid-tanh-softmax': {
    sequential:
      'nn.Sequential(nn.Linear(64, 16), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 12), nn.Sigmoid(), nn.Linear(12, 12), nn.Tanh(), nn.Linear(12, 10), nn.Softmax(dim=1))',
    scale: 1 / 16,
  },
  'float32 sine regression tanh-linear': { sequential: 'nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))', scale: 1 },
  'float32 digits CNN conv(stride 2, pad 1)-maxpool-conv-avgpool-flatten-dropout-dense': {
    sequential:
      'nn.Sequential(nn.Conv2d(1, 6, 3, stride=2, padding=1), nn.Tanh(), nn.MaxPool2d(2), nn.Conv2d(6, 4, 1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Dropout(0.2), nn.Linear(4, 10), nn.Softmax(dim=1))',
    scale: 1 / 16,
    input_shape: [1, 8, 8],
  },
  'float64 digits CNN conv(pad 1)-avgpool(stride 1)-flatten-dense-dense': {
    sequential:
      'nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.Sigmoid(), nn.AvgPool2d(2, stride=1), nn.Flatten(), nn.Linear(147, 12), nn.ReLU(), nn.Linear(12, 10), nn.Softmax(dim=1))',
    scale: 1 / 16,
    input_shape: [1, 8, 8],
  },
};

const TOL = { float32: { rtol: 1e-5, atol: 1e-6 }, float64: { rtol: 1e-10, atol: 1e-12 } } as const;

function torch(mode: 'load' | 'make', file: string, req: object): { outputs: number[][]; torch: string } {
  const t = torchPython()!;
  const r = spawnSync(t.py, [fixture('torch_sequential.py'), mode, file], {
    input: JSON.stringify(req),
    encoding: 'utf8',
    env: t.env,
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { outputs: number[][]; torch: string };
}

describe('export: safetensors and PyTorch', function () {
  this.timeout(180_000);
  before(function () {
    if (torchPython() === null) {
      process.stderr.write(`      skipped: ${NO_TORCH}\n`);
      this.skip();
    }
  });

  for (const c of EXPORT_CASES) {
    it(`${c.name}: the exported file in PyTorch's nn.Sequential (strict load) gives predict's outputs`, () => {
      const { dir, checkpoint } = trainCase(c);
      const out = path.join(dir, 'model.safetensors');
      const r = cli(['export', '--checkpoint', checkpoint, '--format', 'safetensors', '--out', out]);
      assert.equal(r.code, 0, r.stderr);
      const { rows, file } = rowsFor(c, 25, dir);
      const expected = predictOutputs(checkpoint, file);
      const dtype = c.config.dtype as 'float32' | 'float64';
      const got = torch('load', out, { ...TORCH[c.name]!, dtype, rows });
      assertClose(got.outputs.flat(), expected.flat(), { ...TOL[dtype], label: `${c.name} torch ${got.torch} vs predict` });
    });
  }

  for (const c of EXPORT_CASES.slice(1)) {
    it(`${c.name}: PyTorch's own initial weights, saved by it and named in model.init, give gradsync's forward PyTorch's outputs`, () => {
      const dir = tempDir('gradsync-torch-');
      const weights = path.join(dir, 'torch.safetensors');
      const { rows } = rowsFor(c, 20, dir);
      const dtype = c.config.dtype as 'float32' | 'float64';
      const scale = TORCH[c.name]!.scale;
      const scaled = rows.map((r) => r.map((v) => v * scale));
      const t = TORCH[c.name]!;
      const want = torch('make', weights, {
        sequential: t.sequential,
        dtype,
        rows: scaled,
        seed: 7,
        ...(t.input_shape ? { input_shape: t.input_shape } : {}),
      });
      const cfgFile = path.join(dir, 'config.json');
      fs.writeFileSync(
        cfgFile,
        JSON.stringify({
          ...c.config,
          model: { ...(c.config.model as object), init: { scheme: 'safetensors', path: 'torch.safetensors' } },
        }),
      );
      const p = prepare(loadConfigFile(cfgFile), { runDir: tempDir() });
      const model = new Model(p.spec, selectKernels(p.spec.dtype, 'ref', 'portable').kernels, rows.length);
      model.input().set(scaled.flat());
      const y = Array.from(model.forward(p.params, rows.length));
      assertClose(y, want.outputs.flat(), { ...TOL[dtype], label: `${c.name} gradsync forward vs torch ${want.torch}` });
    });
  }
});
