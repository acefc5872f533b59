/**
 * cli/view.ts — `gradsync view RUN_DIR|LOG [--port P]`: the dashboard of a run that is finished
 * or still running, from its log file. The file is followed like `tail -F` (observe/tail.ts) and
 * every record is published on a live server of its own (observe/live-server.ts, the same page
 * and stream as `train --monitor`), until the signal aborts. Loopback only unless a token is
 * set. The server's own events (subscribers) go nowhere: the log it reads is the run's, not its own.
 * Not here: the page (web/dashboard/), the stream (observe/live-server.ts).
 */

import { once } from 'node:events';
import * as fs from 'node:fs';
import { Errors } from '../errors';
import { startLiveServer } from '../observe/live-server';
import { NdjsonFollower } from '../observe/tail';
import { dashboardPages } from './dashboard-assets';
import { intFlag } from './flags';
import type { Io } from './io';
import { logFileOf, POLL_MS } from './tail';

export interface ViewFlags {
  port?: string;
  host?: string;
  token?: string;
  /** Called with the page's address once it is served (tests). */
  onListening?: (url: string) => void;
}

export async function viewCommand(target: string, f: ViewFlags, io: Io & { signal?: AbortSignal }): Promise<number> {
  const file = logFileOf(target);
  if (!fs.existsSync(file)) throw Errors.usage(`${target}: no run log there (expected a run folder with log.ndjson, or a log file)`);
  const port = f.port !== undefined ? intFlag('port', f.port, 0) : 0;
  if (port > 65535) throw Errors.usage(`--port must be at most 65535, got "${f.port}"`);
  const live = await startLiveServer({
    host: f.host ?? '127.0.0.1',
    port,
    pages: dashboardPages(),
    ...(f.token !== undefined ? { token: f.token } : {}),
  });
  const follower = new NdjsonFollower(
    file,
    {
      onRecord: (rec, line) => live.publish(rec, line.trim()),
      onEvent: (ev) => {
        if (ev.type === 'error') io.stderr.write(`gradsync view: ${ev.error.message}\n`);
        else if (ev.type === 'rotated') io.stderr.write(`gradsync view: ${file} was rotated; following the new file\n`);
      },
    },
    { pollMs: POLL_MS },
  );
  const page = `${live.url.replace(/^ws/, 'http')}/`;
  try {
    follower.start();
    io.stdout.write(
      `dashboard of ${file} on ${page}${f.token !== undefined ? ' (token required: type it into the page, or open …/#token=…)' : ''}; Ctrl-C stops\n`,
    );
    f.onListening?.(page);
    if (io.signal && !io.signal.aborted) await once(io.signal, 'abort');
  } finally {
    await follower.close();
    await live.close();
  }
  return 0;
}
