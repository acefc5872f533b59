/**
 * runWorkerRetrying (gradsync worker --retry): which failures are tried again and for how long.
 * The rejoin itself, mid-run and before the coordinator listens, is in
 * test/integration/remote.integration.ts.
 */
import assert from 'node:assert/strict';
import { runWorkerRetrying } from '../../src/parallel/worker-retry';
import { collectingLogger } from '../helpers/log-sink';
import { smallCoordinator } from './remote-helpers';

const TOKEN = 'retry-token-77d2';

describe('worker --retry', function () {
  this.timeout(30_000);

  it('a refused token is final: no second attempt', async () => {
    const c = await smallCoordinator(collectingLogger().logger, { token: TOKEN });
    const events: string[] = [];
    try {
      const t0 = Date.now();
      await assert.rejects(
        runWorkerRetrying(
          { url: c.url, token: 'wrong', id: 'w', threads: 0, kernels: 'ref', onEvent: (l) => events.push(l) },
          { retryMs: 10_000, firstDelayMs: 50 },
        ),
        (e: Error & { code?: string }) => e.code === 'GS_ERR_AUTH' && /wrong token/.test(e.message),
      );
      assert.ok(!events.some((l) => /joining again/.test(l)), `no retry: ${events.join(' | ')}`);
      assert.ok(Date.now() - t0 < 5000);
    } finally {
      await c.close();
    }
  });

  it('an unreachable coordinator is tried again with backoff until the window closes, then its error is thrown', async () => {
    const c = await smallCoordinator(collectingLogger().logger, { token: TOKEN });
    const url = c.url;
    await c.close(); // the port is free again: connections are refused
    const events: string[] = [];
    const t0 = Date.now();
    await assert.rejects(
      runWorkerRetrying(
        { url, token: TOKEN, id: 'w', threads: 0, kernels: 'ref', onEvent: (l) => events.push(l) },
        { retryMs: 800, firstDelayMs: 50, maxDelayMs: 200 },
      ),
      (e: Error & { code?: string }) => e.code === 'GS_ERR_IO' && /cannot reach the coordinator/.test(e.message),
    );
    const waits = events.filter((l) => /joining again in/.test(l)).map((l) => Number(/in (\d+\.\d) s/.exec(l)![1]));
    assert.ok(waits.length >= 3, `several attempts within the window: ${events.join(' | ')}`);
    assert.ok(waits[waits.length - 1]! > waits[0]!, `the waits grow: ${waits.join(', ')}`);
    assert.ok(Date.now() - t0 < 5000, 'it stops when the window closes');
  });

  it('retryMs 0 is one attempt, as without --retry', async () => {
    const c = await smallCoordinator(collectingLogger().logger, { token: TOKEN });
    const url = c.url;
    await c.close();
    const events: string[] = [];
    await assert.rejects(
      runWorkerRetrying({ url, token: TOKEN, id: 'w', threads: 0, kernels: 'ref', onEvent: (l) => events.push(l) }, { retryMs: 0 }),
      /cannot reach the coordinator/,
    );
    assert.equal(events.filter((l) => /joining again/.test(l)).length, 0);
  });
});
