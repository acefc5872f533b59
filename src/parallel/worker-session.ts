/**
 * worker-session.ts — steps 2 to 4 of a remote worker's protocol (remote-worker.ts) for one
 * connection, over any transport: hello, then the coordinator's frames one at a time, in
 * order (a step's compute is async when a pool computes it): the run and its data, then the
 * steps. A bad frame ends the session (leave): an error frame, then a close with its code.
 * The Node worker (remote-worker.ts, over `ws`) and the browser worker (web/worker/, over the
 * browser's WebSocket) both run this; what differs is given in SessionEnv: the link, the
 * dataset cache, the executors.
 * Not here: step 1 (the token's proof), sockets, files, threads.
 */

import type pino from 'pino';
import { Errors, GradsyncError } from '../errors';
import { alloc, dtypeOf, type Float } from '../tensor/dtype';
import { KERNEL_SPEC_VERSION } from '../tensor/kernels';
import { kernelProfiles, selectKernels, type KernelChoice } from '../tensor/select';
import type { KernelProfile } from '../tensor/kernels';
import { layoutOf } from '../model/params';
import { decodeCoordinatorMessage, encodeMessage, type CoordinatorFrameLimits } from './codec-messages';
import { encodePartial } from './codec-partials';
import type { Executor, StepTask } from './executor';
import { MainExecutor } from './main-executor';
import type { WorkerHooks } from './hooks';
import { CLOSE, PROTOCOL_VERSION, type DataDescriptor, type PartialMessage, type RunMessage, type StepMessage } from './messages';
import { addPartial, type Partial } from './partial';
import { planRanges } from './planner';
import { combineNode, nodeKey, ReductionTree, type TreeNode } from './tree';
import { ChunkAssembly, dataViews, type HeldData } from './worker-dataset';

/** The connection as the session uses it. */
export interface WorkerLink {
  send(frame: Uint8Array): void;
  /** Whether frames can still be sent. */
  isOpen(): boolean;
  close(code: number, reason: string): void;
  terminate(): void;
}

/** Where a worker keeps datasets between sessions, named by payload hash. */
export interface DataCache {
  /** The cached payload of `d`, its hash checked (a copy that does not check is discarded), else null. */
  get(d: DataDescriptor, shared: boolean): ArrayBufferLike | null | Promise<ArrayBufferLike | null>;
  /** Keeps a received payload; a failure is the cache's to report, never the session's end. */
  put(d: DataDescriptor, bytes: Uint8Array): void | Promise<void>;
}

/** One step as computed here: what the worker's display shows. */
export interface StepDone {
  step: number;
  /** Examples of the step this worker computed, of `total`. */
  samples: number;
  total: number;
  computeMs: number;
}

/** What the session needs from its host. */
export interface SessionEnv {
  id: string;
  /** Compute threads announced in hello (0 or 1: the host's own thread). */
  threads: number;
  kernels: KernelChoice;
  limits: CoordinatorFrameLimits;
  hooks: WorkerHooks;
  cache: DataCache | null;
  /** Whether the data must live in shared memory (a local pool computes over it). */
  shared: boolean;
  /** The executors over the held data; default: one on this thread. */
  executors?(r: RunMessage, held: HeldData, profile: KernelProfile): Executor[];
  /** Throws when the run message must not be used (the browser: no coordinator proof in it). */
  checkRun?(r: RunMessage): void;
  log?: pino.Logger | undefined;
  say(line: string): void;
  onStep?(s: StepDone): void;
}

/** How the session ended, as far as it knows (the host adds the close code and reason). */
export interface SessionExit {
  code: number;
  reason: string;
  /** Steps computed. */
  steps: number;
  /** Whether the dataset came from the cache. */
  dataFromCache: boolean | null;
  /** The coordinator's error message, when it sent one. */
  error: { code: string; message: string } | null;
}

/** The partials of `nodes` (a contiguous run of tree nodes) computed by `execs` together. */
export async function computeSplit(
  execs: Executor[],
  task: StepTask,
  tree: ReductionTree,
  nodes: TreeNode[],
): Promise<{ partials: Partial[]; pieces: { exec: Executor; partials: Partial[] }[] }> {
  if (execs.length === 1) {
    const partials = await execs[0]!.compute(task, nodes);
    return { partials, pieces: [{ exec: execs[0]!, partials }] };
  }
  const lo = tree.range(nodes[0]!)[0];
  const hi = tree.range(nodes[nodes.length - 1]!)[1];
  const plan = planRanges(
    hi - lo,
    execs.map((e) => ({ id: e.id, speed: 1 })),
  );
  const jobs = plan.map((p, k) => ({ exec: execs[k]!, cover: tree.cover(lo + p.lo, lo + p.hi) })).filter((j) => j.cover.length > 0);
  const pieces = await Promise.all(
    jobs.map(async (j) => ({ exec: j.exec, cover: j.cover, partials: await j.exec.compute(task, j.cover) })),
  );
  const byKey = new Map<string, Partial>();
  for (const p of pieces) p.cover.forEach((n, k) => byKey.set(nodeKey(n), p.partials[k]!));
  // a given node = left + right, recursively, down to the computed pieces: the tree's own order
  const k = selectKernels(dtypeOf(pieces[0]!.partials[0]!.grads)).kernels;
  const partials = nodes.map((n) =>
    combineNode(
      tree,
      n,
      (m) => byKey.get(nodeKey(m)),
      (into, from) => addPartial(into, from, k),
    ),
  );
  return { partials, pieces };
}

