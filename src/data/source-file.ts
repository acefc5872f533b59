/**
 * source-file.ts — reads one data file from disk and gunzips it when it is gzip, for the
 * loaders (csv.ts, idx.ts). The only file reads of the data layer go through here and
 * through digitsPath() in datasets.ts.
 *
 * gzip is recognised by its magic bytes 1f 8b, never by the file name. A read failure, an
 * empty file or a corrupt gzip stream is a GradsyncError (GS_ERR_DATA) naming the file.
 * Not here: parsing (the loaders), hashing (dataset.ts).
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Errors } from '../errors';

export interface SourceFile {
  /** The bytes exactly as on disk (what the content hash covers). */
  raw: Buffer;
  /** The decompressed bytes (= raw when the file is not gzip). */
  bytes: Buffer;
  gzip: boolean;
  /**
   * True when the gzip stream ended before its end (cut file): `bytes` then holds what could
   * be decompressed. Only returned with `partialGzip`; otherwise a cut stream is an error.
   */
  cut: boolean;
}

/** The first `n` bytes of `file` as on disk (fewer when it is shorter); throws what fs throws. */
export function readHead(file: string, n: number): Buffer {
  const head = Buffer.alloc(n);
  const fd = fs.openSync(file, 'r');
  try {
    return head.subarray(0, fs.readSync(fd, head, 0, n, 0));
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads `file`; `what` names its kind in messages ("CSV file", "IDX images file"). */
export function readSource(file: string, what: string, partialGzip = false): SourceFile {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw Errors.data(
        file,
        '',
        `${what} not found`,
        `looked for ${path.resolve(file)}; a config file's data.path and data.dir are resolved from the config file's folder`,
      );
    if (code === 'EISDIR') throw Errors.data(file, '', `${what} is a directory, not a file`);
    throw Errors.data(file, '', `cannot read ${what}: ${(e as Error).message}`);
  }
  if (raw.length === 0) throw Errors.data(file, '', `${what} is empty (0 bytes)`);
  const gzip = raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b;
  if (!gzip) return { raw, bytes: raw, gzip, cut: false };
  try {
    return { raw, bytes: zlib.gunzipSync(raw), gzip, cut: false };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'Z_BUF_ERROR' && partialGzip) {
      // A cut stream: decompress what is there so the caller can say where its data ends.
      try {
        return { raw, bytes: zlib.gunzipSync(raw, { finishFlush: zlib.constants.Z_SYNC_FLUSH }), gzip, cut: true };
      } catch {
        // not merely cut: reported as corrupt below
      }
    }
    const detail = err.code === 'Z_BUF_ERROR' ? 'the stream ends early (cut file?)' : err.message;
    throw Errors.data(
      file,
      'gzip',
      `corrupt gzip data in ${what} (${raw.length} bytes on disk): ${detail}`,
      'the file starts with the gzip magic bytes 1f 8b but does not decompress; re-download or re-create it',
    );
  }
}
