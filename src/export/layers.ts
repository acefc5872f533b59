/**
 * layers.ts — how each layer of a gradsync model appears outside gradsync: as the modules of a
 * PyTorch nn.Sequential (their state-dict names, for safetensors) and as ONNX nodes. One entry
 * per layer kind in LAYER_KINDS; one per activation in ACTIVATION_MAP.
 *
 * The nn.Sequential of a model lists, for each layer in order, the layer's own module then its
 * activation's module; 'linear' (the identity) adds none. Each module takes the next index,
 * so Sequential(Conv2d, ReLU, MaxPool2d, Flatten, Linear, Softmax) names its tensors
 * 0.weight, 0.bias, 4.weight, 4.bias. gradsync's layouts are PyTorch's (params.ts): a dense W
 * is Linear's weight [out_features, in_features] (ONNX Gemm's B with transB = 1), a conv W is
 * Conv2d's [out, in, kh, kw] (ONNX Conv's W as it is). Dropout is a module (it takes an index)
 * without parameters, the identity at inference: no ONNX node.
 * Not here: the file formats (safetensors.ts, onnx.ts), reading files (train/, cli/).
 */

import type { DType, Float } from '../tensor/dtype';
import type { Activation } from '../tensor/kernels';
import type { LayerSlot, ParamLayout } from '../model/params';
import { kindOf, type Conv2dSpec, type DropoutSpec, type LayerKind, type LayerSpec, type ModelSpec, type Pool2dSpec } from '../model/spec';

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
  /** The Python that builds it, e.g. "nn.Linear(64, 10)". */
  source: string;
  params: ParamTensor[];
}

/** What the ONNX writer offers a layer: initializers and nodes, each node's output named for it. */
export interface OnnxGraphBuilder {
  /** Adds a constant tensor named `name`. */
  initializer(name: string, dims: number[], data: Float): void;
  /** Adds a node; returns the name of its (single) output. Attributes are integers or lists of integers. */
  node(op: string, name: string, inputs: string[], attrs?: Record<string, number | number[]>): string;
}

interface LayerKindMap {
  /** The layer's own module (without its activation) at index `at`; `slot` for a layer with parameters. */
  module(layer: LayerSpec, slot: LayerSlot | undefined, at: number): SequentialModule;
  /** The layer's ONNX nodes (without its activation) over `input`; returns the output's name (`input` itself for the identity). */
  onnx(g: OnnxGraphBuilder, m: SequentialModule, layer: LayerSpec, params: Float, input: string): string;
}

/** W and b of a layer with parameters, as tensors of module `at`. */
function weightAndBias(s: LayerSlot, at: number): ParamTensor[] {
  return [
    { name: `${at}.weight`, shape: [...s.wShape], offset: s.w, size: s.wSize },
    { name: `${at}.bias`, shape: [s.bSize], offset: s.b, size: s.bSize },
  ];
}

function initializers(g: OnnxGraphBuilder, m: SequentialModule, params: Float): void {
  for (const t of m.params) g.initializer(t.name, t.shape, params.subarray(t.offset, t.offset + t.size));
}

const dense: LayerKindMap = {
  module: (_l, s, at) => {
    const [out, inp] = s!.wShape as [number, number];
    return {
      index: at,
      repr: `Linear(in_features=${inp}, out_features=${out}, bias=True)`,
      source: `nn.Linear(${inp}, ${out})`,
      params: weightAndBias(s!, at),
    };
  },
  onnx: (g, m, _l, params, input) => {
    initializers(g, m, params);
    // Y = X · Wᵀ + b: Gemm with transB = 1 reads W in its (out, in) layout
    return g.node('Gemm', String(m.index), [input, m.params[0]!.name, m.params[1]!.name], { transB: 1 });
  },
};

const conv2d: LayerKindMap = {
  module: (l, s, at) => {
    const c = l as Conv2dSpec;
    const [out, inp] = s!.wShape as [number, number];
    const st = c.stride ?? 1;
    const pad = c.padding ?? 0;
    return {
      index: at,
      repr: `Conv2d(${inp}, ${out}, kernel_size=(${c.kernel}, ${c.kernel}), stride=(${st}, ${st})${pad > 0 ? `, padding=(${pad}, ${pad})` : ''})`,
      source: `nn.Conv2d(${inp}, ${out}, kernel_size=${c.kernel}, stride=${st}, padding=${pad})`,
      params: weightAndBias(s!, at),
    };
  },
  onnx: (g, m, l, params, input) => {
    const c = l as Conv2dSpec;
    const st = c.stride ?? 1;
    const pad = c.padding ?? 0;
    initializers(g, m, params);
    return g.node('Conv', String(m.index), [input, m.params[0]!.name, m.params[1]!.name], {
      kernel_shape: [c.kernel, c.kernel],
      strides: [st, st],
      pads: [pad, pad, pad, pad],
    });
  },
};

