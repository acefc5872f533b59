/**
 * fs-faults.ts — test-only fault injection into node:fs, no root needed: makes write or
 * fsync of the files whose path matches fail with an errno error (ENOSPC at byte K, EIO…),
 * as a full disk or a failing device would. It patches the fs module object for the time of
 * one test and restores it; production code has no hook (it calls fs.* at call time).
 * Not for: anything but tests.
 */
import fs from 'node:fs';

export interface FsFault {
  /** Paths whose descriptors fail. */
  match: RegExp;
  /** Which call fails. */
  op: 'write' | 'fsync';
  /** op 'write': the byte offset in the file where the disk is full (bytes before it are written). Default 0. */
  atByte?: number;
  code: 'ENOSPC' | 'EIO' | 'EACCES' | 'EDQUOT';
}

export interface FsFaultHandle {
  /** Times the fault fired (a test that expects a failure asserts it fired). */
  fired(): number;
  restore(): void;
}

const MESSAGES: Record<FsFault['code'], string> = {
  ENOSPC: 'no space left on device',
  EIO: 'i/o error',
  EACCES: 'permission denied',
  EDQUOT: 'disk quota exceeded',
};

function errnoError(code: FsFault['code'], syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${MESSAGES[code]}, ${syscall}`), { code, syscall, errno: code === 'ENOSPC' ? -28 : -5 });
}

export function injectFsFault(fault: FsFault): FsFaultHandle {
  const real = { openSync: fs.openSync, writeSync: fs.writeSync, fsyncSync: fs.fsyncSync, closeSync: fs.closeSync };
  const tracked = new Map<number, number>(); // fd → bytes written so far
  let fired = 0;
  const m = fs as unknown as Record<string, unknown>;
  m.openSync = (...a: Parameters<typeof fs.openSync>): number => {
    const fd = real.openSync(...a);
    if (fault.match.test(String(a[0]))) tracked.set(fd, 0);
    return fd;
  };
  m.writeSync = (fd: number, buf: unknown, ...rest: unknown[]): number => {
    const written = tracked.get(fd);
    if (written === undefined || fault.op !== 'write') return (real.writeSync as (...x: unknown[]) => number)(fd, buf, ...rest);
    // writeSync(fd, string[, position[, encoding]]): the string's UTF-8 bytes, as the kernel sees them
    const text = typeof buf === 'string';
    const b = text ? Buffer.from(buf) : (buf as Uint8Array);
    const offset = !text && typeof rest[0] === 'number' ? rest[0] : 0;
    const length = !text && typeof rest[1] === 'number' ? rest[1] : b.length - offset;
    const room = (fault.atByte ?? 0) - written;
    if (room >= length) {
      const n = real.writeSync(fd, b, offset, length);
      tracked.set(fd, written + n);
      return n;
    }
    if (room > 0) {
      // a short write up to the full point, as the kernel does; the next call fails
      const n = real.writeSync(fd, b, offset, room);
      tracked.set(fd, written + n);
      return n;
    }
    fired++;
    throw errnoError(fault.code, 'write');
  };
  m.fsyncSync = (fd: number): void => {
    if (tracked.has(fd) && fault.op === 'fsync') {
      fired++;
      throw errnoError(fault.code, 'fsync');
    }
    real.fsyncSync(fd);
  };
  m.closeSync = (fd: number): void => {
    tracked.delete(fd);
    real.closeSync(fd);
  };
  return {
    fired: () => fired,
    restore: () => {
      Object.assign(m, real);
    },
  };
}
