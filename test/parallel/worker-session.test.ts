/**
 * worker-session.ts over a fake link: the protocol steps 2–4 that the Node and the browser worker
 * share — hello, the run's data from the cache or by chunks (hash checked), ready, a step's
 * partials, the host's check of the run, and leaving with an error frame.
 */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { unpack } from 'msgpackr';
import { encodeMessage } from '../../src/parallel/codec-messages';
import { PROTOCOL_VERSION, type DataDescriptor, type RunMessage } from '../../src/parallel/messages';
import { WorkerSession, type DataCache, type StepDone, type WorkerLink } from '../../src/parallel/worker-session';
import { layoutOf } from '../../src/model/params';
import type { ModelSpec } from '../../src/model/spec';

const spec: ModelSpec = {
  inputs: 3,
  layers: [{ units: 2, activation: 'softmax' }],
  loss: 'cross-entropy',
  dtype: 'float64',
} as unknown as ModelSpec;

function dataset(): { payload: Uint8Array; d: DataDescriptor } {
  const n = 8;
  const x = new Float64Array(n * 3).map((_, i) => (i % 7) / 7);
  const y = new Float64Array(n * 2).map((_, i) => (i % 2 === Math.floor(i / 2) % 2 ? 1 : 0));
  const payload = new Uint8Array(x.byteLength + y.byteLength);
  payload.set(new Uint8Array(x.buffer), 0);
  payload.set(new Uint8Array(y.buffer), x.byteLength);
  const sha = crypto.createHash('sha256').update(payload).digest('hex');
  return { payload, d: { name: 't', sha256: sha, payloadSha256: sha, n, inputs: 3, outputs: 2, bytes: payload.length, chunkBytes: 1024 } };
}

function fakeLink(): { link: WorkerLink; sent: Record<string, unknown>[]; closed: number[] } {
  const sent: Record<string, unknown>[] = [];
  const closed: number[] = [];
  return {
    sent,
    closed,
    link: {
      send: (f) => sent.push(unpack(f) as Record<string, unknown>),
      isOpen: () => closed.length === 0,
      close: (code) => closed.push(code),
      terminate: () => closed.push(-1),
    },
  };
}

function session(
  link: WorkerLink,
  cache: DataCache | null,
  extra: { checkRun?: (r: RunMessage) => void; onStep?: (s: StepDone) => void } = {},
): WorkerSession {
  return new WorkerSession(link, {
    id: 'w1',
    threads: 0,
    kernels: 'ref',
    limits: { maxBytes: 1 << 20, maxDataBytes: 1 << 20 },
    hooks: {},
    cache,
    shared: false,
    say: () => undefined,
    ...extra,
  });
}

const runFrame = (d: DataDescriptor): Uint8Array =>
  encodeMessage({ t: 'run', v: PROTOCOL_VERSION, run: 'r', executor: 'remote-w1', spec, microBatch: 4, data: d });

describe('worker-session: the protocol both workers run', () => {
  it('says hello, takes a cached dataset whose hash checks, answers ready, and computes a step into one partial per node', async () => {
    const { payload, d } = dataset();
    const f = fakeLink();
    const steps: StepDone[] = [];
    const s = session(f.link, { get: () => payload.slice().buffer, put: () => undefined }, { onStep: (x) => steps.push(x) });
    s.hello('h');
    s.receive(runFrame(d), true);
    const params = new Float64Array(layoutOf(spec).size).fill(0.1);
    s.receive(
      encodeMessage({ t: 'step', v: PROTOCOL_VERSION, step: 1, order: new Uint32Array([0, 1, 2, 3, 4, 5, 6, 7]), nodes: [[1, 0]], params }),
      true,
    );
    await s.queue;
    assert.deepEqual(
      f.sent.map((m) => m.t),
      ['hello', 'ready', 'done', 'partial'],
    );
    assert.equal(s.exit.dataFromCache, true);
    assert.equal(f.sent[3]!.count, 8);
    assert.deepEqual(
      steps.map((x) => [x.step, x.samples, x.total]),
      [[1, 8, 8]],
    );
  });

  it('without a cached copy asks for the data, checks its hash once whole and gives it to the cache', async () => {
    const { payload, d } = dataset();
    const f = fakeLink();
    const put: number[] = [];
    const s = session(f.link, { get: () => null, put: (_d, b) => void put.push(b.length) });
    s.receive(runFrame(d), true);
    s.receive(encodeMessage({ t: 'chunk', v: PROTOCOL_VERSION, seq: 0, bytes: payload }), true);
    await s.queue;
    assert.deepEqual(
      f.sent.map((m) => m.t),
      ['need', 'ready'],
    );
    assert.deepEqual(put, [payload.length]);
    assert.equal(s.exit.dataFromCache, false);
  });

  it("leaves with an error frame and a close when the host's check refuses the run (the browser's missing coordinator proof)", async () => {
    const { d } = dataset();
    const f = fakeLink();
    const s = session(f.link, null, {
      checkRun: () => {
        throw new Error('the coordinator could not prove it holds the token');
      },
    });
    s.receive(runFrame(d), true);
    await s.queue;
    assert.equal(f.sent[0]!.t, 'error');
    assert.match(String(f.sent[0]!.message), /could not prove/);
    assert.equal(f.closed.length, 1);
    assert.equal(s.run, null);
  });
});
