/**
 * package-root.ts — finds gradsync's own folder at run time, from wherever this file was
 * compiled to (dist/src/), so that its files (build/ artefacts, config/default.json,
 * package.json) can be located. A top-level module: every layer may import it.
 * Not here: loading or reading those files (tensor/fast/, cli/paths.ts).
 */

import * as fs from 'node:fs';
import * as path from 'node:path';

let cached: string | null | undefined;

/** The nearest folder at or above this file whose package.json is named "gradsync", or null. */
export function packageRoot(): string | null {
  if (cached !== undefined) return cached;
  let dir = __dirname;
  for (;;) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === 'gradsync') return (cached = dir);
    } catch {
      // no package.json here (or unreadable): keep walking up
    }
    const up = path.dirname(dir);
    if (up === dir) return (cached = null);
    dir = up;
  }
}