export class WorkerSession {
  readonly exit: SessionExit = { code: 0, reason: '', steps: 0, dataFromCache: null, error: null };
  /** The run, from its message on. */
  run: RunMessage | null = null;
  /** The frames received so far, each handled after the one before. */
  queue: Promise<void> = Promise.resolve();
  private held: HeldData | null = null;
  private readonly incoming = new ChunkAssembly();
  private execs: Executor[] = [];
  private params: Float | null = null;
  /** Set by finishAndGo: frames after the one being handled are dropped. */
  private going = false;

  constructor(
    private readonly link: WorkerLink,
    private readonly env: SessionEnv,
  ) {}

  /** 2. → hello. */
  hello(host: string): void {
    const { env } = this;
    env.say(`worker ${env.id}: connected to ${host}`);
    this.link.send(
      encodeMessage({
        t: 'hello',
        v: PROTOCOL_VERSION,
        id: env.id,
        kernelSpec: KERNEL_SPEC_VERSION,
        profiles: kernelProfiles(env.kernels),
        dtypes: ['float32', 'float64'],
        threads: env.threads,
        ...env.hooks.hello,
      } as never),
    );
  }

  /** Queues a frame behind the ones before it. */
  receive(frame: Uint8Array, isBinary: boolean): void {
    this.queue = this.queue.then(() => this.handle(frame, isBinary));
  }

  /** Ends the session from this side: `e` logged and sent as an error frame, then a close with `code`. */
  leave(code: number, e: Error): void {
    const { link, env } = this;
    env.log?.warn({ code: e instanceof GradsyncError ? e.code : 'GS_ERR_WIRE', closeCode: code, err: e.message }, 'worker: leaving');
    env.say(`worker: leaving: ${e.message}`);
    if (link.isOpen()) {
      link.send(
        encodeMessage({
          t: 'error',
          v: PROTOCOL_VERSION,
          code: e instanceof GradsyncError ? e.code : 'GS_ERR_WIRE',
          message: e.message.slice(0, 900),
        }),
      );
      link.close(code, e.message.slice(0, 120));
    } else link.terminate();
  }

  /**
   * Leaves between steps (a worker told to stop: SIGTERM, Ctrl-C): the frame being handled —
   * a step's computation — finishes and its answer is sent, then the link closes with 1001
   * and later frames are dropped. The coordinator sees a worker that left, not one that failed
   * a step (unless its next step was already on the way: that range is recomputed there).
   */
  finishAndGo(why: string): void {
    if (this.going) return;
    this.going = true;
    this.env.say(`worker ${this.env.id}: ${why}: leaving after the step in progress`);
    this.queue = this.queue.then(() => {
      this.env.log?.info({ closeCode: CLOSE.goingAway, why }, 'worker: leaving between steps');
      if (this.link.isOpen()) this.link.close(CLOSE.goingAway, `gradsync worker leaving (${why})`.slice(0, 120));
      else this.link.terminate();
    });
  }

  /** The executors, for the host to release when the session ends. */
  get executors(): readonly Executor[] {
    return this.execs;
  }

  private async handle(frame: Uint8Array, isBinary: boolean): Promise<void> {
    const { env } = this;
    if (this.going) return;
    try {
      if (!isBinary) throw Errors.wire('text frames are not part of the protocol');
      const m = decodeCoordinatorMessage(frame, env.limits);
      switch (m.t) {
        case 'run':
          if (this.run !== null) throw Errors.wire('a second run message');
          await this.onRun(m);
          return;
        case 'chunk':
          await this.onChunk(m.seq, m.bytes);
          return;
        case 'step':
          if (this.held === null) throw Errors.wire('a step before the data is ready');
          await this.onStep(m);
          return;
        case 'error':
          this.exit.error = { code: m.code, message: m.message };
          env.log?.warn({ remote: { code: m.code, message: m.message } }, 'worker: the coordinator reported an error');
          env.say(`worker ${env.id}: the coordinator says: ${m.code}: ${m.message}`);
          return;
      }
    } catch (e) {
      const ge = e as GradsyncError;
      this.leave(ge.code === 'GS_ERR_DATA' ? CLOSE.dataHash : ge.code === 'GS_ERR_PROTOCOL' ? CLOSE.protocol : CLOSE.badFrame, e as Error);
    }
  }

