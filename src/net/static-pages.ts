/**
 * static-pages.ts — answering GET/HEAD for a fixed set of in-memory files (the dashboard's page,
 * script and style), with the headers that keep the page to its own server: a Content Security
 * Policy that lets it load and connect to nothing else, no sniffing, no framing, no referrer.
 * Not here: which files (cli/dashboard-assets.ts), the other requests (the servers).
 */

import type * as http from 'node:http';

export interface StaticPage {
  /** Content-Type, e.g. 'text/html; charset=utf-8'. */
  type: string;
  body: Buffer;
  /** Its Content Security Policy; default PAGE_CSP. */
  csp?: string;
}

/** Files by request path ('/' included). */
export type StaticPages = ReadonlyMap<string, StaticPage>;

/** The page may load and connect only to the server that served it ('self' covers its ws:// and wss://). */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** PAGE_CSP for a page that compiles the coordinator's WebAssembly (the browser worker and its Web Worker). */
export const WASM_PAGE_CSP = PAGE_CSP.replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'");

/** Answers the request from `pages` and returns true, or returns false (not one of them: the caller answers). */
export function servePage(req: http.IncomingMessage, res: http.ServerResponse, pages: StaticPages | undefined): boolean {
  if (pages === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
  const p = pages.get((req.url ?? '').split('?')[0]!);
  if (p === undefined) return false;
  res.writeHead(200, {
    'Content-Type': p.type,
    'Content-Length': p.body.length,
    'Cache-Control': 'no-cache',
    'Content-Security-Policy': p.csp ?? PAGE_CSP,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Resource-Policy': 'same-origin',
  });
  res.end(req.method === 'HEAD' ? undefined : p.body);
  return true;
}
