/**
 * remote-executor.ts — one connected remote worker node as an Executor (the server side).
 *
 * Created by coordinator-server.ts once the node's handshake is done. Per step, compute():
 *  1. refuses at once when the connection is gone or its send queue is over the cap (a slow
 *     peer never blocks the step);
 *  2. sends one step frame: the weights θ_t once (one bin), the batch's slice of the epoch
 *     order and the tree nodes of its range;
 *  3. arms the step deadline: max(floorMs, factor × the node's measured ms per leaf ×
 *     leaves), or firstMs before any measurement;
 *  4. collects done (the node's compute time) and one partial per node, each validated by
 *     codec-partials.ts (step, node, dtype, shapes) and checked here (the node is one it was given,
 *     once; the example count is the node's);
 *  5. resolves with the partials in node order — or rejects on disconnect, deadline or a bad
 *     frame, and the step recomputes the range elsewhere (train/step.ts): the result never
 *     changes. A bad frame also closes the connection (1008) with a coded log record naming
 *     the peer; a partial for an earlier step (late after a missed deadline) is dropped with
 *     a warning; `maxMisses` missed deadlines in a row close the connection (4008).
 * Finite values are the step's check: a non-finite partial that the coordinator's own
 * recomputation finds finite makes the step call fault(), which closes the connection (1008).
 * Not here: the handshake and the listening socket (coordinator-server.ts).
 */

import type pino from 'pino';
import { WebSocket } from 'ws';
import { Errors, GradsyncError } from '../errors';
import type { DType } from '../tensor/dtype';
import { decodeWorkerMessage, encodeMessage, type WorkerFrameLimits } from './codec-messages';
import { leavesOf } from './compute-partials';
import type { Executor, StepTask, WireStats } from './executor';
import { CLOSE, PROTOCOL_VERSION, type RunClose } from './messages';
import type { Partial } from './partial';
import { nodeKey, ReductionTree, type TreeNode } from './tree';

export interface DeadlineOptions {
  /** Smallest deadline, ms. Default 2,000. */
  floorMs: number;
  /** Multiple of the expected time. Default 5. */
  factor: number;
  /** Deadline before the node's speed is known (its first step includes warm-up), ms. Default 30,000. */
  firstMs: number;
}

export interface RemoteExecutorOptions {
  id: string;
  ws: WebSocket;
  /** Child logger with the executor id and the peer address bound. */
  log: pino.Logger;
  limits: Omit<WorkerFrameLimits, 'maxStep'>;
  dtype: DType;
  deadline: DeadlineOptions;
  /** Consecutive missed deadlines before the connection is closed. Default 3. */
  maxMisses: number;
  /** Bytes queued for this peer above which it counts as too slow. */
  maxBufferedBytes: number;
  /** Called once when the connection is gone (the coordinator drops the executor). */
  onGone: (e: RemoteExecutor) => void;
}

export type { WireStats };

interface Pending {
  step: number;
  nodes: TreeNode[];
  index: Map<string, number>;
  expectCount: number[];
  partials: (Partial | undefined)[];
  received: number;
  leaves: number;
  t0: number;
  timer: NodeJS.Timeout;
  resolve: (p: Partial[]) => void;
  reject: (e: Error) => void;
}

export class RemoteExecutor implements Executor {
  readonly id: string;
  readonly kind = 'remote' as const;
  lastThreadMs = 0;
  lastWire: WireStats = { bytesOut: 0, bytesIn: 0 };
  private pending: Pending | null = null;
  private lastSent = 0;
  private msPerLeaf: number | undefined;
  private misses = 0;
  private gone = false;
  private goneReason = '';
  private readonly log: pino.Logger;

  constructor(private readonly o: RemoteExecutorOptions) {
    this.id = o.id;
    this.log = o.log;
    o.ws.on('message', (data: Buffer, isBinary: boolean) => this.onFrame(data, isBinary));
    o.ws.on('close', (code: number) => this.onClose(code));
  }

  /** The connection (the coordinator's heartbeat pings it). */
  get socket(): WebSocket {
    return this.o.ws;
  }

  get connected(): boolean {
    return !this.gone && this.o.ws.readyState === WebSocket.OPEN;
  }

