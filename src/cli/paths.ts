/**
 * paths.ts — where the package's own files are (config/default.json, package.json), for the
 * commands: a missing package folder is an error here, not a fallback.
 */

import * as path from 'node:path';
import { packageRoot } from '../package-root';

/** A file of the package, by its path from the package root; throws when the root cannot be found. */
export function packagePath(...parts: string[]): string {
  const root = packageRoot();
  if (root === null) throw new Error('gradsync: cannot find the package root above ' + __dirname);
  return path.join(root, ...parts);
}

export function defaultConfigPath(): string {
  return packagePath('config', 'default.json');
}
