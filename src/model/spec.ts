/**
 * spec.ts — what a model is: its input shape, its layer list, its loss and its dtype, and the
 * shape every layer sees.
 *
 * A plain, serialisable description (it travels in configs, checkpoints and to remote
 * workers). Layouts follow PyTorch: an example is [C, H, W] (NCHW per batch) or a flat width;
 * flatten keeps C·H·W order. A layer without `type` is dense (the format of the MLP-only
 * specs, which stay valid). Checking a spec coming from a user is config.ts's job for the
 * fields; checkModelSpec here checks the shapes and guards the library API.
 * Not here: parameters (params.ts), arithmetic (layers/, model.ts).
 */

import { Errors } from '../errors';
import { ACTIVATIONS, type Activation } from '../tensor/kernels';
import { DTYPES, type DType } from '../tensor/dtype';

export type LossKind = 'half-sse' | 'cross-entropy';
export const LOSSES: readonly LossKind[] = ['half-sse', 'cross-entropy'];

export interface DenseSpec {
  type?: 'dense';
  /** Output units of this dense layer. */
  units: number;
  activation: Activation;
}

export interface Conv2dSpec {
  type: 'conv2d';
  filters: number;
  /** Square kernel side. */
  kernel: number;
  /** Default 1. */
  stride?: number;
  /** Zeros on every side. Default 0. */
  padding?: number;
  activation: Activation;
}

export interface Pool2dSpec {
  type: 'maxpool2d' | 'avgpool2d';
  /** Square window side. */
  size: number;
  /** Default: size. */
  stride?: number;
}

export interface FlattenSpec {
  type: 'flatten';
}

export interface DropoutSpec {
  type: 'dropout';
  /** Probability that an element is zeroed, in [0, 1). */
  rate: number;
  /** The run's seed: the mask is a function of (seed, step, example index, layer). */
  seed: number;
}

export type LayerSpec = DenseSpec | Conv2dSpec | Pool2dSpec | FlattenSpec | DropoutSpec;
export type LayerKind = 'dense' | 'conv2d' | 'maxpool2d' | 'avgpool2d' | 'flatten' | 'dropout';
export const LAYER_KINDS: readonly LayerKind[] = ['dense', 'conv2d', 'maxpool2d', 'avgpool2d', 'flatten', 'dropout'];

/** A layer's kind: an absent `type` is dense. */
export function kindOf(l: { type?: LayerKind }): LayerKind {
  return l.type ?? 'dense';
}

export interface ModelSpec {
  /** Width of one input example (the product of `input` when that is given). */
  inputs: number;
  /** Shape of one example, [C, H, W]; absent: [inputs]. */
  input?: number[];
  layers: LayerSpec[];
  /** 'half-sse' is the original's J = ½·Σ(y − ŷ)²; 'cross-entropy' needs a softmax output. */
  loss: LossKind;
  dtype: DType;
}

/** Shape of one example: [n] (flat) or [C, H, W]. */
export type Shape = number[];

export function sizeOf(s: Shape): number {
  return s.reduce((a, b) => a * b, 1);
}

export function fmtShape(s: Shape): string {
  return `[${s.join(', ')}]`;
}

const intOk = (v: unknown, min = 1): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= 1 << 24;

