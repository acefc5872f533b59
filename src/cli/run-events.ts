/**
 * run-events.ts — the console lines `gradsync train` prints for records other than steps: one
 * per held-out evaluation (an epoch's end), and one per remote worker that joins, leaves, is
 * dropped or is refused (the log file has the full record). Pure: record in, line (or null) out.
 * Not here: the progress bar and the step lines (train.ts).
 */

import { fmt } from './io';

type Rec = Record<string, unknown>;

const s = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** Who a worker record is about: its executor id when it has one, else its address. */
function who(r: Rec): string {
  return s(r.executor) ?? (s(r.peer) !== null ? `from ${s(r.peer)!}` : '(unknown)');
}

/** The line of a held-out evaluation record: held-out loss, and accuracy for classification. */
export function evalLine(r: Rec): string {
  const acc = typeof r.accuracy === 'number' ? `, accuracy ${(r.accuracy * 100).toFixed(2)} %` : '';
  return `epoch ${String(r.epoch)} (step ${String(r.step)}): held-out loss ${fmt(typeof r.loss === 'number' ? r.loss : NaN)}${acc}`;
}

/** The line of a remote worker's record, or null for records that are not a worker joining, leaving, dropped or refused. */
export function workerLine(r: Rec): string | null {
  const err = s(r.err) ?? s(r.reason);
  switch (r.msg) {
    case 'remote: worker joined':
      return `worker ${who(r)} joined${s(r.peer) !== null && s(r.executor) !== null ? ` from ${s(r.peer)!}` : ''} (${String(r.workers)} connected)`;
    case 'remote: worker left':
      return `worker ${who(r)} left (close code ${String(r.closeCode)})`;
    case 'remote: worker missed a pong, terminated':
      return `worker ${who(r)} dropped: it missed a heartbeat`;
    case 'remote: bad peer, connection closed':
      return `worker ${who(r)} dropped: ${err ?? 'a bad frame'}`;
    case 'remote: worker reported an error': {
      const remote = r.remote as { message?: unknown } | undefined;
      return `worker ${who(r)} dropped: it reported an error${s(remote?.message) !== null ? `: ${s(remote?.message)!.slice(0, 200)}` : ''}`;
    }
    case 'remote: step deadline missed, range recomputed elsewhere':
      return `worker ${who(r)} late at step ${String(r.step)}: its range was recomputed elsewhere`;
    case 'remote: join refused (401)':
      return `worker ${who(r)} refused: ${err ?? 'no valid token proof'} (401)`;
    case 'remote: join refused (503, full)':
      return `worker ${who(r)} refused: the run is full (503)`;
    case 'remote: handshake refused, connection closed':
      return `worker ${who(r)} refused: ${err ?? 'bad handshake'}`;
    case 'remote: TLS handshake failed, connection closed':
      return `worker ${who(r)} refused: TLS handshake failed${err !== null ? ` (${err})` : ''}`;
    default:
      return null;
  }
}

/** The console line of any non-step record, or null when it has none. */
export function recordConsoleLine(r: Rec): string | null {
  return r.msg === 'eval' ? evalLine(r) : workerLine(r);
}