/** Max or average pooling without padding (avg: every window is whole, so count_include_pad does not matter). */
function pool(torch: 'MaxPool2d' | 'AvgPool2d', op: 'MaxPool' | 'AveragePool'): LayerKindMap {
  return {
    module: (l, _s, at) => {
      const p = l as Pool2dSpec;
      const st = p.stride ?? p.size;
      return {
        index: at,
        repr: `${torch}(kernel_size=${p.size}, stride=${st}, padding=0)`,
        source: `nn.${torch}(kernel_size=${p.size}, stride=${st})`,
        params: [],
      };
    },
    onnx: (g, m, l, _params, input) => {
      const p = l as Pool2dSpec;
      const st = p.stride ?? p.size;
      return g.node(op, String(m.index), [input], { kernel_shape: [p.size, p.size], strides: [st, st] });
    },
  };
}

const flatten: LayerKindMap = {
  module: (_l, _s, at) => ({ index: at, repr: 'Flatten(start_dim=1, end_dim=-1)', source: 'nn.Flatten()', params: [] }),
  // (N, C, H, W) → (N, C·H·W) in C·H·W order, PyTorch's nn.Flatten
  onnx: (g, m, _l, _params, input) => g.node('Flatten', String(m.index), [input], { axis: 1 }),
};

const dropout: LayerKindMap = {
  module: (l, _s, at) => {
    const r = (l as DropoutSpec).rate;
    return { index: at, repr: `Dropout(p=${r}, inplace=False)`, source: `nn.Dropout(p=${r})`, params: [] };
  },
  // the identity at inference, as PyTorch's in eval() and gradsync's predict
  onnx: (_g, _m, _l, _params, input) => input,
};

/** Every layer kind's mapping. */
const LAYER_KINDS: Record<LayerKind, LayerKindMap> = {
  dense,
  conv2d,
  maxpool2d: pool('MaxPool2d', 'MaxPool'),
  avgpool2d: pool('AvgPool2d', 'AveragePool'),
  flatten,
  dropout,
};

/** Each activation's PyTorch module and ONNX op (opset ≥ 13 semantics); null: the identity, no module. */
export const ACTIVATION_MAP: Record<Activation, { torch: string; onnx: string; attrs?: Record<string, number> } | null> = {
  tanh: { torch: 'Tanh()', onnx: 'Tanh' },
  sigmoid: { torch: 'Sigmoid()', onnx: 'Sigmoid' },
  relu: { torch: 'ReLU()', onnx: 'Relu' },
  // per example (row): PyTorch's dim=1 over (batch, units), ONNX's axis 1
  softmax: { torch: 'Softmax(dim=1)', onnx: 'Softmax', attrs: { axis: 1 } },
  linear: null,
};

/** The activation a layer applies after its own module (conv2d and dense have one; the others none). */
function activationOf(layer: LayerSpec): Activation {
  return 'activation' in layer ? layer.activation : 'linear';
}

/** One layer of the nn.Sequential: its own module, then its activation's (if any). */
export interface SequentialLayer {
  layer: number;
  module: SequentialModule;
  activation: SequentialModule | null;
}

/** The nn.Sequential a model maps to, layer by layer. */
export function sequentialOf(spec: ModelSpec, layout: ParamLayout): SequentialLayer[] {
  const slots = new Map(layout.layers.map((s) => [s.layer, s]));
  let next = 0;
  return spec.layers.map((layer, i) => {
    const module = LAYER_KINDS[kindOf(layer)].module(layer, slots.get(i), next++);
    const act = ACTIVATION_MAP[activationOf(layer)];
    const activation = act === null ? null : { index: next++, repr: act.torch, source: `nn.${act.torch}`, params: [] };
    return { layer: i, module, activation };
  });
}

/** Every parameter tensor of the model, in state-dict order. */
export function paramTensorsOf(seq: SequentialLayer[]): ParamTensor[] {
  return seq.flatMap((l) => l.module.params);
}

/** The nn.Sequential as Python source a reader can paste, e.g. "nn.Sequential(nn.Linear(64, 10), nn.Softmax(dim=1))". */
export function sequentialSource(seq: SequentialLayer[]): string {
  const mods = seq.flatMap((l) => [l.module, ...(l.activation ? [l.activation] : [])]);
  return `nn.Sequential(${mods.map((m) => m.source).join(', ')})`;
}

/** Emits the whole network's nodes over `input` (NCHW for an image model); returns the last output's name. */
export function onnxLayers(g: OnnxGraphBuilder, spec: ModelSpec, seq: SequentialLayer[], params: Float, input: string): string {
  let x = input;
  for (const l of seq) {
    const layer = spec.layers[l.layer]!;
    x = LAYER_KINDS[kindOf(layer)].onnx(g, l.module, layer, params, x);
    const act = ACTIVATION_MAP[activationOf(layer)];
    if (act !== null && l.activation !== null) x = g.node(act.onnx, String(l.activation.index), [x], act.attrs);
  }
  return x;
}

/** Safetensors dtype names of the two dtypes gradsync computes in. */
export const SAFETENSORS_DTYPE: Record<DType, 'F32' | 'F64'> = { float32: 'F32', float64: 'F64' };
