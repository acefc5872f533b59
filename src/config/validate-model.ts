/**
 * config/validate-model.ts — validation of the parts of the config's `model` section: the input
 * shape, each layer (its kind's keys and bounds) and the initialisation.
 * Not here: the checks across the section (the last layer, the loss, init against the layers:
 * config/validate.ts), building the model (model/).
 */

import { Errors } from '../errors';
import { ACTIVATIONS } from '../tensor/kernels';
import type { InitSpec } from '../model/params';
import { LAYER_KINDS } from '../model/spec';
import type { InitConfig, LayerConfig, ModelConfig } from '../config';
import { keys, num, oneOf, show, str, isObj, type Json } from './fields';

export function validateInput(v: Json): ModelConfig['input'] {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') return num('model.input', v, { int: true, min: 1, max: 1 << 24 });
  if (!Array.isArray(v) || v.length !== 3) throw Errors.config('model.input', `must be [C, H, W] or a width, got ${show(v)}`);
  return v.map((x: Json, i: number) => num(`model.input[${i}]`, x, { int: true, min: 1, max: 1 << 16 })) as [number, number, number];
}

/** One entry of model.layers; a layer without `type` is dense. */
export function validateLayer(l: Json, i: number): LayerConfig {
  const p = `model.layers[${i}]`;
  const base = isObj(l) ? l : keys(p, l, []);
  const type = base.type === undefined ? 'dense' : oneOf(`${p}.type`, base.type, LAYER_KINDS);
  const int = (k: string, min = 1, max = 1 << 20): number => num(`${p}.${k}`, base[k], { int: true, min, max });
  const opt = (k: string, min: number): number | undefined => (base[k] === undefined ? undefined : int(k, min, 1 << 16));
  switch (type) {
    case 'dense': {
      keys(p, l, ['type', 'units', 'activation']);
      // written without `type`, as MLP-only configs and records always were
      return { units: int('units'), activation: oneOf(`${p}.activation`, base.activation, ACTIVATIONS) };
    }
    case 'conv2d': {
      keys(p, l, ['type', 'filters', 'kernel', 'stride', 'padding', 'activation']);
      const stride = opt('stride', 1);
      const padding = opt('padding', 0);
      return {
        type,
        filters: int('filters', 1, 1 << 16),
        kernel: int('kernel', 1, 1 << 16),
        ...(stride !== undefined ? { stride } : {}),
        ...(padding !== undefined ? { padding } : {}),
        activation: oneOf(
          `${p}.activation`,
          base.activation,
          ACTIVATIONS.filter((a) => a !== 'softmax'),
        ),
      };
    }
    case 'maxpool2d':
    case 'avgpool2d': {
      keys(p, l, ['type', 'size', 'stride']);
      const stride = opt('stride', 1);
      return { type, size: int('size', 1, 1 << 16), ...(stride !== undefined ? { stride } : {}) };
    }
    case 'flatten':
      keys(p, l, ['type']);
      return { type };
    case 'dropout': {
      keys(p, l, ['type', 'rate', 'seed']);
      const rate = num(`${p}.rate`, base.rate, { min: 0 });
      if (!(rate < 1)) throw Errors.config(`${p}.rate`, `must be < 1, got ${rate}`);
      return {
        type,
        rate,
        ...(base.seed !== undefined ? { seed: num(`${p}.seed`, base.seed, { int: true, min: 0, max: 0xffffffff }) } : {}),
      };
    }
  }
}

export function validateInit(v: Json): InitConfig {
  const o = keys('model.init', v, ['scheme', 'gain', 'bias', 'layers', 'path']);
  const scheme = oneOf('model.init.scheme', o.scheme, ['glorot-uniform', 'he-uniform', 'values', 'safetensors'] as const);
  if (scheme === 'safetensors') {
    keys('model.init', v, ['scheme', 'path']);
    return { scheme, path: str('model.init.path', o.path) };
  }
  if (scheme === 'values') {
    keys('model.init', v, ['scheme', 'layers']);
    if (!Array.isArray(o.layers)) throw Errors.config('model.init.layers', 'must be an array of {W, b}');
    const layers = o.layers.map((l: Json, i: number) => {
      const lo = keys(`model.init.layers[${i}]`, l, ['W', 'b']);
      const arr = (name: string, a: Json): number[] => {
        if (!Array.isArray(a)) throw Errors.config(`model.init.layers[${i}].${name}`, 'must be an array of numbers');
        return a.map((x: Json, j: number) => num(`model.init.layers[${i}].${name}[${j}]`, x));
      };
      return { W: arr('W', lo.W), b: arr('b', lo.b) };
    });
    return { scheme, layers };
  }
  keys('model.init', v, ['scheme', 'gain', 'bias']);
  const out: InitSpec = { scheme };
  if (o.gain !== undefined) out.gain = num('model.init.gain', o.gain, { gt: 0 });
  if (o.bias !== undefined) out.bias = num('model.init.bias', o.bias);
  return out;
}
