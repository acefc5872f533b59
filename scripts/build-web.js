#!/usr/bin/env node
'use strict';
// Builds the dashboard page into dist/web/ (the coordinator serves it from there): web/dashboard/main.ts
// and what it imports (uPlot, src/observe/dash-state.ts, …) bundled by esbuild into one minified
// script, the page's style followed by uPlot's, and the HTML. Nothing in it loads from elsewhere.
// Type-checking is `tsc -p web/tsconfig.json` (npm run build); esbuild only strips the types.
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.resolve(__dirname, '..');
const src = path.join(root, 'web', 'dashboard');
const out = path.join(root, 'dist', 'web');

async function main() {
  fs.mkdirSync(out, { recursive: true });
  const r = await esbuild.build({
    entryPoints: [path.join(src, 'main.ts')],
    bundle: true,
    minify: true,
    format: 'iife',
    platform: 'browser',
    target: ['es2020'],
    outfile: path.join(out, 'dashboard.js'),
    legalComments: 'eof',
    metafile: true,
    logLevel: 'warning',
  });
  const node = Object.keys(r.metafile.inputs).filter((f) => /^node:|^(fs|path|crypto|http|https|net|os)$/.test(f));
  if (node.length > 0) throw new Error(`the dashboard bundle imports Node modules: ${node.join(', ')}`);
  const uplotCss = fs.readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  fs.writeFileSync(path.join(out, 'dashboard.css'), `${fs.readFileSync(path.join(src, 'style.css'), 'utf8')}\n${uplotCss}\n`);
  fs.copyFileSync(path.join(src, 'index.html'), path.join(out, 'index.html'));
  const size = fs.statSync(path.join(out, 'dashboard.js')).size;
  process.stdout.write(`build-web: dist/web/dashboard.js ${(size / 1024).toFixed(1)} KiB\n`);
}

main().catch((e) => {
  process.stderr.write(`build-web: ${e.message}\n`);
  process.exit(1);
});
