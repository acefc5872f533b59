/**
 * config/load.ts — loadConfigFile(): reads a JSON config file, names the line and column of a
 * JSON syntax error, validates it (the error prefixed with the file's name), and makes its
 * relative paths (data, initial weights) relative to the file's folder.
 * Not here: validation itself (config/validate.ts).
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Errors, GradsyncError } from '../errors';
import { jsonErrorOffset } from '../json-offset';
import type { RunConfig } from '../config';
import type { Json } from './fields';
import { validate } from './validate';

/** Reads and validates a JSON config file; relative data paths become relative to its folder. */
export function loadConfigFile(file: string): RunConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw Errors.config('(file)', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const pos = jsonErrorOffset(text);
    const before = text.slice(0, pos).split('\n');
    const where = ` at line ${before.length}, column ${before[before.length - 1]!.length + 1}`;
    throw new GradsyncError('GS_ERR_CONFIG', `${file}: not valid JSON${where}: ${(e as Error).message}`);
  }
  let cfg: RunConfig;
  try {
    cfg = validate(json);
  } catch (e) {
    if (e instanceof GradsyncError) throw new GradsyncError(e.code, `${file}: ${e.message}`, e.hint, e.exitCode);
    throw e;
  }
  const dir = path.dirname(path.resolve(file));
  if (cfg.data.source === 'csv') cfg.data = { ...cfg.data, path: path.resolve(dir, cfg.data.path) };
  if (cfg.data.source === 'idx') cfg.data = { ...cfg.data, dir: path.resolve(dir, cfg.data.dir) };
  if (cfg.model.init.scheme === 'safetensors')
    cfg.model = { ...cfg.model, init: { ...cfg.model.init, path: path.resolve(dir, cfg.model.init.path) } };
  return cfg;
}
