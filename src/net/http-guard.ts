/**
 * http-guard.ts — the checks a gradsync server makes on a browser's requests before serving
 * one: that a page of another site is not reading the stream through the user's browser (a
 * websocket is not bound by the same-origin policy; the browser says who asks in `Origin`), and
 * that a name an attacker controls, re-pointed at 127.0.0.1 (DNS rebinding), does not reach a
 * server that relies on loopback instead of a token (`Host`). Clients that are not browsers send
 * neither header, or the right ones, and pass.
 */

import type * as http from 'node:http';
import { isLoopback } from './loopback';

/** The host name of a Host header value (`name:port`, `[v6]:port`), lower case; null when it does not parse. */
export function hostName(host: string): string | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::\d{1,5})?$/.exec(host.trim());
  return m ? m[1]!.toLowerCase() : null;
}

/** True when the request carries an Origin that is not the server's own (http or https on the Host it asked for). */
export function crossOrigin(headers: http.IncomingHttpHeaders): boolean {
  const origin = headers.origin;
  if (origin === undefined) return false;
  const host = headers.host ?? '';
  return origin !== `http://${host}` && origin !== `https://${host}`;
}

/** True when the request's Host names this machine only (or is absent: not a browser). */
export function loopbackHost(headers: http.IncomingHttpHeaders): boolean {
  if (headers.host === undefined) return true;
  const name = hostName(headers.host);
  return name !== null && isLoopback(name);
}