/** The output shape of layer `i` (spec `l`) on input shape `s`; throws GS_ERR_SHAPE naming the layer, its input and what would fit. */
export function outShapeOf(l: LayerSpec, i: number, s: Shape): Shape {
  const kind = kindOf(l);
  const at = `model.layers[${i}] (${kind}) on input ${fmtShape(s)}`;
  const needImage = (): [number, number, number] => {
    if (s.length !== 3)
      throw Errors.shape(`${at}: needs an image input [C, H, W]; give model.input as [C, H, W], or put it before the flatten`);
    return s as [number, number, number];
  };
  switch (kind) {
    case 'dense': {
      const d = l as DenseSpec;
      if (s.length !== 1)
        throw Errors.shape(`${at}: a dense layer needs a flat input; put a { "type": "flatten" } before it (it would see [${sizeOf(s)}])`);
      return [d.units];
    }
    case 'conv2d': {
      const c = l as Conv2dSpec;
      const [, h, w] = needImage();
      const st = c.stride ?? 1;
      const pad = c.padding ?? 0;
      if (c.kernel > h + 2 * pad || c.kernel > w + 2 * pad) {
        throw Errors.shape(
          `${at}: kernel ${c.kernel} is larger than the padded input ${h + 2 * pad}×${w + 2 * pad}; use kernel ≤ ${Math.min(h, w) + 2 * pad} or more padding`,
        );
      }
      return [c.filters, Math.floor((h + 2 * pad - c.kernel) / st) + 1, Math.floor((w + 2 * pad - c.kernel) / st) + 1];
    }
    case 'maxpool2d':
    case 'avgpool2d': {
      const p = l as Pool2dSpec;
      const [ch, h, w] = needImage();
      const st = p.stride ?? p.size;
      if (p.size > h || p.size > w)
        throw Errors.shape(`${at}: window ${p.size} is larger than the input ${h}×${w}; use size ≤ ${Math.min(h, w)}`);
      if ((h - p.size) % st !== 0 || (w - p.size) % st !== 0) {
        const fit = [1, 2, 3, 4, 5, 6, 7, 8].filter((z) => z <= Math.min(h, w) && (h - z) % z === 0 && (w - z) % z === 0);
        throw Errors.shape(
          `${at}: window ${p.size} with stride ${st} does not tile ${h}×${w} ((H − size) and (W − size) must be multiples of the stride); sizes that tile with stride = size: ${fit.join(', ')}`,
        );
      }
      return [ch, (h - p.size) / st + 1, (w - p.size) / st + 1];
    }
    case 'flatten':
      return [sizeOf(s)];
    case 'dropout':
      return s;
  }
}

/** Input shape of every layer and the model's output shape: shapes[i] is layer i's input, shapes[L] the output. */
export function shapesOf(spec: ModelSpec): Shape[] {
  const out: Shape[] = [spec.input ?? [spec.inputs]];
  spec.layers.forEach((l, i) => out.push(outShapeOf(l, i, out[i]!)));
  return out;
}

function checkLayerFields(l: LayerSpec, i: number): void {
  const at = `model.layers[${i}]`;
  const kind = kindOf(l);
  if (!LAYER_KINDS.includes(kind)) throw Errors.shape(`${at}.type must be one of ${LAYER_KINDS.join(', ')}, got ${String(kind)}`);
  const need = (name: string, v: unknown, min = 1): void => {
    if (!intOk(v, min)) throw Errors.shape(`${at}.${name} must be an integer in [${min}, 2^24], got ${String(v)}`);
  };
  const act = (a: unknown, conv: boolean): void => {
    if (!ACTIVATIONS.includes(a as Activation) || (conv && a === 'softmax')) {
      const ok = conv ? ACTIVATIONS.filter((x) => x !== 'softmax') : ACTIVATIONS;
      throw Errors.shape(`${at}.activation must be one of ${ok.join(', ')}, got ${String(a)}`);
    }
  };
  switch (kind) {
    case 'dense':
      need('units', (l as DenseSpec).units);
      act((l as DenseSpec).activation, false);
      return;
    case 'conv2d': {
      const c = l as Conv2dSpec;
      need('filters', c.filters);
      need('kernel', c.kernel);
      if (c.stride !== undefined) need('stride', c.stride);
      if (c.padding !== undefined) need('padding', c.padding, 0);
      act(c.activation, true);
      return;
    }
    case 'maxpool2d':
    case 'avgpool2d': {
      const p = l as Pool2dSpec;
      need('size', p.size);
      if (p.stride !== undefined) need('stride', p.stride);
      return;
    }
    case 'flatten':
      return;
    case 'dropout': {
      const d = l as DropoutSpec;
      if (!(typeof d.rate === 'number' && d.rate >= 0 && d.rate < 1))
        throw Errors.shape(`${at}.rate must be a number in [0, 1), got ${String(d.rate)}`);
      if (!(Number.isInteger(d.seed) && d.seed >= 0 && d.seed <= 0xffffffff))
        throw Errors.shape(`${at}.seed must be an integer in [0, 2^32), got ${String(d.seed)}`);
      return;
    }
  }
}

