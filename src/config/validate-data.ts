/**
 * config/validate-data.ts — validation of the config's `data` section: each source's keys and
 * defaults (digits, doubling, csv, idx, and arrays given to train() from code).
 * Not here: reading the data (data/), the field checks (config/fields.ts).
 */

import { Errors } from '../errors';
import type { DataConfig } from '../config';
import { bool, keys, num, oneOf, show, str, isObj, type Json } from './fields';

export function validateData(v: Json): DataConfig {
  const base = isObj(v) ? v : keys('data', v, []);
  const inMemory = 'x' in base || 'y' in base;
  const source = oneOf('data.source', base.source ?? (inMemory ? 'memory' : 'digits'), [
    'digits',
    'doubling',
    'csv',
    'idx',
    ...(inMemory || base.source === 'memory' ? (['memory'] as const) : []),
  ] as const);
  const frac = (x: Json, d: number): number => (x === undefined ? d : num('data.heldOut', x, { min: 0, max: 0.9 }));
  const shuffle = base.shuffle === undefined ? true : bool('data.shuffle', base.shuffle);
  switch (source) {
    case 'digits':
      keys('data', v, ['source', 'heldOut', 'shuffle']);
      return { source, heldOut: frac(base.heldOut, 0.2), shuffle };
    case 'doubling':
      keys('data', v, ['source', 'heldOut', 'shuffle']);
      return { source, heldOut: frac(base.heldOut, 0), shuffle: base.shuffle === undefined ? false : shuffle };
    case 'csv': {
      keys('data', v, ['source', 'path', 'label', 'targets', 'classes', 'scale', 'header', 'heldOut', 'shuffle']);
      return {
        source,
        path: str('data.path', base.path),
        label: base.label === undefined ? 'last' : oneOf('data.label', base.label, ['last', 'first', 'none'] as const),
        targets: base.targets === undefined ? 1 : num('data.targets', base.targets, { int: true, min: 1 }),
        classes: base.classes === undefined || base.classes === null ? null : num('data.classes', base.classes, { int: true, min: 2 }),
        scale: base.scale === undefined ? 1 : num('data.scale', base.scale, { gt: 0 }),
        header: base.header === undefined || base.header === 'auto' ? 'auto' : headerFlag(base.header),
        heldOut: frac(base.heldOut, 0.2),
        shuffle,
      };
    }
    case 'memory':
      return validateMemoryData(v, base, frac, shuffle);
    case 'idx':
      keys('data', v, ['source', 'dir', 'scale', 'shuffle', 'heldOut']);
      return {
        source,
        dir: str('data.dir', base.dir),
        scale: base.scale === undefined ? 1 / 255 : num('data.scale', base.scale, { gt: 0 }),
        shuffle,
        heldOut: base.heldOut === undefined || base.heldOut === null ? null : frac(base.heldOut, 0),
      };
  }
}

function headerFlag(v: Json): boolean {
  if (typeof v !== 'boolean') throw Errors.config('data.header', `must be true, false or "auto", got ${show(v)}`);
  return v;
}

/**
 * In-memory data (`x` and `y` given): the arrays themselves are checked where the data is built
 * (data/arrays.ts); here their presence and the other keys; the RunConfig keeps only their
 * description. Default heldOut 0 (Keras's validation_split), shuffle true.
 */
function validateMemoryData(v: Json, base: Record<string, Json>, frac: (x: Json, d: number) => number, shuffle: boolean): DataConfig {
  keys('data', v, ['source', 'x', 'shape', 'y', 'classes', 'name', 'heldOut', 'shuffle']);
  if (!('x' in base) && !('y' in base))
    throw Errors.config(
      'data.source',
      '"memory" is for arrays given to train() from code, as data: { x, y }',
      'a config file names a file instead: "source": "csv" with "path"',
    );
  if (base.x === undefined)
    throw Errors.config('data.x', 'is required with data.y: the features, one array per example or a flat array with data.shape');
  if (base.y === undefined)
    throw Errors.config('data.y', 'is required with data.x: the class labels or regression targets, one per example');
  return {
    source: 'memory',
    name: base.name === undefined ? 'arrays' : str('data.name', base.name),
    classes: base.classes === undefined || base.classes === null ? null : num('data.classes', base.classes, { int: true, min: 2 }),
    heldOut: frac(base.heldOut, 0),
    shuffle,
  };
}
