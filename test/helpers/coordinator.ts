/** coordinator.ts — a run's coordinator on 127.0.0.1, port 0, from the executors' context (the tests' joinables). */
import type { ExecutorContext } from '../../src/train/options';
import { startCoordinator, type Coordinator, type CoordinatorOptions } from '../../src/parallel/coordinator-server';

/** startCoordinator for this run (its id, model, micro-batch, data and logger), with `extra` options on top. */
export function coordinatorFor(ctx: ExecutorContext, extra: Partial<CoordinatorOptions> = {}): Promise<Coordinator> {
  return startCoordinator({
    host: '127.0.0.1',
    port: 0,
    run: ctx.run,
    spec: ctx.spec,
    microBatch: ctx.microBatch,
    data: ctx.data,
    logger: ctx.logger,
    ...extra,
  });
}
