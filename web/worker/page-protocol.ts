/**
 * page-protocol.ts — what the browser worker's page and its Web Worker say to each other by
 * postMessage: the page starts it with the token (never put in a URL the server sees); the Web
 * Worker reports its state, for the page to show.
 */

export interface StartMessage {
  t: 'start';
  /** The run's token, or null when the coordinator needs none. */
  token: string | null;
}

export type WorkerState = 'joining' | 'receiving' | 'computing' | 'refused' | 'disconnected';

export interface StateMessage {
  t: 'state';
  state: WorkerState;
  /** Why (refused, disconnected), or the last event, for a person. */
  why: string;
  /** The executor id the coordinator gave this worker. */
  executor: string | null;
  steps: number;
  /** This worker's share of the last step's examples, 0–1. */
  share: number | null;
  /** Examples computed per second of compute, over the session so far. */
  samplesPerSec: number | null;
  /** Whether the dataset came from the IndexedDB cache; null before the run. */
  dataFromCache: boolean | null;
}
