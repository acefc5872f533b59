/**
 * serve-without-main.ts — with a remote node in the step and a pool thread to compute, the
 * main thread computes nothing: its event loop serves the nodes' frames (weights out,
 * partials in) as they come, instead of between leaves of its own share — Horovod's
 * background thread, here the coordinator's own. The main thread alone (no pool) still
 * computes, yielding between leaves.
 * Invariant: only who computes which leaves changes, never what is summed (the tree's order).
 */

import type { Executor } from '../../parallel/executor';

/** The step's set without the main thread when it has remote nodes to serve and a pool thread to compute. */
export function withoutMainIfServing(set: Executor[], main: Executor): Executor[] {
  const serving = set.some((e) => e.kind === 'remote') && set.some((e) => e.kind === 'thread');
  return serving ? set.filter((e) => e !== main) : set;
}