/** Throws GS_ERR_SHAPE naming the first impossible part of a spec. */
export function checkModelSpec(spec: ModelSpec): void {
  if (!intOk(spec.inputs)) throw Errors.shape(`model.inputs must be an integer in [1, 2^24], got ${String(spec.inputs)}`);
  if (spec.input !== undefined) {
    if (!Array.isArray(spec.input) || (spec.input.length !== 1 && spec.input.length !== 3) || !spec.input.every((v) => intOk(v)))
      throw Errors.shape(`model.input must be [C, H, W] or [width] of positive integers, got ${JSON.stringify(spec.input)}`);
    if (sizeOf(spec.input) !== spec.inputs)
      throw Errors.shape(`model.input ${fmtShape(spec.input)} holds ${sizeOf(spec.input)} values but an example has ${spec.inputs}`);
  }
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) throw Errors.shape('model.layers must be a non-empty array');
  spec.layers.forEach((l, i) => checkLayerFields(l, i));
  if (!LOSSES.includes(spec.loss)) throw Errors.shape(`model.loss must be one of ${LOSSES.join(', ')}, got ${String(spec.loss)}`);
  if (!DTYPES.includes(spec.dtype)) throw Errors.shape(`model.dtype must be one of ${DTYPES.join(', ')}, got ${String(spec.dtype)}`);
  const L = spec.layers.length;
  const last = spec.layers[L - 1]!;
  if (kindOf(last) !== 'dense')
    throw Errors.shape(`model.layers[${L - 1}] (${kindOf(last)}): the last layer must be dense (it gives the outputs the loss reads)`);
  if (spec.loss === 'cross-entropy' && (last as DenseSpec).activation !== 'softmax') {
    throw Errors.shape(
      `model.loss "cross-entropy" needs the last layer's activation to be "softmax", got "${(last as DenseSpec).activation}"`,
    );
  }
  shapesOf(spec);
}

/** Output width of the model. */
export function outputsOf(spec: ModelSpec): number {
  return (spec.layers[spec.layers.length - 1] as DenseSpec).units;
}

/** A layer in a few characters, for messages: dense "10softmax" (as MLP-only specs always read), "conv16x5s1p2relu", "maxpool2s2", "flatten", "dropout0.5". */
export function describeLayer(l: LayerSpec): string {
  switch (kindOf(l)) {
    case 'dense':
      return `${(l as DenseSpec).units}${(l as DenseSpec).activation}`;
    case 'conv2d': {
      const c = l as Conv2dSpec;
      return `conv${c.filters}x${c.kernel}s${c.stride ?? 1}p${c.padding ?? 0}${c.activation}`;
    }
    case 'maxpool2d':
    case 'avgpool2d': {
      const p = l as Pool2dSpec;
      return `${p.type.slice(0, 7)}${p.size}s${p.stride ?? p.size}`;
    }
    case 'flatten':
      return 'flatten';
    case 'dropout':
      return `dropout${(l as DropoutSpec).rate}`;
  }
}

/** The model in one line: "64-32tanh-10softmax cross-entropy float32", "[1, 8, 8]-conv8x3s1p1relu-… ". */
export function describeModel(s: ModelSpec): string {
  const input = s.input !== undefined && s.input.length === 3 ? fmtShape(s.input) : String(s.inputs);
  return `${input}-${s.layers.map(describeLayer).join('-')} ${s.loss} ${s.dtype}`;
}
