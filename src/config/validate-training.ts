/**
 * config/validate-training.ts — validation of the config's training sections: `optimizer` (each
 * kind's options), `schedule` (each kind's options, the warmup) and `earlyStopping`.
 * Not here: the optimizers and schedules themselves (optim/), early stopping (train/).
 */

import { Errors } from '../errors';
import type { OptimizerSpec } from '../optim/optimizer';
import { CONSTANT, type Schedule } from '../optim/schedule';
import type { DataConfig, EarlyStoppingConfig } from '../config';
import { bool, keys, num, oneOf, type Json } from './fields';

export function validateOptimizer(v: Json): OptimizerSpec {
  const o = keys('optimizer', v, ['kind', 'lr', 'momentum', 'nesterov', 'beta1', 'beta2', 'eps']);
  const kind = oneOf('optimizer.kind', o.kind ?? 'sgd', ['sgd', 'momentum', 'adam'] as const);
  const lr = num('optimizer.lr', o.lr ?? (kind === 'adam' ? 0.001 : 0.1), { gt: 0 });
  const only = (allowed: string[]): void => {
    for (const k of Object.keys(o))
      if (!allowed.includes(k)) throw Errors.config(`optimizer.${k}`, `is not an option of "${kind}" (allowed: ${allowed.join(', ')})`);
  };
  if (kind === 'sgd') {
    only(['kind', 'lr']);
    return { kind, lr };
  }
  if (kind === 'momentum') {
    only(['kind', 'lr', 'momentum', 'nesterov']);
    return {
      kind,
      lr,
      momentum: num('optimizer.momentum', o.momentum ?? 0.9, { min: 0, max: 1 }),
      nesterov: o.nesterov === undefined ? false : bool('optimizer.nesterov', o.nesterov),
    };
  }
  only(['kind', 'lr', 'beta1', 'beta2', 'eps']);
  return {
    kind,
    lr,
    beta1: num('optimizer.beta1', o.beta1 ?? 0.9, { min: 0, max: 0.999999 }),
    beta2: num('optimizer.beta2', o.beta2 ?? 0.999, { min: 0, max: 0.999999999 }),
    eps: num('optimizer.eps', o.eps ?? 1e-8, { gt: 0 }),
  };
}

const SCHEDULE_KEYS = {
  constant: [],
  step: ['stepSize', 'gamma'],
  multistep: ['milestones', 'gamma'],
  exponential: ['gamma'],
  cosine: ['tMax', 'etaMin'],
} as const;

export function validateSchedule(v: Json): Schedule {
  const common = ['kind', 'unit', 'warmup', 'warmupStartFactor'];
  const o = keys('schedule', v, [...common, 'stepSize', 'gamma', 'milestones', 'tMax', 'etaMin']);
  const kind = oneOf('schedule.kind', o.kind ?? 'constant', Object.keys(SCHEDULE_KEYS) as (keyof typeof SCHEDULE_KEYS)[]);
  const allowed: readonly string[] = SCHEDULE_KEYS[kind];
  for (const k of Object.keys(o))
    if (!common.includes(k) && !allowed.includes(k))
      throw Errors.config(`schedule.${k}`, `is not an option of "${kind}" (allowed: ${[...common, ...allowed].join(', ')})`);
  const base = {
    unit: o.unit === undefined ? CONSTANT.unit : oneOf('schedule.unit', o.unit, ['epoch', 'step'] as const),
    warmup: o.warmup === undefined ? 0 : num('schedule.warmup', o.warmup, { int: true, min: 0 }),
    warmupStartFactor:
      o.warmupStartFactor === undefined
        ? CONSTANT.warmupStartFactor
        : num('schedule.warmupStartFactor', o.warmupStartFactor, { gt: 0, max: 1 }),
  };
  const gamma = (): number => num('schedule.gamma', o.gamma ?? 0.1, { gt: 0, max: 1 });
  const need = (k: string): Json => {
    if (o[k] === undefined) throw Errors.config(`schedule.${k}`, `is required for "${kind}"`);
    return o[k];
  };
  switch (kind) {
    case 'constant':
      return { kind, ...base };
    case 'step':
      return { kind, stepSize: num('schedule.stepSize', need('stepSize'), { int: true, min: 1 }), gamma: gamma(), ...base };
    case 'multistep': {
      const m = need('milestones');
      if (!Array.isArray(m) || m.length === 0)
        throw Errors.config('schedule.milestones', 'must be a non-empty array of increasing whole numbers');
      const milestones = m.map((x: Json, i: number) => num(`schedule.milestones[${i}]`, x, { int: true, min: 1 }));
      milestones.forEach((x, i) => {
        if (i > 0 && x <= milestones[i - 1]!)
          throw Errors.config(`schedule.milestones[${i}]`, `must be greater than the one before it (${milestones[i - 1]}), got ${x}`);
      });
      return { kind, milestones, gamma: gamma(), ...base };
    }
    case 'exponential':
      return { kind, gamma: num('schedule.gamma', need('gamma'), { gt: 0, max: 1 }), ...base };
    case 'cosine':
      return {
        kind,
        tMax: num('schedule.tMax', need('tMax'), { int: true, min: 1 }),
        etaMin: o.etaMin === undefined ? 0 : num('schedule.etaMin', o.etaMin, { min: 0 }),
        ...base,
      };
  }
}

export function validateEarlyStopping(v: Json, data: DataConfig): EarlyStoppingConfig {
  const o = keys('earlyStopping', v, ['patience', 'minDelta', 'restoreBest', 'monitor']);
  // the data config says when there can be none; prepare() checks the data itself (a split may round to 0)
  if (data.heldOut === 0)
    throw Errors.config('earlyStopping', 'needs held-out data to watch, and data.heldOut is 0: set data.heldOut (e.g. 0.2)');
  return {
    patience: o.patience === undefined ? 0 : num('earlyStopping.patience', o.patience, { int: true, min: 0, max: 1_000_000 }),
    minDelta: o.minDelta === undefined ? 0 : num('earlyStopping.minDelta', o.minDelta, { min: 0 }),
    restoreBest: o.restoreBest === undefined ? false : bool('earlyStopping.restoreBest', o.restoreBest),
    monitor: o.monitor === undefined ? 'loss' : oneOf('earlyStopping.monitor', o.monitor, ['loss', 'accuracy'] as const),
  };
}