  compute(task: StepTask, nodes: TreeNode[]): Promise<Partial[]> {
    if (!this.connected) return Promise.reject(Errors.executor(`${this.id}: not connected (${this.goneReason || 'closed'})`));
    if (this.pending) return Promise.reject(Errors.executor(`${this.id}: still busy with step ${this.pending.step}`));
    const ws = this.o.ws;
    if (ws.bufferedAmount > this.o.maxBufferedBytes) {
      this.closeWith(
        CLOSE.tooSlow,
        Errors.executor(`${this.id}: ${ws.bufferedAmount} bytes still queued for it (cap ${this.o.maxBufferedBytes})`),
        'GS_ERR_EXECUTOR',
      );
      return Promise.reject(Errors.executor(`${this.id}: too slow to take data`));
    }
    const b = task.batch;
    const tree = new ReductionTree(leavesOf(b));
    const frame = encodeMessage({
      t: 'step',
      v: PROTOCOL_VERSION,
      step: task.step,
      order: b.order.subarray(b.start, b.end),
      nodes: nodes.map((n) => [n.h, n.i] as [number, number]),
      params: task.params,
    });
    const expectCount = nodes.map((n) => {
      const [lo, hi] = tree.range(n);
      return Math.min(b.start + hi * b.microBatch, b.end) - (b.start + lo * b.microBatch);
    });
    const leaves = nodes.reduce((s, n) => {
      const [lo, hi] = tree.range(n);
      return s + hi - lo;
    }, 0);
    const d = this.o.deadline;
    const deadlineMs = this.msPerLeaf === undefined ? d.firstMs : Math.max(d.floorMs, d.factor * this.msPerLeaf * leaves);
    this.lastWire = { bytesOut: frame.length, bytesIn: 0 };
    this.lastSent = Math.max(this.lastSent, task.step);
    return new Promise<Partial[]>((resolve, reject) => {
      const timer = setTimeout(() => this.missed(deadlineMs), deadlineMs);
      this.pending = {
        step: task.step,
        nodes,
        index: new Map(nodes.map((n, k) => [nodeKey(n), k])),
        expectCount,
        partials: new Array(nodes.length),
        received: 0,
        leaves,
        t0: performance.now(),
        timer,
        resolve,
        reject,
      };
      ws.send(frame, { binary: true }, (err) => {
        if (err) this.closeWith(CLOSE.goingAway, Errors.executor(`${this.id}: send failed: ${err.message}`), 'GS_ERR_EXECUTOR');
      });
    });
  }

  /** The step found a partial of this node wrong: closed (1008; 4010 by an audit, 4011 by a replica), with a GS_ERR_EXECUTOR record naming it. */
  fault(reason: string, found: 'nonfinite' | 'audit' | 'replicate'): void {
    const code = found === 'audit' ? CLOSE.auditMismatch : found === 'replicate' ? CLOSE.replicaMismatch : CLOSE.badFrame;
    this.closeWith(code, Errors.executor(`${this.id} ${reason}`), 'GS_ERR_EXECUTOR');
  }

  recycle(_partials: Partial[]): void {
    // decoded partials own their memory (views of their frame); nothing to reuse
  }

