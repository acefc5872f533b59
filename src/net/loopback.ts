/**
 * loopback.ts — whether a host name or address is one only this machine can reach: the
 * servers refuse to run without a token anywhere else, and the clients refuse to send one
 * in clear text off it.
 */

import * as net from 'node:net';

/** True for hosts that only this machine can reach (127.0.0.0/8, ::1, localhost, IPv4-mapped 127.x). */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return net.isIPv4(h.slice(7)) && h.slice(7).startsWith('127.');
  return false;
}
