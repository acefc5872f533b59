/**
 * messages.ts — the wire's message types and PROTOCOL_VERSION. Types only (horovod message.h).
 *
 * Every message is one msgpack map with a type tag `t` and the protocol version `v`.
 * Typed arrays travel as msgpack `bin` holding their little-endian bytes, described by the
 * message's own fields (dtype, lengths known from the run) — not as msgpackr's typed-array
 * extension, whose default pack() can corrupt Float32Array/Float64Array.
 * Not here: encoding and validation (codec-messages.ts, codec-partials.ts).
 */

import type { ProofLabels } from '../net/challenge-wire';
import type { DType, Float } from '../tensor/dtype';
import type { ModelSpec } from '../model/spec';
import type { KernelProfile } from '../tensor/kernels';

/** 2: the run's spec carries a layer list of any kind (model/spec.ts) and the example shape; a version-1 worker cannot run it and is refused at hello. */
export const PROTOCOL_VERSION = 2;

/** One tree node's partial: what a pool thread or a remote worker returns per node. */
export interface PartialMessage {
  t: 'partial';
  v: number;
  /** The step the partial belongs to (a stale step is dropped). */
  step: number;
  /** Tree node [h, i]. */
  node: [number, number];
  dtype: DType;
  /** Examples summed. */
  count: number;
  /** Σ per-example loss, float64. */
  lossSum: number;
  /** Activation counts (model/model.ts StatsLayout). */
  stats: Float64Array;
  /** Σ dJdW, Σ dJdWb of every layer, in the parameter layout. */
  grads: Float;
  /** Set by the decoder (never read from the wire): index of the first non-finite grad, or −1. */
  bad?: number;
}

// ---- remote worker nodes (issue 4) ---------------------------------------------------
//
// The handshake, in order (coordinator-server.ts runs it; remote-worker.ts is the other side):
//  0. HTTP, before any websocket exists: the worker GETs CHALLENGE_PATH → a one-time nonce;
//     its upgrade request carries the nonce and HMAC(token, nonce) (auth.ts) plus its own
//     nonce; a wrong or missing proof gets 401. The 101 answer carries the coordinator's
//     proof over both nonces, so the worker knows it talks to the token's holder too.
//  1. worker → hello   (protocol version, kernel spec version and profiles, dtypes, threads, worker id)
//  2. coordinator → run (model spec, kernel profile, micro-batch, dataset descriptor with its hashes)
//  3. worker → need     (it lacks the data) → coordinator → chunk × k → worker verifies
//     worker → ready    (it has the data, verified by hash)
//  4. per step: coordinator → step (weights as one bin, order slice, tree nodes);
//     worker → done (its compute time) then one partial per node (PartialMessage).
// Either side may send error before closing. Close codes: CLOSE below.

/** Executor ids of remote nodes are this prefix and the worker's own id (the planner tells them apart by it). */
export const REMOTE_ID_PREFIX = 'remote-';

/** The path of the one-time challenge nonce (HTTP GET, net/challenge.ts) and of the websocket upgrade. */
export { CHALLENGE_PATH } from '../net/challenge-wire';
export const JOIN_PATH = '/gradsync/join';

/** The HMAC labels of a worker's join (auth.ts; here so that the browser worker needs nothing of Node to prove a token). */
export const WORKER_LABELS: ProofLabels = { client: 'gradsync-worker-v1', server: 'gradsync-coordinator-v1' };

/** The browser worker's page (web/worker/), served by the coordinator's listener. */
export const WORKER_PAGE_PATH = '/worker';

/** GET: whether a join needs the token ({ authRequired }), for the browser worker's page. */
export const WORKER_INFO_PATH = '/gradsync/worker-info';

/**
 * The join's proof in the upgrade's query, for a browser (which cannot set upgrade headers): the
 * same values as the AUTH_HEADERS; the coordinator's proof then comes in the run message.
 */
export const JOIN_PROOF_QUERY = { nonce: 'nonce', proof: 'proof', clientNonce: 'cnonce' } as const;

/** Why the coordinator closes its workers: the run ended, or it stopped before its end and may resume. */
export type RunClose = 'ended' | 'interrupted';

