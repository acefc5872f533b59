/**
 * join-handshake.ts — steps 3 to 6 of the handshake (coordinator-server.ts) for one admitted
 * connection: hello checked (protocol, kernels, a free worker id), the run sent, the dataset
 * streamed on need, and on ready the node joins the roster as a RemoteExecutor. Each state has
 * its time limit; anything out of place is a coded error frame, a log record and a close.
 * Not here: admission (join-gate.ts), the per-step exchange (remote-executor.ts).
 */

import type pino from 'pino';
import { WebSocket } from 'ws';
import { Errors, GradsyncError } from '../errors';
import { KERNEL_SPEC_VERSION } from '../tensor/kernels';
import type { ModelSpec } from '../model/spec';
import type { KernelProfile } from '../tensor/kernels';
import { decodeWorkerMessage, encodeMessage } from './codec-messages';
import type { DatasetOffer } from './dataset-offer';
import { CLOSE, PROTOCOL_VERSION, REMOTE_ID_PREFIX, type HelloMessage } from './messages';
import { RemoteExecutor, type RemoteExecutorOptions } from './remote-executor';
import type { Roster } from './roster';

/** What every connection's handshake shares: the run it offers and the limits it keeps. */
export interface HandshakeOptions {
  log: pino.Logger | undefined;
  run: string;
  spec: ModelSpec;
  /** The run's kernel profile: a worker whose kernels cannot compute it is refused. */
  profile: KernelProfile;
  microBatch: number;
  offer: DatasetOffer;
  /** The frame limits of every node (the handshake's frames get maxStep 1). */
  limits: RemoteExecutorOptions['limits'];
  /** Time for hello, and for need or ready after run, ms. */
  handshakeMs: number;
  /** Time for the data transfer and ready after need, ms. */
  dataMs: number;
  roster: Roster;
  /** What each joined node's executor is built with. */
  executor: Pick<RemoteExecutorOptions, 'deadline' | 'maxMisses' | 'maxBufferedBytes'>;
}

