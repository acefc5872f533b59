/**
 * dashboard-assets.ts — the dashboard's files as the live server serves them (GET / and what the
 * page loads), read from the package's dist/web/, where `npm run build` bundles them
 * (scripts/build-web.js). A package without them (a checkout not built) is a clear error.
 */

import * as fs from 'node:fs';
import { Errors } from '../errors';
import type { StaticPage, StaticPages } from '../net/static-pages';
import { packagePath } from './paths';

const FILES: [string, string, string][] = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/dashboard.js', 'dashboard.js', 'text/javascript; charset=utf-8'],
  ['/dashboard.css', 'dashboard.css', 'text/css; charset=utf-8'],
];

/** Reads the dashboard's files; throws GS_ERR_IO naming the missing one. */
export function dashboardPages(): StaticPages {
  const pages = new Map<string, StaticPage>();
  for (const [url, file, type] of FILES) {
    const p = packagePath('dist', 'web', file);
    try {
      pages.set(url, { type, body: fs.readFileSync(p) });
    } catch (e) {
      throw Errors.io(
        `the dashboard's ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        'build it: npm run build',
      );
    }
  }
  return pages;
}

/**
 * The dashboard's files, or, where they are not built (a checkout compiled with tsc alone), a
 * page that says so, and the console note: the record stream works without them.
 */
export function dashboardPagesOrNote(): { pages: StaticPages; note: string | null } {
  try {
    return { pages: dashboardPages(), note: null };
  } catch (e) {
    const msg = `gradsync: the dashboard is not built here: ${(e as Error).message}; build it with npm run build\n`;
    return { pages: new Map([['/', { type: 'text/plain; charset=utf-8', body: Buffer.from(msg) }]]), note: `note: ${msg.slice(10)}` };
  }
}
