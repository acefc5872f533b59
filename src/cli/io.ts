/**
 * io.ts — the streams a command writes to, so tests can capture them.
 * Human-readable lines go to `out` (or to stderr under --json, keeping stdout for the one
 * JSON summary object).
 */

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream;
}

export const processIo = (): Io => ({ stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });

/** Where human lines go: stdout normally, stderr when stdout carries JSON. */
export function humanOut(io: Io, json: boolean): NodeJS.WritableStream & { isTTY?: boolean } {
  return json ? io.stderr : io.stdout;
}

export function fmt(x: number | null | undefined, digits = 6): string {
  if (x === null || x === undefined) return '-';
  if (!Number.isFinite(x)) return String(x);
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e6)) return x.toExponential(2);
  return Number(x.toPrecision(digits)).toString();
}
