/**
 * layers.ts — how each layer of a gradsync model appears outside gradsync: as the modules of a
 * PyTorch nn.Sequential (their state-dict names, for safetensors) and as ONNX nodes. One entry
 * per layer kind in LAYER_KINDS; one per activation in ACTIVATION_MAP.
 *
 * The nn.Sequential of a model lists, for each layer in order, the layer's own module(s) then
 * its activation's module; 'linear' (the identity) adds none. Each module takes the next index,
 * so Sequential(Linear, Tanh, Linear, Softmax) names its tensors 0.weight, 0.bias, 2.weight,
 * 2.bias. gradsync's dense W is (nOut, nIn) row-major (params.ts), which is PyTorch's Linear
 * weight [out_features, in_features] as it is, and ONNX Gemm's B with transB = 1.
 * A layer kind without an entry (conv2d, pooling, flatten: not yet here) is GS_ERR_NOT_IMPLEMENTED
 * naming the layer, before any file is written.
 * Not here: the file formats (safetensors.ts, onnx.ts), reading files (train/, cli/).
 */

import { Errors } from '../errors';
import type { DType, Float } from '../tensor/dtype';
import type { Activation } from '../tensor/kernels';
import type { LayerSlot, ParamLayout } from '../model/params';
import { kindOf as specKindOf, type DenseSpec, type LayerSpec, type ModelSpec } from '../model/spec';

/** A parameter tensor of one module: its state-dict name, its shape, its place in the flat buffer. */
export interface ParamTensor {
  /** State-dict name, e.g. "0.weight". */
  name: string;
  shape: number[];
  /** Element offset in the flat parameter buffer, and element count. */
  offset: number;
  size: number;
}

/** One module of the model's nn.Sequential. */
export interface SequentialModule {
  index: number;
  /** How PyTorch prints it, e.g. "Linear(in_features=64, out_features=10, bias=True)". */
  repr: string;
  params: ParamTensor[];
}

/** What the ONNX writer offers a layer: initializers and nodes, each node's output named for it. */
export interface OnnxGraphBuilder {
  /** Adds a constant tensor (the flat buffer's elements [offset, offset + size)) named `name`. */
  initializer(name: string, dims: number[], data: Float): void;
  /** Adds a node; returns the name of its (single) output. */
  node(op: string, name: string, inputs: string[], attrs?: Record<string, number>): string;
}

interface LayerKind {
  /** The layer's own modules (without its activation), from index `first`. */
  modules(layer: LayerSpec, slot: LayerSlot, first: number): SequentialModule[];
  /** The layer's ONNX nodes (without its activation) over `input`; returns the output's name. */
  onnx(g: OnnxGraphBuilder, mods: SequentialModule[], params: Float, input: string): string;
}

const dense: LayerKind = {
  modules: (_layer, s, first) => [
    {
      index: first,
      repr: `Linear(in_features=${s.wShape[1]}, out_features=${s.wShape[0]}, bias=True)`,
      params: [
        { name: `${first}.weight`, shape: s.wShape, offset: s.w, size: s.wSize },
        { name: `${first}.bias`, shape: [s.bSize], offset: s.b, size: s.bSize },
      ],
    },
  ],
  onnx: (g, [m], params, input) => {
    const [w, b] = m!.params;
    for (const t of [w!, b!]) g.initializer(t.name, t.shape, params.subarray(t.offset, t.offset + t.size));
    // Y = X · Wᵀ + b: Gemm with transB = 1 reads W in its (out, in) layout
    return g.node('Gemm', String(m!.index), [input, w!.name, b!.name], { transB: 1 });
  },
};

/** Layer kinds that can be exported, by LayerSpec `kind` (absent: 'dense'). */
const LAYER_KINDS: Record<string, LayerKind> = { dense };

/** Each activation's PyTorch module and ONNX op (opset ≥ 13 semantics); null: the identity, no module. */
export const ACTIVATION_MAP: Record<Activation, { torch: string; onnx: string; attrs?: Record<string, number> } | null> = {
  tanh: { torch: 'Tanh()', onnx: 'Tanh' },
  sigmoid: { torch: 'Sigmoid()', onnx: 'Sigmoid' },
  relu: { torch: 'ReLU()', onnx: 'Relu' },
  // per example (row): PyTorch's dim=1 over (batch, units), ONNX's axis 1
  softmax: { torch: 'Softmax(dim=1)', onnx: 'Softmax', attrs: { axis: 1 } },
  linear: null,
};

/** The layer's kind (model/spec.ts: its `type`, absent for dense). */
export function kindOf(layer: LayerSpec): string {
  return specKindOf(layer);
}

function kindFor(layer: LayerSpec, i: number, format: string): LayerKind {
  const kind = kindOf(layer);
  const entry = Object.prototype.hasOwnProperty.call(LAYER_KINDS, kind) ? LAYER_KINDS[kind] : undefined;
  if (entry === undefined) throw Errors.notImplemented(`${format} export of layer kind "${kind}" (model.layers[${i}])`);
  return entry;
}

/** One layer of the nn.Sequential: its own modules, then its activation's (if any). */
export interface SequentialLayer {
  layer: number;
  modules: SequentialModule[];
  activation: SequentialModule | null;
}

/** The nn.Sequential a model maps to, layer by layer; GS_ERR_NOT_IMPLEMENTED names a kind with no mapping and the `format` asked for. */
export function sequentialOf(spec: ModelSpec, layout: ParamLayout, format: string): SequentialLayer[] {
  let next = 0;
  return spec.layers.map((layer, i) => {
    const modules = kindFor(layer, i, format).modules(layer, layout.layers[i]!, next);
    next += modules.length;
    // only dense layers get here (kindFor refuses the others), and in a dense-only model layer i is slot i
    const act = ACTIVATION_MAP[(layer as DenseSpec).activation];
    const activation = act === null ? null : { index: next++, repr: act.torch, params: [] };
    return { layer: i, modules, activation };
  });
}

/** Every parameter tensor of the model, in state-dict order. */
export function paramTensorsOf(seq: SequentialLayer[]): ParamTensor[] {
  return seq.flatMap((l) => l.modules.flatMap((m) => m.params));
}

/** The nn.Sequential as Python source a reader can paste, e.g. "nn.Sequential(nn.Linear(64, 10), nn.Softmax(dim=1))". */
export function sequentialSource(seq: SequentialLayer[]): string {
  const py = (repr: string): string =>
    `nn.${repr.replace(/^Linear\(in_features=(\d+), out_features=(\d+), bias=True\)$/, 'Linear($1, $2)')}`;
  const mods = seq.flatMap((l) => [...l.modules, ...(l.activation ? [l.activation] : [])]);
  return `nn.Sequential(${mods.map((m) => py(m.repr)).join(', ')})`;
}

/** Emits the whole network's nodes over `input`; returns the last output's name. */
export function onnxLayers(g: OnnxGraphBuilder, spec: ModelSpec, seq: SequentialLayer[], params: Float, input: string): string {
  let x = input;
  for (const l of seq) {
    x = kindFor(spec.layers[l.layer]!, l.layer, 'ONNX').onnx(g, l.modules, params, x);
    const act = ACTIVATION_MAP[(spec.layers[l.layer] as DenseSpec).activation];
    if (act !== null && l.activation !== null) x = g.node(act.onnx, String(l.activation.index), [x], act.attrs);
  }
  return x;
}

/** Safetensors dtype names of the two dtypes gradsync computes in. */
export const SAFETENSORS_DTYPE: Record<DType, 'F32' | 'F64'> = { float32: 'F32', float64: 'F64' };
