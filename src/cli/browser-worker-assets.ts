/**
 * browser-worker-assets.ts — the browser worker's files as the worker listener (--listen) serves
 * them: the page on /worker, its script, its Web Worker's script and the project's own
 * WebAssembly kernels (dist/wasm/kernels.wasm, the file the Node workers load), read from the
 * package's dist/, where `npm run build` puts them. Where they are not built, the page says so.
 */

import * as fs from 'node:fs';
import { WASM_PAGE_CSP, type StaticPage, type StaticPages } from '../net/static-pages';
import { WORKER_PAGE_PATH } from '../parallel/messages';
import { packagePath } from './paths';

/** Request path, file under dist/, content type. */
const FILES: [string, string[], string][] = [
  [WORKER_PAGE_PATH, ['web', 'worker.html'], 'text/html; charset=utf-8'],
  ['/worker/page.js', ['web', 'worker-page.js'], 'text/javascript; charset=utf-8'],
  ['/worker/compute.js', ['web', 'worker-compute.js'], 'text/javascript; charset=utf-8'],
  ['/worker/worker.css', ['web', 'worker.css'], 'text/css; charset=utf-8'],
  ['/worker/kernels.wasm', ['wasm', 'kernels.wasm'], 'application/wasm'],
];

/** The browser worker's files; where one is missing, a page on /worker that names it and says how to build. */
export function browserWorkerPages(): StaticPages {
  const pages = new Map<string, StaticPage>();
  for (const [url, file, type] of FILES) {
    try {
      pages.set(url, { type, body: fs.readFileSync(packagePath('dist', ...file)), csp: WASM_PAGE_CSP });
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      const msg = `gradsync: the browser worker is not built here: dist/${file.join('/')} cannot be read (${why}); build it with npm run build\n`;
      return new Map([[WORKER_PAGE_PATH, { type: 'text/plain; charset=utf-8', body: Buffer.from(msg) }]]);
    }
  }
  return pages;
}
