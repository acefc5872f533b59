/**
 * state-dict.ts — a model's parameters as the state dict of its PyTorch nn.Sequential
 * (layers.ts names them), to a safetensors file and back into gradsync's flat buffer.
 *
 * Loading is strict, as PyTorch's load_state_dict(strict=True) is: every tensor the model needs
 * must be there with its shape, no other tensor may be, and each is F32 or F64. F32 goes into a
 * float32 model bit for bit and into a float64 one exactly (widening); F64 goes into a float64
 * model bit for bit and is refused for a float32 one (it would be rounded). Non-finite values are
 * refused. Every failure is GS_ERR_WEIGHTS naming the file and the tensor.
 * Not here: the byte format (safetensors.ts), reading the file (train/init-weights.ts).
 */

import { Errors } from '../errors';
import type { DType, Float } from '../tensor/dtype';
import type { ParamLayout } from '../model/params';
import type { ModelSpec } from '../model/spec';
import { paramTensorsOf, SAFETENSORS_DTYPE, sequentialOf, sequentialSource } from './layers';
import { encodeSafetensors, tensorWhere, type SafetensorsContents, type TensorToWrite } from './safetensors';
import { fromLeBytes } from './tensor-bytes';

/** The parameters of `params` (layout of `spec`) as named tensors, in state-dict order (views, not copies). */
export function stateDictOf(spec: ModelSpec, layout: ParamLayout, params: Float): TensorToWrite[] {
  return paramTensorsOf(sequentialOf(spec, layout)).map((t) => ({
    name: t.name,
    dtype: spec.dtype,
    shape: t.shape,
    data: params.subarray(t.offset, t.offset + t.size),
  }));
}

/** A safetensors file of the model's state dict; `metadata` adds string entries to its __metadata__. */
export function toSafetensors(spec: ModelSpec, layout: ParamLayout, params: Float, metadata: Record<string, string> = {}): Buffer {
  const seq = sequentialOf(spec, layout);
  return encodeSafetensors(stateDictOf(spec, layout, params), {
    // what safetensors.torch.save_file writes, so that readers which look for it find it
    format: 'pt',
    'gradsync.sequential': sequentialSource(seq),
    'gradsync.spec': JSON.stringify({ inputs: spec.inputs, layers: spec.layers, loss: spec.loss, dtype: spec.dtype }),
    ...metadata,
  });
}

/** Fills `params` (layout of `spec`) from the tensors of a decoded safetensors file, checking names, shapes, dtypes and values. */
export function loadStateDict(spec: ModelSpec, layout: ParamLayout, st: SafetensorsContents, params: Float, file: string): void {
  const seq = sequentialOf(spec, layout);
  const expected = paramTensorsOf(seq);
  const model = sequentialSource(seq);
  const hint = `the model is ${model}`;
  const names = new Set(expected.map((t) => t.name));
  const extra = [...st.tensors.keys()].filter((n) => !names.has(n));
  for (const t of expected) {
    const where = tensorWhere(t.name);
    const got = st.tensors.get(t.name);
    if (got === undefined) {
      const present = [...st.tensors.keys()];
      throw Errors.weights(
        file,
        where,
        `missing: the model needs ${expected.map((e) => e.name).join(', ')}; the file has ${
          present.length === 0
            ? 'no tensors'
            : present
                .slice(0, 12)
                .map((n) => JSON.stringify(n.slice(0, 80)))
                .join(', ')
        }`,
        hint,
      );
    }
    const from = dtypeFrom(got.dtype);
    if (from === null)
      throw Errors.weights(file, where, `dtype ${got.dtype}: gradsync reads F32 and F64 tensors`, 'save the weights as float32');
    if (from === 'float64' && spec.dtype === 'float32')
      throw Errors.weights(
        file,
        where,
        'is F64 and this run is float32: its values would be rounded',
        'set "dtype": "float64" in the config, or save the weights as float32',
      );
    if (got.shape.length !== t.shape.length || got.shape.some((d, i) => d !== t.shape[i]))
      throw Errors.weights(
        file,
        where,
        `shape [${got.shape.join(', ')}] does not fit the model, which needs [${t.shape.join(', ')}]`,
        hint,
      );
    const values = fromLeBytes(got.bytes, from, spec.dtype);
    for (let i = 0; i < values.length; i++)
      if (!Number.isFinite(values[i]!)) throw Errors.weights(file, where, `element ${i} is ${values[i]}: initial weights must be finite`);
    params.set(values, t.offset);
  }
  if (extra.length > 0)
    throw Errors.weights(
      file,
      tensorWhere(extra[0]!),
      `is not a parameter of the model (${extra.length} unexpected tensor${extra.length === 1 ? '' : 's'}: ${extra
        .slice(0, 8)
        .map((n) => JSON.stringify(n.slice(0, 80)))
        .join(', ')}); it needs exactly ${expected.map((e) => e.name).join(', ')}`,
      hint,
    );
}

function dtypeFrom(name: string): DType | null {
  for (const [d, n] of Object.entries(SAFETENSORS_DTYPE)) if (n === name) return d as DType;
  return null;
}
