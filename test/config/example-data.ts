/**
 * example-data.ts — the formulas of the example CSVs in config/examples/data/ (no random
 * numbers), so the committed files can be checked against them and regenerated:
 * `node dist/test/config/example-data.js` rewrites both files. config/examples/README.md
 * states the same formulas.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';

/** sine.csv: header "x,y", 200 rows; x = −3 + 6·i/199, y = sin(x) + 0.1·sin(17·i), i = 0..199. */
export function sineCsv(): string {
  const rows = ['x,y'];
  for (let i = 0; i < 200; i++) {
    const x = -3 + (6 * i) / 199;
    rows.push(`${x.toFixed(4)},${(Math.sin(x) + 0.1 * Math.sin(17 * i)).toFixed(4)}`);
  }
  return `${rows.join('\n')}\n`;
}

/**
 * spirals.csv: header "x1,x2,label", 200 rows, two interleaved spirals, the classes alternating.
 * For i = 0..99 and class c = 0, 1 (row 2·i + c), k = i + 100·c: r = 0.1 + 0.9·i/99,
 * θ = 3π·i/99 + c·π, x1 = r·cos θ + 0.03·sin(7·k), x2 = r·sin θ + 0.03·cos(5·k).
 */
export function spiralsCsv(): string {
  const rows = ['x1,x2,label'];
  for (let i = 0; i < 100; i++) {
    for (let c = 0; c < 2; c++) {
      const k = i + 100 * c;
      const r = 0.1 + (0.9 * i) / 99;
      const t = (3 * Math.PI * i) / 99 + c * Math.PI;
      rows.push(`${(r * Math.cos(t) + 0.03 * Math.sin(7 * k)).toFixed(4)},${(r * Math.sin(t) + 0.03 * Math.cos(5 * k)).toFixed(4)},${c}`);
    }
  }
  return `${rows.join('\n')}\n`;
}

/** The example data files, by name, and the function that makes each. */
export const EXAMPLE_DATA: Record<string, () => string> = { 'sine.csv': sineCsv, 'spirals.csv': spiralsCsv };

/** config/examples/data/ of the package this file is compiled into (dist/test/config/ → root). */
export function exampleDataDir(root: string): string {
  return path.join(root, 'config', 'examples', 'data');
}

if (require.main === module) {
  const root = path.resolve(__dirname, '..', '..', '..');
  for (const [name, make] of Object.entries(EXAMPLE_DATA)) fs.writeFileSync(path.join(exampleDataDir(root), name), make());
}
