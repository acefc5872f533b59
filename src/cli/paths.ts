/**
 * paths.ts — where the package's own files are (config/default.json), from dist/ or src/.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';

/** The package root: the nearest folder above this file whose package.json is gradsync's. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if ((JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: string }).name === 'gradsync') return dir;
      } catch { /* keep walking */ }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('gradsync: cannot find the package root above ' + __dirname);
    dir = up;
  }
}

export function defaultConfigPath(): string {
  return path.join(packageRoot(), 'config', 'default.json');
}
