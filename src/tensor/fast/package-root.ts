/**
 * package-root.ts — finds gradsync's own folder at run time, from wherever this file was
 * compiled to (dist/src/tensor/fast/), so that build/ artefacts can be located.
 * Not here: loading them (native.ts).
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
