/**
 * remote-node.ts — a remote worker node as a bare process entry, without the CLI:
 *   node dist/workers/remote-node.js --join ws://HOST:PORT [--threads N] [--token-file F] [--data-dir D] [--id NAME]
 * (`gradsync worker` is the same with the CLI's flags and help). No logic of its own:
 * parallel/remote-worker.ts is the protocol. Exit 0 when the run ends, 1 otherwise.
 */

import * as fs from 'node:fs';
import { envToken } from '../src/env';
import { CLOSE } from '../src/parallel/messages';
import { runWorker } from '../src/parallel/remote-worker';

function flags(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!;
    if (!k.startsWith('--') || argv[i + 1] === undefined)
      throw new Error(`usage: remote-node --join ws://HOST:PORT [--threads N] [--token-file F] [--data-dir D] [--id NAME]`);
    out[k.slice(2)] = argv[i + 1]!;
  }
  if (out.join === undefined) throw new Error('remote-node: --join ws://HOST:PORT is required');
  return out;
}

async function main(): Promise<number> {
  const f = flags(process.argv.slice(2));
  const token = f['token-file'] !== undefined ? fs.readFileSync(f['token-file'], 'utf8').split(/\r?\n/)[0]!.trim() : envToken();
  const exit = await runWorker({
    url: f.join!,
    threads: f.threads !== undefined ? Number(f.threads) : 1,
    ...(token !== undefined ? { token } : {}),
    ...(f.id !== undefined ? { id: f.id } : {}),
    ...(f['data-dir'] !== undefined ? { dataDir: f['data-dir'] } : {}),
    onEvent: (line) => process.stderr.write(`${line}\n`),
  });
  return exit.code === CLOSE.goingAway || exit.code === 1000 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: Error) => {
    process.stderr.write(`remote-node: ${(e as { code?: string }).code ?? 'error'}: ${e.message}\n`);
    process.exitCode = 1;
  },
);