export class JoinHandshake {
  private plog: pino.Logger | undefined;
  private state: 'hello' | 'data' | 'streaming' | 'ready' = 'hello';
  private id: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  /** Set when the coordinator refused the worker (fail() logged it). */
  private failed = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly peer: string,
    private readonly o: HandshakeOptions,
    /** The coordinator's proof, sent in the run message: for a worker that proved the token in the upgrade's query. */
    private readonly inBandProof?: string,
  ) {
    this.plog = o.log?.child({ peer });
  }

  /** Listens for the worker's frames, with handshakeMs for its hello. */
  start(): void {
    const ws = this.ws;
    ws.on('error', (e: Error & { code?: string }) => {
      // ws closes the connection itself (1009 over maxPayload, 1002 on a protocol error); this is its record
      this.failed = true;
      this.plog?.warn({ code: 'GS_ERR_WIRE', wsCode: e.code ?? null, err: e.message }, 'remote: bad frame, connection closed');
    });
    this.timer = setTimeout(
      () =>
        this.fail(
          CLOSE.handshakeTimeout,
          Errors.protocol(`no ${this.state === 'hello' ? 'hello' : 'need or ready'} within ${this.o.handshakeMs} ms`),
        ),
      this.o.handshakeMs,
    );
    ws.on('message', this.onMessage);
    ws.on('close', (code: number, reason: Buffer) => {
      clearTimeout(this.timer);
      // a peer that leaves between the 101 and ready (closed, cut, crashed): one record, as for a refusal
      if (this.state !== 'ready' && !this.failed)
        this.plog?.warn(
          { code: 'GS_ERR_PROTOCOL', state: this.state, closeCode: code, reason: reason.toString('utf8').slice(0, 120) },
          'remote: handshake aborted by the worker, connection closed',
        );
    });
  }

  private readonly onMessage = (frame: Buffer, isBinary: boolean): void => {
    let m;
    try {
      if (!isBinary) throw Errors.wire('text frames are not part of the protocol');
      m = decodeWorkerMessage(frame, { ...this.o.limits, maxStep: 1 });
    } catch (e) {
      const ge = e instanceof GradsyncError ? e : Errors.wire((e as Error).message);
      this.fail(ge.code === 'GS_ERR_PROTOCOL' ? CLOSE.protocol : CLOSE.badFrame, ge);
      return;
    }
    const state = this.state;
    if (m.t === 'error') {
      this.plog?.warn(
        { code: 'GS_ERR_EXECUTOR', remote: { code: m.code, message: m.message } },
        'remote: worker reported an error during the handshake',
      );
      this.fail(CLOSE.goingAway, Errors.executor('the worker gave up'));
    } else if (state === 'hello' && m.t === 'hello') this.onHello(m);
    else if (state === 'data' && m.t === 'need') this.onNeed();
    else if ((state === 'data' || state === 'streaming') && m.t === 'ready') this.onReady();
    else this.fail(CLOSE.badFrame, Errors.wire(`a "${m.t}" message is out of place during the handshake (state ${state})`));
  };

  /**
   * 3. hello: kernels that compute this run (the spec's version, its profile, the dtype), an id no
   * connected worker has; then 4. → run.
   */
  private onHello(m: HelloMessage): void {
    const { spec, roster, profile } = this.o;
    if (m.kernelSpec !== KERNEL_SPEC_VERSION || !m.dtypes.includes(spec.dtype)) {
      this.fail(
        CLOSE.kernel,
        Errors.protocol(
          `the worker's kernels (spec v${m.kernelSpec}, ${m.dtypes.join('/')}) cannot compute this run (spec v${KERNEL_SPEC_VERSION}, ${spec.dtype})`,
        ),
      );
      return;
    }
    // a worker that does not say computes the portable profile only (older ones, WebAssembly kernels)
    const profiles = m.profiles ?? ['portable'];
    if (!profiles.includes(profile)) {
      this.fail(
        CLOSE.kernel,
        Errors.kernelProfile(
          `the worker's kernels compute kernel profile ${profiles.map((p) => `"${p}"`).join(', ')}, this run's is "${profile}"` +
            (profile === 'fma' ? ': WebAssembly kernels have no deterministic fused multiply-add' : ''),
          profile === 'fma'
            ? 'start the worker with native or ref kernels (not --kernels wasm, not a browser), or train with kernelProfile "portable"'
            : undefined,
        ),
      );
      return;
    }
    const id = `${REMOTE_ID_PREFIX}${m.id}`;
    if (!roster.claim(id)) {
      this.fail(CLOSE.duplicateId, Errors.protocol(`a worker with id "${m.id}" is already connected`));
      return;
    }
    this.id = id;
    this.plog = this.o.log?.child({ executor: id, peer: this.peer });
    this.ws.once('close', () => {
      if (this.state !== 'ready' && this.id !== null) roster.release(this.id);
    });
    this.ws.send(
      encodeMessage({
        t: 'run',
        v: PROTOCOL_VERSION,
        run: this.o.run.slice(0, 200),
        executor: id,
        spec,
        ...(profile !== 'portable' ? { profile } : {}),
        microBatch: this.o.microBatch,
        data: this.o.offer.descriptor,
        ...(this.inBandProof !== undefined ? { serverProof: this.inBandProof } : {}),
      }),
    );
    this.state = 'data';
  }

  /** 5. need: the dataset streamed, with dataMs for the transfer and ready. */
  private onNeed(): void {
    const { offer, dataMs } = this.o;
    this.state = 'streaming';
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => this.fail(CLOSE.handshakeTimeout, Errors.protocol(`the data transfer and ready took more than ${dataMs} ms`)),
      dataMs,
    );
    this.plog?.info({ bytes: offer.descriptor.bytes, chunks: offer.chunks }, 'remote: streaming the dataset');
    void offer.stream(this.ws).catch((e: Error) => this.fail(CLOSE.goingAway, Errors.executor(`data transfer failed: ${e.message}`)));
  }

  /** 6. ready: the node is an executor from the next step on. */
  private onReady(): void {
    const { o, ws } = this;
    const id = this.id!;
    clearTimeout(this.timer);
    ws.off('message', this.onMessage);
    this.state = 'ready';
    const exec = new RemoteExecutor({
      id,
      ws,
      log: this.plog ?? silentLogger(),
      limits: o.limits,
      dtype: o.spec.dtype,
      deadline: o.executor.deadline,
      maxMisses: o.executor.maxMisses,
      maxBufferedBytes: o.executor.maxBufferedBytes,
      onGone: (e) => o.roster.gone(e),
    });
    if (ws.readyState !== WebSocket.OPEN) {
      o.roster.release(id);
      return;
    }
    o.roster.join(exec, this.plog);
  }

  /** Refuses the worker: an error frame and a close with `closeCode`, or a terminate when it is not open. */
  private fail(closeCode: number, e: GradsyncError): void {
    const ws = this.ws;
    clearTimeout(this.timer);
    if (this.failed) return;
    this.failed = true;
    this.plog?.warn({ code: e.code, closeCode, err: e.message }, 'remote: handshake refused, connection closed');
    ws.off('message', this.onMessage);
    if (ws.readyState === WebSocket.OPEN) {
      ws.send(encodeMessage({ t: 'error', v: PROTOCOL_VERSION, code: e.code, message: e.message.slice(0, 900) }));
      ws.close(closeCode, e.message.slice(0, 120));
      setTimeout(() => ws.terminate(), 2000).unref();
    } else ws.terminate();
  }
}

function silentLogger(): pino.Logger {
  // only reached when no logger was given: a no-op with pino's call shape
  const noop = (): void => undefined;
  const l = { warn: noop, info: noop, error: noop, debug: noop, child: () => l } as unknown as pino.Logger;
  return l;
}