/** Websocket close codes of the remote protocol (ws closes with 1009 on maxPayload itself). */
export const CLOSE = {
  /** The run ended (coordinator) or the worker is leaving. */
  goingAway: 1001,
  /** The run stopped before its end (the coordinator was interrupted: it may be restarted and resume); workers with --retry join again. */
  interrupted: 1012,
  /** A frame failed validation (malformed msgpack, unknown field, wrong shape, step, node). */
  badFrame: 1008,
  /** Protocol versions differ. */
  protocol: 4001,
  /** Kernel spec version, kernel profile or dtype not supported. */
  kernel: 4002,
  /** Another connected worker already has this id. */
  duplicateId: 4003,
  /** The peer did not finish the handshake (or the data transfer) in time. */
  handshakeTimeout: 4004,
  /** The dataset did not arrive intact (hash mismatch). */
  dataHash: 4005,
  /** The worker missed too many step deadlines or its send queue overflowed. */
  tooSlow: 4008,
  /** The coordinator has as many workers as it accepts. */
  full: 4009,
  /** An audit recomputed one of the worker's partials and found it different (train/strategies/audit.ts). */
  auditMismatch: 4010,
  /** replicate 2: its partial differed from its twin's and from the coordinator's recomputation (train/strategies/replicate.ts). */
  replicaMismatch: 4011,
} as const;

export interface HelloMessage {
  t: 'hello';
  v: number;
  /** Worker id, [A-Za-z0-9._-]{1,64}: unique among connected workers. */
  id: string;
  /** KERNEL_SPEC_VERSION of the worker's kernels. */
  kernelSpec: number;
  /** dtypes its kernels compute. */
  dtypes: DType[];
  /**
   * The kernel spec's profiles its kernels compute; absent: ['portable'] (what every worker
   * computes, and all a worker that predates the profiles or runs WebAssembly kernels can).
   */
  profiles?: KernelProfile[];
  /** Local compute threads (0: its main thread). */
  threads: number;
}

/** What the dataset is, so a worker can find its own copy or receive it. */
export interface DataDescriptor {
  name: string;
  /** The dataset's content hash (data/dataset.ts): names which rows. */
  sha256: string;
  /** sha256 of the payload bytes: x then y, little-endian, in the run's dtype. */
  payloadSha256: string;
  n: number;
  inputs: number;
  outputs: number;
  /** Payload bytes (n·(inputs + outputs)·bytesPerElement). */
  bytes: number;
  /** Bytes per chunk frame when streamed (the last may be shorter). */
  chunkBytes: number;
}

export interface RunMessage {
  t: 'run';
  v: number;
  run: string;
  /** The executor id the coordinator gave this worker ('remote-<id>'). */
  executor: string;
  spec: ModelSpec;
  /** The run's kernel profile; absent: 'portable' (sent only for 'fma', so older workers can join portable runs). */
  profile?: KernelProfile;
  microBatch: number;
  data: DataDescriptor;
  /** The coordinator's proof (hex), for a worker that proved the token in the upgrade's query (a browser cannot read the 101's headers). */
  serverProof?: string;
}

export interface NeedMessage {
  t: 'need';
  v: number;
}
export interface ReadyMessage {
  t: 'ready';
  v: number;
}

export interface ChunkMessage {
  t: 'chunk';
  v: number;
  /** 0-based chunk index. */
  seq: number;
  bytes: Uint8Array;
}

export interface StepMessage {
  t: 'step';
  v: number;
  step: number;
  /** The batch's slice of the epoch order (uint32 little-endian): leaf j is positions j·mb … */
  order: Uint32Array;
  /** Tree nodes to compute, [h, i] each, contiguous left to right. */
  nodes: [number, number][];
  /** θ_t in the run's dtype. */
  params: Float;
}

export interface DoneMessage {
  t: 'done';
  v: number;
  step: number;
  /** Wall time the worker spent computing the step's nodes, ms. */
  computeMs: number;
}

export interface ErrorMessage {
  t: 'error';
  v: number;
  code: string;
  message: string;
}

export type WorkerMessage = HelloMessage | NeedMessage | ReadyMessage | DoneMessage | PartialMessage | ErrorMessage;
export type CoordinatorMessage = RunMessage | ChunkMessage | StepMessage | ErrorMessage;
