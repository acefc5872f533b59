/**
 * dataset-offer.ts — the run's training data as a remote worker receives it (steps 4 and 5 of
 * the handshake, coordinator-server.ts): the descriptor with its two hashes, and the payload
 * (x then y, little-endian, in the dtype) streamed in chunks, one in flight at a time.
 * Not here: the worker's side and its cache (remote-worker.ts).
 */

import * as crypto from 'node:crypto';
import { WebSocket } from 'ws';
import type { Dataset } from '../data/dataset';
import { encodeMessage } from './codec-messages';
import { PROTOCOL_VERSION, type DataDescriptor } from './messages';

/** The dataset fields a coordinator offers. */
export type OfferedData = Pick<Dataset, 'name' | 'sha256' | 'n' | 'inputs' | 'outputs' | 'x' | 'y'>;

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** sha256 of the payload a worker receives: x then y, little-endian, in the dtype. */
export function payloadSha256(x: ArrayBufferView, y: ArrayBufferView): string {
  return crypto.createHash('sha256').update(bytesOf(x)).update(bytesOf(y)).digest('hex');
}

export class DatasetOffer {
  /** What the run message says of the data. */
  readonly descriptor: DataDescriptor;
  readonly chunks: number;
  private readonly xb: Uint8Array;
  private readonly yb: Uint8Array;

  constructor(
    data: OfferedData,
    private readonly chunkBytes: number,
  ) {
    this.xb = bytesOf(data.x);
    this.yb = bytesOf(data.y);
    this.descriptor = {
      name: data.name.slice(0, 200),
      sha256: data.sha256,
      payloadSha256: payloadSha256(data.x, data.y),
      n: data.n,
      inputs: data.inputs,
      outputs: data.outputs,
      bytes: this.xb.length + this.yb.length,
      chunkBytes,
    };
    this.chunks = Math.ceil(this.descriptor.bytes / chunkBytes);
  }

  /** Sends the payload in chunks, one in flight at a time (the send callback paces it). */
  async stream(ws: WebSocket): Promise<void> {
    for (let seq = 0; seq < this.chunks; seq++) {
      if (ws.readyState !== WebSocket.OPEN) return;
      const frame = encodeMessage({ t: 'chunk', v: PROTOCOL_VERSION, seq, bytes: this.chunkAt(seq) });
      await new Promise<void>((resolve, reject) => ws.send(frame, { binary: true }, (err) => (err ? reject(err) : resolve())));
    }
  }

  /** Chunk `seq` of the payload: a view of x or y, or a copy where it straddles the two. */
  private chunkAt(seq: number): Uint8Array {
    const lo = seq * this.chunkBytes;
    const hi = Math.min(lo + this.chunkBytes, this.descriptor.bytes);
    const xb = this.xb;
    const yb = this.yb;
    if (hi <= xb.length) return xb.subarray(lo, hi);
    if (lo >= xb.length) return yb.subarray(lo - xb.length, hi - xb.length);
    return Buffer.concat([xb.subarray(lo), yb.subarray(0, hi - xb.length)]);
  }
}