  /** 3. ← run: the data from the cache (hash checked), or → need. */
  private async onRun(r: RunMessage): Promise<void> {
    const { env } = this;
    env.checkRun?.(r);
    this.run = r;
    const d = r.data;
    env.limits.run = {
      dtype: r.spec.dtype,
      paramCount: layoutOf(r.spec).size,
      n: d.n,
      chunkBytes: d.chunkBytes,
      chunks: Math.ceil(d.bytes / d.chunkBytes),
    };
    const cached = env.cache ? await env.cache.get(d, env.shared) : null;
    if (cached) {
      this.exit.dataFromCache = true;
      env.log?.info({ data: d.name, bytes: d.bytes }, 'worker: dataset from the cache');
      env.say(`worker ${env.id}: dataset ${d.name} (${d.bytes} bytes) from the cache, hash checked`);
      this.setUp(r, cached);
      return;
    }
    this.exit.dataFromCache = false;
    this.incoming.begin(d, env.shared);
    this.link.send(encodeMessage({ t: 'need', v: PROTOCOL_VERSION }));
    env.say(`worker ${env.id}: receiving dataset ${d.name} (${d.bytes} bytes)`);
  }

  /** 3. ← chunk: once the last is in and its hash checks, the copy cached and the data set up. */
  private async onChunk(seq: number, bytes: Uint8Array): Promise<void> {
    const whole = this.incoming.add(seq, bytes);
    if (whole === null) return;
    const r = this.run!;
    if (this.env.cache) await this.env.cache.put(r.data, whole);
    this.setUp(r, whole.buffer);
  }

  /** 3. The local executors over the data, the weights' buffer; → ready. */
  private setUp(r: RunMessage, buf: ArrayBufferLike): void {
    const { env } = this;
    const held = dataViews(buf, r.spec.dtype, r.data.n, r.data.inputs, r.data.outputs);
    this.held = held;
    const profile = r.profile ?? 'portable';
    if (env.executors) this.execs = env.executors(r, held, profile);
    else {
      const { kernels } = selectKernels(r.spec.dtype, env.kernels, profile);
      this.execs = [new MainExecutor(r.spec, kernels, held, r.microBatch)];
    }
    this.params = alloc(r.spec.dtype, layoutOf(r.spec).size, env.shared);
    this.link.send(encodeMessage({ t: 'ready', v: PROTOCOL_VERSION }));
    env.say(`worker ${env.id}: ready for run ${r.run} as ${r.executor} (${env.threads > 1 ? `${env.threads} threads` : 'main thread'})`);
  }

  /** 4. ← step: its nodes checked (in the tree, contiguous), computed by the local executors; → done, then one partial per node. */
  private async onStep(m: StepMessage): Promise<void> {
    const { link, env } = this;
    const r = this.run!;
    const mb = r.microBatch;
    const leaves = Math.ceil(m.order.length / mb);
    const tree = new ReductionTree(leaves);
    const nodes = m.nodes.map(([h, i]) => ({ h, i }));
    let prevEnd = -1;
    for (const n of nodes) {
      if (!tree.exists(n)) throw Errors.wire(`tree node ${n.h}:${n.i} is not in a tree of ${leaves} leaves`);
      const [lo, hi] = tree.range(n);
      if (prevEnd >= 0 && lo !== prevEnd) throw Errors.wire('the tree nodes of a step must be contiguous, left to right');
      prevEnd = hi;
    }
    const params = this.params!;
    params.set(m.params);
    const t0 = performance.now();
    const task: StepTask = {
      step: m.step,
      epoch: 0,
      params,
      batch: { step: m.step, order: m.order, start: 0, end: m.order.length, microBatch: mb },
    };
    const { partials, pieces } = await computeSplit(this.execs, task, tree, nodes);
    const computeMs = performance.now() - t0;
    const msgs: PartialMessage[] = partials.map((p, k) => ({
      t: 'partial',
      v: PROTOCOL_VERSION,
      step: m.step,
      node: [nodes[k]!.h, nodes[k]!.i],
      dtype: r.spec.dtype,
      count: p.count,
      lossSum: p.lossSum,
      stats: p.stats,
      grads: p.grads,
    }));
    let frames = [encodeMessage({ t: 'done', v: PROTOCOL_VERSION, step: m.step, computeMs }), ...msgs.map(encodePartial)];
    for (const piece of pieces) piece.exec.recycle(piece.partials);
    if (env.hooks.tamper) frames = env.hooks.tamper(m.step, frames, msgs);
    for (const f of frames) if (link.isOpen()) link.send(f);
    this.exit.steps++;
    env.onStep?.({ step: m.step, samples: msgs.reduce((s, p) => s + p.count, 0), total: m.order.length, computeMs });
  }
}
