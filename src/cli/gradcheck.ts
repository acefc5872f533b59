/**
 * cli/gradcheck.ts — `gradsync gradcheck [config]`: prove the run's gradients at its initial
 * weights on its first examples, per tensor, in float64; exit 1 naming each failing tensor.
 */

import { Errors } from '../errors';
import { gradcheck, type GradcheckResult } from '../model/gradcheck';
import { layoutOf } from '../model/params';
import { initialParams } from '../train/init-weights';
import { dataShapeOf, loadRunData, modelSpecOf } from '../train/setup';
import { configWithFlags } from './train';
import { intFlag } from './flags';
import { fmt, humanOut, type Io } from './io';

export interface GradcheckFlags {
  eps?: string;
  threshold?: string;
  samples?: string;
  examples?: string;
  sweep?: boolean;
  seed?: string;
  json?: boolean;
}

function pos(name: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw Errors.usage(`--${name} must be a positive number, got "${v}"`);
  return n;
}

export const SWEEP_EPS = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9];

export async function gradcheckCommand(file: string | undefined, f: GradcheckFlags, io: Io): Promise<number> {
  const cfg = configWithFlags(file, f.seed !== undefined ? { seed: f.seed, dtype: 'float64' } : { dtype: 'float64' });
  const data = loadRunData(cfg);
  const ds = data.train;
  const spec = modelSpecOf(cfg, ds.inputs, ds.outputs, dataShapeOf(cfg, ds));
  const layout = layoutOf(spec);
  const params = new Float64Array(layout.size);
  initialParams(cfg, spec, layout, params);
  const rows = Math.min(ds.n, f.examples !== undefined ? intFlag('examples', f.examples, 1) : 32);
  const res: GradcheckResult = gradcheck(spec, params, ds.x, ds.y, rows, {
    ...(f.eps !== undefined ? { eps: pos('eps', f.eps) } : {}),
    ...(f.threshold !== undefined ? { threshold: pos('threshold', f.threshold) } : {}),
    ...(f.samples !== undefined ? { samplesPerTensor: intFlag('samples', f.samples, 1) } : {}),
    seed: cfg.seed,
    weightDecay: cfg.weightDecay,
    reduction: cfg.reduction,
    ...(f.sweep ? { sweep: SWEEP_EPS } : {}),
  });
  const json = f.json === true;
  const out = humanOut(io, json);
  out.write(
    `gradcheck: ${rows} examples, ε ${res.eps}, threshold ${res.threshold} (max relative error |a−n|/max(|a|, |n|, 1e-3·max|a| of the tensor))\n`,
  );
  out.write('tensor        size  checked  max rel error  max abs error  kinks  result\n');
  for (const t of res.tensors) {
    out.write(
      `${t.tensor.padEnd(12)} ${String(t.size).padStart(5)}  ${String(t.checked).padStart(7)}  ${fmt(t.maxRelError, 3).padStart(13)}  ${fmt(t.maxAbsError, 3).padStart(13)}  ${String(t.kinks).padStart(5)}  ${t.pass ? 'ok' : 'FAIL'}\n`,
    );
    if (t.kinks > 0)
      out.write(
        `warning: ${t.tensor}: ${t.kinks} entr${t.kinks === 1 ? 'y' : 'ies'} skipped: the ±ε perturbation crosses a ReLU or max-pool kink, where the central difference is not a derivative\n`,
      );
  }
  if (res.sweep.length > 0) {
    out.write(`ε sweep (max relative error per tensor):\n${'ε'.padEnd(8)}${res.tensors.map((t) => t.tensor.padStart(12)).join('')}\n`);
    for (const s of res.sweep)
      out.write(`${s.eps.toExponential(0).padEnd(8)}${res.tensors.map((t) => fmt(s.maxRelError[t.tensor], 2).padStart(12)).join('')}\n`);
  }
  if (json) io.stdout.write(`${JSON.stringify(res)}\n`);
  if (!res.pass) {
    const bad = res.tensors.filter((t) => !t.pass);
    throw Errors.gradcheck(
      `gradient check failed for ${bad.map((t) => `${t.tensor} (max relative error ${fmt(t.maxRelError, 3)} at entry ${t.worst.index}: analytic ${t.worst.analytic}, numeric ${t.worst.numeric})`).join('; ')}`,
    );
  }
  out.write('gradcheck passed: backward() agrees with central differences on every tensor\n');
  return 0;
}
