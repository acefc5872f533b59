#!/usr/bin/env node
'use strict';
// Builds the browser pages into dist/web/ (the coordinator serves them from there):
// - the dashboard: web/dashboard/main.ts and what it imports (uPlot, src/observe/dash-state.ts, …)
//   bundled by esbuild into one minified script, the page's style followed by uPlot's, the HTML;
// - the browser worker: web/worker/page.ts (the page's thread) and web/worker/compute.ts (its Web
//   Worker: the project's own protocol, model and WebAssembly-kernel code), its style and HTML.
//   The few Node modules that code names where a Node process reads files are pointed at
//   web/worker/shims/ (the browser worker never calls them); any other Node import fails the build.
// Nothing in them loads from elsewhere. Type-checking is `tsc -p web/tsconfig.json` and
// `tsc -p web/worker/tsconfig.json` (npm run build); esbuild only strips the types.
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.resolve(__dirname, '..');
const src = path.join(root, 'web', 'dashboard');
const workerSrc = path.join(root, 'web', 'worker');
const out = path.join(root, 'dist', 'web');

const shim = (f) => path.join(workerSrc, 'shims', f);
/** Node modules the browser worker's bundle gets in their shims' place. */
const SHIMS = {
  'node:crypto': shim('node-crypto.ts'),
  'node:fs': shim('node-none.ts'),
  'node:module': shim('node-none.ts'),
  'node:path': shim('node-path.ts'),
};
const shimPlugin = {
  name: 'gradsync-browser-shims',
  setup(b) {
    b.onResolve({ filter: /^node:(crypto|fs|module|path)$/ }, (a) => ({ path: SHIMS[a.path] }));
    // the package folder's lookup reads __dirname and files: a browser has neither
    b.onResolve({ filter: /package-root$/ }, () => ({ path: shim('node-none.ts') }));
  },
};

/** Bundles one browser script; fails when it would import a Node module. */
async function bundle(entry, outfile, plugins) {
  const r = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: 'iife',
    platform: 'browser',
    target: ['es2020'],
    outfile,
    legalComments: 'eof',
    metafile: true,
    logLevel: 'warning',
    plugins,
  });
  const node = Object.keys(r.metafile.inputs).filter((f) => /^node:|^(fs|path|crypto|http|https|net|os|ws|piscina|pino)$/.test(f));
  if (node.length > 0) throw new Error(`${path.basename(outfile)} imports Node modules: ${node.join(', ')}`);
  return fs.statSync(outfile).size;
}

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
  const baseCss = fs.readFileSync(path.join(src, '..', 'base.css'), 'utf8');
  fs.writeFileSync(path.join(out, 'dashboard.css'), `${baseCss}\n${fs.readFileSync(path.join(src, 'style.css'), 'utf8')}\n${uplotCss}\n`);
  fs.copyFileSync(path.join(src, 'index.html'), path.join(out, 'index.html'));
  const size = fs.statSync(path.join(out, 'dashboard.js')).size;
  process.stdout.write(`build-web: dist/web/dashboard.js ${(size / 1024).toFixed(1)} KiB\n`);
  const pageSize = await bundle(path.join(workerSrc, 'page.ts'), path.join(out, 'worker-page.js'), []);
  const computeSize = await bundle(path.join(workerSrc, 'compute.ts'), path.join(out, 'worker-compute.js'), [shimPlugin]);
  fs.writeFileSync(path.join(out, 'worker.css'), `${baseCss}\n${fs.readFileSync(path.join(workerSrc, 'style.css'), 'utf8')}\n`);
  fs.copyFileSync(path.join(workerSrc, 'index.html'), path.join(out, 'worker.html'));
  process.stdout.write(
    `build-web: dist/web/worker-page.js ${(pageSize / 1024).toFixed(1)} KiB, dist/web/worker-compute.js ${(computeSize / 1024).toFixed(1)} KiB\n`,
  );
}

main().catch((e) => {
  process.stderr.write(`build-web: ${e.message}\n`);
  process.exit(1);
});