  /**
   * Closes the connection, then terminates it if the peer lingers: 1001 when the run ended,
   * 1012 when it was interrupted (a worker that retries joins the restarted coordinator).
   */
  close(why: RunClose = 'ended'): Promise<void> {
    const ws = this.o.ws;
    this.settle(Errors.executor(`${this.id}: closed by the coordinator`));
    if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => ws.terminate(), 1000);
      ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      if (ws.readyState !== WebSocket.OPEN) return;
      if (why === 'ended') ws.close(CLOSE.goingAway, 'gradsync run ended');
      else ws.close(CLOSE.interrupted, 'gradsync run interrupted: the coordinator stopped before the end, it may resume');
    });
  }

  private missed(ms: number): void {
    const p = this.pending;
    if (!p) return;
    this.misses++;
    this.log.warn(
      { code: 'GS_ERR_EXECUTOR', step: p.step, deadlineMs: Math.round(ms), received: p.received, of: p.nodes.length, misses: this.misses },
      'remote: step deadline missed, range recomputed elsewhere',
    );
    this.settle(
      Errors.executor(`${this.id}: missed the step deadline of ${Math.round(ms)} ms (${p.received} of ${p.nodes.length} partials)`),
    );
    if (this.misses >= this.o.maxMisses) {
      this.closeWith(CLOSE.tooSlow, Errors.executor(`${this.id}: missed ${this.misses} step deadlines in a row`), 'GS_ERR_EXECUTOR');
    }
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.gone) return;
    this.lastWire.bytesIn += data.length;
    let m;
    try {
      if (!isBinary) throw Errors.wire('text frames are not part of the protocol');
      m = decodeWorkerMessage(data, { ...this.o.limits, maxStep: Math.max(1, this.lastSent) });
    } catch (e) {
      this.badFrame(e as Error);
      return;
    }
    const p = this.pending;
    switch (m.t) {
      case 'error':
        this.log.warn({ code: 'GS_ERR_EXECUTOR', remote: { code: m.code, message: m.message } }, 'remote: worker reported an error');
        this.closeWith(CLOSE.goingAway, Errors.executor(`${this.id}: the worker reported an error`), null);
        return;
      case 'done':
        if (p && m.step === p.step) this.lastThreadMs = m.computeMs;
        return;
      case 'partial': {
        if (!p || m.step < p.step) {
          this.log.warn(
            { code: 'GS_ERR_WIRE', step: m.step, current: p?.step ?? null, remote: { node: m.node } },
            'remote: partial for an earlier step dropped',
          );
          return;
        }
        const k = p.index.get(nodeKey({ h: m.node[0], i: m.node[1] }));
        if (k === undefined || p.partials[k] !== undefined) {
          this.badFrame(
            Errors.wire(
              `partial for tree node ${m.node[0]}:${m.node[1]} which it was ${k === undefined ? 'not given' : 'given once and already answered'} at step ${p.step}`,
            ),
          );
          return;
        }
        if (m.count !== p.expectCount[k]) {
          this.badFrame(
            Errors.wire(`field "count": ${m.count} examples for tree node ${m.node[0]}:${m.node[1]}, which has ${p.expectCount[k]}`),
          );
          return;
        }
        p.partials[k] = { grads: m.grads, stats: m.stats, lossSum: m.lossSum, count: m.count, bad: m.bad ?? -1 };
        if (++p.received === p.nodes.length) {
          clearTimeout(p.timer);
          this.pending = null;
          this.misses = 0;
          const ms = performance.now() - p.t0;
          const per = ms / Math.max(1, p.leaves);
          this.msPerLeaf = this.msPerLeaf === undefined ? per : this.msPerLeaf + 0.3 * (per - this.msPerLeaf);
          p.resolve(p.partials as Partial[]);
        }
        return;
      }
      default:
        this.badFrame(Errors.wire(`a "${m.t}" message after the handshake`));
    }
  }

  private badFrame(e: Error): void {
    const code = e instanceof GradsyncError ? e.code : 'GS_ERR_WIRE';
    const close = code === 'GS_ERR_PROTOCOL' ? CLOSE.protocol : CLOSE.badFrame;
    this.closeWith(close, e, code);
  }

  /** Logs (unless code is null), rejects the pending step, closes the connection. */
  private closeWith(closeCode: number, e: Error, code: string | null): void {
    if (code !== null) this.log.warn({ code, closeCode, err: e.message }, 'remote: bad peer, connection closed');
    this.markGone(e.message);
    const ws = this.o.ws;
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
      try {
        ws.send(encodeMessage({ t: 'error', v: PROTOCOL_VERSION, code: code ?? 'GS_ERR_EXECUTOR', message: e.message.slice(0, 900) }));
      } catch {
        /* closing anyway */
      }
      ws.close(closeCode, e.message.slice(0, 120));
      // a peer that does not answer the close handshake is cut off
      setTimeout(() => ws.terminate(), 2000).unref();
    }
  }

  private onClose(code: number): void {
    this.markGone(`connection closed (${code})`);
    this.log.info({ closeCode: code }, 'remote: worker left');
  }

  private markGone(reason: string): void {
    if (!this.gone) {
      this.gone = true;
      this.goneReason = reason;
      this.o.onGone(this);
    }
    this.settle(Errors.executor(`${this.id}: ${reason}`));
  }

  private settle(e: Error): void {
    const p = this.pending;
    if (!p) return;
    clearTimeout(p.timer);
    this.pending = null;
    p.reject(e);
  }
}
