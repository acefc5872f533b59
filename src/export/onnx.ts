/**
 * onnx.ts — a model as an ONNX file (ModelProto), encoded by protobufjs from ONNX's own schema
 * (third_party/onnx/onnx.proto, as the descriptor onnx-proto.json).
 *
 * The graph: input "input" (batch, inputs) with a symbolic batch dimension "batch"; when the run
 * scaled its raw features (data.scale, digits' 1/16), a Mul by that factor first, so the file
 * takes the rows `gradsync predict` takes; for an image model (model.input [C, H, W]) a Reshape
 * to (batch, C, H, W); then each layer's nodes (layers.ts: Gemm with transB = 1, Conv, MaxPool,
 * AveragePool, Flatten; the activation: Relu, Sigmoid, Tanh, Softmax on axis 1, none for
 * 'linear'; nothing for dropout); output "output" (batch, outputs). Weights are initializers named as the PyTorch state dict
 * names them (0.weight, 0.bias, …), in raw_data (little-endian). A float32 model is FLOAT, a
 * float64 model DOUBLE (onnxruntime's CPU kernels of these ops take both).
 * Opset 17 (IR version 8): every op used is unchanged since opset 14, and any onnxruntime since
 * 1.12 reads it.
 * Not here: writing the file (cli/export.ts), the layer mapping (layers.ts).
 */

import * as protobuf from 'protobufjs';
import type { Float } from '../tensor/dtype';
import type { ParamLayout } from '../model/params';
import { outputsOf, type ModelSpec } from '../model/spec';
import { onnxLayers, sequentialOf, sequentialSource, type OnnxGraphBuilder } from './layers';
import { leBytes } from './tensor-bytes';
import descriptor from './onnx-proto.json';

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;
export const ONNX_INPUT = 'input';
export const ONNX_OUTPUT = 'output';
export const ONNX_BATCH_DIM = 'batch';

/** TensorProto.DataType: FLOAT and DOUBLE. */
const ELEM_TYPE = { float32: 1, float64: 11 } as const;
/** AttributeProto.AttributeType.INT. */
const ATTR_INT = 2;
const ATTR_INTS = 7;
/** TensorProto.DataType INT64 (Reshape's shape). */
const INT64 = 7;

let root: protobuf.Root | null = null;
/** The ONNX schema, built once from the committed descriptor. */
export function onnxSchema(): protobuf.Root {
  return (root ??= protobuf.Root.fromJSON(descriptor as protobuf.INamespace));
}

export interface OnnxOptions {
  /** The factor the run multiplied raw features by (train/setup.ts inputScaleOf); 1: no Mul node. */
  inputScale?: number;
  /** producer_version, e.g. gradsync's package version. */
  producerVersion?: string;
  /** Extra metadata_props (string → string). */
  metadata?: Record<string, string>;
}

interface NodeObj {
  name: string;
  op_type: string;
  input: string[];
  output: string[];
  attribute: ({ name: string; type: number; i: number } | { name: string; type: number; ints: number[] })[];
}

/** Encodes the model (layout of `spec`, weights `params`) as an ONNX ModelProto. */
export function toOnnx(spec: ModelSpec, layout: ParamLayout, params: Float, opts: OnnxOptions = {}): Uint8Array {
  const seq = sequentialOf(spec, layout);
  const elemType = ELEM_TYPE[spec.dtype];
  const initializer: object[] = [];
  const node: NodeObj[] = [];
  const g: OnnxGraphBuilder = {
    initializer: (name, dims, data) => {
      initializer.push({ name, dims, data_type: elemType, raw_data: leBytes(data) });
    },
    node: (op, name, inputs, attrs = {}) => {
      const out = `${name}.${op}`;
      node.push({
        name: `${name}.${op}`,
        op_type: op,
        input: inputs,
        output: [out],
        attribute: Object.entries(attrs).map(([k, v]) =>
          Array.isArray(v) ? { name: k, type: ATTR_INTS, ints: v } : { name: k, type: ATTR_INT, i: v },
        ),
      });
      return out;
    },
  };
  let x = ONNX_INPUT;
  const scale = opts.inputScale ?? 1;
  if (scale !== 1) {
    const s = spec.dtype === 'float32' ? new Float32Array([scale]) : new Float64Array([scale]);
    g.initializer('input_scale', [], s);
    x = g.node('Mul', 'input_scale', [x, 'input_scale']);
  }
  if (spec.input !== undefined && spec.input.length === 3) {
    // rows of C·H·W values, as predict reads them, into the NCHW the convolutions take
    initializer.push({ name: 'input_shape', dims: [4], data_type: INT64, int64_data: [-1, ...spec.input] });
    x = g.node('Reshape', 'input_shape', [x, 'input_shape']);
  }
  onnxLayers(g, spec, seq, params, x);
  // the graph's output is the last node's
  node[node.length - 1]!.output = [ONNX_OUTPUT];
  const tensorType = (width: number): object => ({
    tensor_type: { elem_type: elemType, shape: { dim: [{ dim_param: ONNX_BATCH_DIM }, { dim_value: width }] } },
  });
  const model = {
    ir_version: ONNX_IR_VERSION,
    opset_import: [{ domain: '', version: ONNX_OPSET }],
    producer_name: 'gradsync',
    producer_version: opts.producerVersion ?? '',
    doc_string: `gradsync model ${sequentialSource(seq)}`,
    graph: {
      name: 'gradsync',
      node,
      initializer,
      input: [{ name: ONNX_INPUT, type: tensorType(spec.inputs) }],
      output: [{ name: ONNX_OUTPUT, type: tensorType(outputsOf(spec)) }],
    },
    metadata_props: Object.entries({
      'gradsync.spec': JSON.stringify({ inputs: spec.inputs, layers: spec.layers, loss: spec.loss, dtype: spec.dtype }),
      'gradsync.input_scale': String(scale),
      ...(opts.metadata ?? {}),
    }).map(([key, value]) => ({ key, value })),
  };
  const M = onnxSchema().lookupType('onnx.ModelProto');
  return M.encode(M.fromObject(model)).finish();
}
