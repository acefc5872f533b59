/**
 * cli/export.ts — `gradsync export --checkpoint F|RUN_DIR --format onnx|safetensors --out FILE`:
 * a trained model for other tools (docs/export.md). ONNX: the whole forward, input scaling
 * included, runnable by onnxruntime; safetensors: the weights as a PyTorch nn.Sequential's
 * state dict, which `model.init: { scheme: "safetensors", path }` reads back.
 * The file is written atomically (temp, fsync, rename): nothing half-written on failure, and a
 * model with a layer kind that has no mapping fails before anything is written.
 */

import * as fs from 'node:fs';
import { Errors } from '../errors';
import { layoutOf, paramsSha256 } from '../model/params';
import { outputsOf } from '../model/spec';
import { sequentialOf, sequentialSource } from '../export/layers';
import { ONNX_BATCH_DIM, ONNX_INPUT, ONNX_OPSET, ONNX_OUTPUT, toOnnx } from '../export/onnx';
import { toSafetensors } from '../export/state-dict';
import { atomicWrite, findResumePoint } from '../train/checkpoint';
import { inputScaleOf } from '../train/setup';
import { humanOut, type Io } from './io';
import { packagePath } from './paths';

export interface ExportFlags {
  checkpoint?: string;
  format?: string;
  out?: string;
  json?: boolean;
}

export const EXPORT_FORMATS = ['onnx', 'safetensors'] as const;

export async function exportCommand(f: ExportFlags, io: Io): Promise<number> {
  if (!f.checkpoint) throw Errors.usage('export needs --checkpoint FILE|RUN_DIR');
  if (!f.out) throw Errors.usage('export needs --out FILE');
  const format = f.format;
  if (format !== 'onnx' && format !== 'safetensors')
    throw Errors.usage(`--format must be one of ${EXPORT_FORMATS.join(', ')}, got ${JSON.stringify(format ?? '')}`);
  const found = findResumePoint(f.checkpoint);
  for (const sk of found.skipped) io.stderr.write(`gradsync: warning: skipped corrupt checkpoint ${sk.file} (${sk.code}): ${sk.reason}\n`);
  const ck = found.checkpoint;
  const spec = ck.header.spec;
  const layout = layoutOf(spec);
  const scale = inputScaleOf(ck.header.config);
  const version = (JSON.parse(fs.readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version;
  const provenance = {
    'gradsync.checkpoint_step': String(ck.header.step),
    'gradsync.params_sha256': ck.header.paramsSha256,
    'gradsync.kernel_profile': ck.header.kernelProfile ?? 'portable',
  };
  const bytes =
    format === 'onnx'
      ? toOnnx(spec, layout, ck.params, { inputScale: scale, producerVersion: version, metadata: provenance })
      : toSafetensors(spec, layout, ck.params, { ...provenance, 'gradsync.input_scale': String(scale) });
  atomicWrite(f.out, [bytes]);
  const seq = sequentialSource(sequentialOf(spec, layout));
  const summary = {
    out: f.out,
    format,
    bytes: bytes.byteLength,
    checkpoint: found.file,
    step: ck.header.step,
    dtype: spec.dtype,
    paramsSha256: paramsSha256(ck.params),
    sequential: seq,
    inputScale: scale,
    ...(format === 'onnx'
      ? {
          opset: ONNX_OPSET,
          input: { name: ONNX_INPUT, shape: [ONNX_BATCH_DIM, spec.inputs] },
          output: { name: ONNX_OUTPUT, shape: [ONNX_BATCH_DIM, outputsOf(spec)] },
        }
      : {}),
  };
  const out = humanOut(io, f.json === true);
  out.write(`exported ${found.file} (step ${ck.header.step}, ${spec.dtype}) to ${f.out}: ${format}, ${bytes.byteLength} bytes\n`);
  out.write(`model: ${seq}\n`);
  if (format === 'onnx')
    out.write(
      `opset ${ONNX_OPSET}; input "${ONNX_INPUT}" [${ONNX_BATCH_DIM}, ${spec.inputs}] (raw features${scale !== 1 ? `, scaled by ${scale} inside the graph` : ''}), output "${ONNX_OUTPUT}" [${ONNX_BATCH_DIM}, ${outputsOf(spec)}]\n`,
    );
  else if (scale !== 1) out.write(`note: the run scaled its inputs by ${scale}; multiply raw features by it before the nn.Sequential\n`);
  if (f.json === true) io.stdout.write(`${JSON.stringify(summary)}\n`);
  return 0;
}
