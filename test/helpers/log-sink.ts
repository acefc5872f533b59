/** log-sink.ts — a pino destination that collects parsed records (pino's test sink). */
import { Writable } from 'node:stream';
import type pino from 'pino';
import { streamLogger } from '../../src/observe/logger';

export function collectingLogger(run = 'test'): { logger: pino.Logger; records: Record<string, unknown>[]; lines: string[] } {
  const records: Record<string, unknown>[] = [];
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        lines.push(line);
        records.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  return { logger: streamLogger(stream as unknown as pino.DestinationStream, run, 'debug'), records, lines };
}
