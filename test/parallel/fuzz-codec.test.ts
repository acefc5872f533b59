/**
 * Issue 7, part 5: fuzzing the wire. Every decoder of the codec (codec-partials.ts,
 * codec-messages.ts) — decodePartial, decodeWorkerMessage (hello, need, ready, done, partial,
 * error) and decodeCoordinatorMessage
 * (run, chunk, step, error; before and after the run) — gets random bytes, truncated and
 * mutated valid frames, and structurally valid frames with hostile values (huge lengths,
 * deep nesting, wrong types, negative or enormous shapes, prototype keys). Each frame is
 * either accepted as a well-typed message or refused with a coded GradsyncError
 * (GS_ERR_WIRE / GS_ERR_PROTOCOL); nothing else throws, and the heap stays bounded.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { GradsyncError } from '../../src/errors';
import {
  decodeCoordinatorMessage,
  decodeWorkerMessage,
  encodeMessage,
  type CoordinatorFrameLimits,
  type WorkerFrameLimits,
} from '../../src/parallel/codec-messages';
import { decodePartial, type PartialLimits } from '../../src/parallel/codec-partials';
import { PROTOCOL_VERSION, type CoordinatorMessage, type WorkerMessage } from '../../src/parallel/messages';

const V = PROTOCOL_VERSION;
const packr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true });
const P = 12; // parameters of the run the limits describe
const S = 4; // stats entries

const workerLim: WorkerFrameLimits = { maxBytes: 1 << 20, dtype: 'float32', paramCount: P, statsSize: S, maxHeight: 6, maxStep: 50 };
const partialLim: PartialLimits = { maxBytes: 1 << 20, dtype: 'float32', paramCount: P, statsSize: S, maxHeight: 6, step: 7 };
const coordLim: CoordinatorFrameLimits = { maxBytes: 1 << 20, maxDataBytes: 1 << 20 };
const coordRunLim: CoordinatorFrameLimits = { ...coordLim, run: { dtype: 'float32', paramCount: P, n: 20, chunkBytes: 4096, chunks: 2 } };

const sha = 'a'.repeat(64);
const workerMsgs: Record<string, WorkerMessage> = {
  hello: { t: 'hello', v: V, id: 'w-1', kernelSpec: 3, dtypes: ['float32'], threads: 2 },
  need: { t: 'need', v: V },
  ready: { t: 'ready', v: V },
  done: { t: 'done', v: V, step: 7, computeMs: 1.5 },
  partial: {
    t: 'partial',
    v: V,
    step: 7,
    node: [1, 0],
    dtype: 'float32',
    count: 16,
    lossSum: 2.5,
    stats: new Float64Array(S).fill(1),
    grads: new Float32Array(P).fill(0.5),
  },
  error: { t: 'error', v: V, code: 'GS_ERR_X', message: 'boom' },
};
const coordMsgs: Record<string, CoordinatorMessage> = {
  run: {
    t: 'run',
    v: V,
    run: 'r1',
    executor: 'remote-w-1',
    microBatch: 4,
    spec: {
      inputs: 2,
      layers: [
        { units: 3, activation: 'tanh' },
        { units: 1, activation: 'linear' },
      ],
      loss: 'half-sse',
      dtype: 'float32',
    },
    data: { name: 'd', sha256: sha, payloadSha256: sha, n: 20, inputs: 2, outputs: 1, bytes: 20 * 3 * 4, chunkBytes: 4096 },
  },
  chunk: { t: 'chunk', v: V, seq: 1, bytes: new Uint8Array(100) },
  step: {
    t: 'step',
    v: V,
    step: 3,
    order: Uint32Array.from({ length: 8 }, (_, i) => i),
    nodes: [
      [1, 0],
      [0, 2],
    ],
    params: new Float32Array(P),
  },
  error: { t: 'error', v: V, code: 'GS_ERR_Y', message: 'bye' },
};

type Decoder = { name: string; decode: (b: Uint8Array) => unknown; valid: Buffer[] };
const decoders: Decoder[] = [
  { name: 'decodePartial', decode: (b) => decodePartial(b, partialLim), valid: [encodeMessage(workerMsgs.partial!)] },
  { name: 'decodeWorkerMessage', decode: (b) => decodeWorkerMessage(b, workerLim), valid: Object.values(workerMsgs).map(encodeMessage) },
  {
    name: 'decodeCoordinatorMessage (before the run)',
    decode: (b) => decodeCoordinatorMessage(b, coordLim),
    valid: [encodeMessage(coordMsgs.run!), encodeMessage(coordMsgs.error!)],
  },
  {
    name: 'decodeCoordinatorMessage (during the run)',
    decode: (b) => decodeCoordinatorMessage(b, coordRunLim),
    valid: Object.values(coordMsgs).map(encodeMessage),
  },
];

/** Decodes; a refusal must be a coded GradsyncError. Returns 'ok' or the code. */
function outcome(d: Decoder, frame: Uint8Array): string {
  try {
    d.decode(frame);
    return 'ok';
  } catch (e) {
    if (!(e instanceof GradsyncError))
      throw new Error(
        `${d.name} threw an uncoded ${(e as Error)?.name}: ${(e as Error)?.message} for frame ${Buffer.from(frame.subarray(0, 64)).toString('hex')}`,
      );
    assert.ok(e.code === 'GS_ERR_WIRE' || e.code === 'GS_ERR_PROTOCOL', `${d.name}: code ${e.code}`);
    return e.code;
  }
}

/** Values a hostile peer puts in a field. */
const deep = (n: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = [v];
  return v;
};
const protoKeys = JSON.parse('{"__proto__": {"polluted": 1}, "constructor": {"prototype": 1}, "toString": 1, "valueOf": 1}') as object;
const HOSTILE: unknown[] = [
  -1,
  0,
  -0,
  0.5,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  1e308,
  -1e308,
  NaN,
  Infinity,
  -Infinity,
  2n ** 63n - 1n,
  -(2n ** 63n),
  true,
  false,
  null,
  '',
  'x'.repeat(5000),
  '\u0000',
  '../../etc/passwd',
  'float16',
  [],
  {},
  [1, 2, 3],
  [-1, 0],
  [2 ** 53, 0],
  [0, -1],
  [0, 2 ** 32],
  [[1, 0]],
  deep(3),
  deep(40),
  protoKeys,
  { toString: 1 },
  { valueOf: {} },
  Buffer.alloc(0),
  Buffer.alloc(3),
  Buffer.alloc(5),
  Buffer.alloc(70_000),
  new Array(5000).fill(0),
];
const hostile = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE) },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 3, maxKeys: 5, withBigInt: false, withNullPrototype: true, withTypedArray: false }) },
);

/** Field paths inside each valid message that a mutation may target. */
function pathsOf(v: unknown, prefix: (string | number)[] = [], depth = 0): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (depth > 3 || v instanceof Uint8Array || ArrayBuffer.isView(v) || typeof v !== 'object' || v === null) return out;
  for (const [k, x] of Object.entries(v)) out.push(...pathsOf(x, [...prefix, Array.isArray(v) ? Number(k) : k], depth + 1));
  return out;
}

/** Plain object form of a message, as packed on the wire (typed arrays as bins). */
function plain(frame: Buffer): Record<string, unknown> {
  return new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' } as never).unpack(frame) as Record<string, unknown>;
}

function setPath(o: Record<string, unknown>, p: (string | number)[], value: unknown, del: boolean): unknown {
  if (p.length === 0) return value;
  const copy = structuredClone(o) as Record<string, unknown>;
  let cur = copy as Record<string | number, unknown>;
  for (const k of p.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  const last = p[p.length - 1]!;
  if (del) delete cur[last];
  else cur[last] = value;
  return copy;
}

describe('fuzzing the wire: every decoder of codec.ts (issue 7)', function () {
  this.timeout(120_000);

  for (const d of decoders) {
    describe(d.name, () => {
      it('accepts its valid frames (the fuzzing starts from real messages)', () => {
        for (const f of d.valid) assert.equal(outcome(d, f), 'ok', plain(f).t as string);
      });

      it('random bytes: refused with a coded error or decoded, never anything else', () => {
        fc.assert(
          fc.property(fc.uint8Array({ maxLength: 400 }), (b) => {
            outcome(d, b);
          }),
          { numRuns: 1500 },
        );
        // random bytes behind a valid map header and type tag
        fc.assert(
          fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(255), (b, h) => {
            outcome(d, Buffer.concat([Buffer.from([0x80 | (h & 0x0f)]), b]));
          }),
          { numRuns: 1000 },
        );
      });

      it('every truncation of every valid frame is refused', () => {
        for (const f of d.valid) {
          for (let cut = 0; cut < f.length; cut += Math.max(1, Math.floor(f.length / 400))) {
            assert.notEqual(outcome(d, f.subarray(0, cut)), 'ok', `cut at ${cut} of ${f.length}`);
          }
        }
      });

      it('mutated bytes of valid frames: refused with a coded error or decoded', () => {
        fc.assert(
          fc.property(
            fc.nat(d.valid.length - 1),
            fc.array(fc.tuple(fc.nat(1 << 20), fc.nat(255)), { minLength: 1, maxLength: 8 }),
            (which, muts) => {
              const b = Buffer.from(d.valid[which]!);
              for (const [at, v] of muts) b[at % b.length] = v;
              outcome(d, b);
            },
          ),
          { numRuns: 2000 },
        );
      });

      it('structurally valid frames with hostile values in any field (or a field removed, or an extra one)', () => {
        const shapes = d.valid.map((f) => plain(f));
        fc.assert(
          fc.property(
            fc.nat(shapes.length - 1),
            fc.nat(1000),
            hostile,
            fc.constantFrom('set', 'delete', 'extra'),
            (which, pi, value, op) => {
              const base = shapes[which]!;
              const paths = pathsOf(base).filter((p) => p.length > 0);
              const p = paths[pi % paths.length]!;
              let msg: unknown;
              if (op === 'extra') msg = setPath(base, [...p.slice(0, -1), '__extra'], value, false);
              else msg = setPath(base, p, value, op === 'delete');
              let frame: Buffer;
              try {
                frame = packr.pack(msg);
              } catch {
                return; // not encodable as msgpack: a peer cannot send it either
              }
              const r = outcome(d, frame);
              // a hostile value in the type tag, version, a shape or a length is never accepted
              if (op !== 'delete' && ['t', 'v'].includes(String(p[0])) && p.length === 1 && value !== base[String(p[0])])
                assert.notEqual(r, 'ok');
            },
          ),
          { numRuns: 3000 },
        );
      });
    });
  }

  it('hostile shapes are refused by name: negative or enormous sizes, nodes, steps and lengths', () => {
    const w = decoders[1]!;
    const c = decoders[3]!;
    const refuse = (d: Decoder, m: unknown, re: RegExp): void => {
      assert.throws(
        () => d.decode(packr.pack(m)),
        (e: unknown) => e instanceof GradsyncError && re.test(e.message),
        JSON.stringify(m, (_k, v: unknown) => (v instanceof Uint8Array ? `bin(${v.length})` : v)),
      );
    };
    const part = plain(encodeMessage(workerMsgs.partial!));
    refuse(w, { ...part, node: [-1, 0] }, /field "node"/);
    refuse(w, { ...part, node: [7, 0] }, /field "node" must be \[h, i\] with 0 ≤ h ≤ 6/);
    refuse(w, { ...part, step: 51 }, /field "step" must be an integer in \[1, 50\]/);
    refuse(w, { ...part, count: -3 }, /field "count"/);
    refuse(w, { ...part, grads: Buffer.alloc(P * 4 + 1) }, /field "grads" has 49 bytes, expected 12 × 4/);
    refuse(w, { ...part, grads: Buffer.alloc(P * 4 * 1000) }, /field "grads"/);
    refuse(w, { ...workerMsgs.hello, threads: 1e9 }, /field "threads"/);
    refuse(w, { ...workerMsgs.hello, id: '../x' }, /field "id"/);
    refuse(w, { ...workerMsgs.done, computeMs: -1 }, /field "computeMs"/);
    const run = plain(encodeMessage(coordMsgs.run!));
    const spec = run.spec as Record<string, unknown>;
    refuse(c, { ...run, spec: { ...spec, inputs: -2 } }, /field "spec"/);
    refuse(c, { ...run, spec: { ...spec, inputs: 2 ** 40 } }, /field "spec"/);
    refuse(c, { ...run, spec: { ...spec, layers: [{ units: -1, activation: 'tanh' }] } }, /field "spec"/);
    refuse(c, { ...run, spec: { ...spec, layers: new Array(65).fill({ units: 1, activation: 'linear' }) } }, /at most 64 layers/);
    refuse(c, { ...run, data: { ...(run.data as object), n: 2 ** 40 } }, /field "n"/);
    refuse(c, { ...run, data: { ...(run.data as object), bytes: 2 ** 40 } }, /field "bytes"/);
    const step = plain(encodeMessage(coordMsgs.step!));
    refuse(c, { ...step, order: Buffer.alloc(6) }, /field "order"/);
    refuse(c, { ...step, order: Buffer.from(Uint32Array.of(20).buffer) }, /not a row of 20/);
    refuse(c, { ...step, nodes: new Array(129).fill([0, 0]) }, /field "nodes"/);
    refuse(c, { ...step, nodes: [[0, -1]] }, /field "nodes"/);
    refuse(c, { ...step, params: Buffer.alloc(P * 4 - 4) }, /field "params"/);
    refuse(c, { ...plain(encodeMessage(coordMsgs.chunk!)), seq: 2 }, /field "seq"/);
    refuse(c, { ...plain(encodeMessage(coordMsgs.chunk!)), bytes: Buffer.alloc(4097) }, /field "bytes"/);
  });

  it('a prototype key never pollutes Object.prototype', () => {
    const w = decoders[1]!;
    for (const m of [
      { ...workerMsgs.need, ['__proto__']: { polluted: 1 } },
      JSON.parse(`{"t":"need","v":${V},"__proto__":{"polluted":1}}`) as object,
    ]) {
      try {
        w.decode(packr.pack(m));
      } catch {
        /* refused is fine */
      }
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('memory stays bounded: 4,000 hostile frames (huge declared lengths, deep nesting) grow the heap by less than 64 MB', () => {
    const frames: Buffer[] = [
      Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), // array32 of 4G entries
      Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff]), // map32 of 4G pairs
      Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xf0, 0, 0]), // bin32 of 4 GB
      Buffer.from([0xdb, 0x7f, 0xff, 0xff, 0xff, 0x41]), // str32 of 2 GB
      Buffer.from(Array.from({ length: 3 * 24000 }, (_, i) => [0xdc, 0xff, 0xff][i % 3]!)), // array16 chain (msgpackr PR #200)
      Buffer.alloc(20000, 0x91), // fixarray nested 20,000 deep
      Buffer.concat([Buffer.from([0x81, 0xa1, 0x74]), Buffer.alloc(20000, 0x91), Buffer.from([0x01])]),
    ];
    const before = process.memoryUsage().heapUsed;
    let refused = 0;
    for (let i = 0; i < 4000; i++) {
      for (const d of decoders) if (outcome(d, frames[i % frames.length]!) !== 'ok') refused++;
    }
    const grown = process.memoryUsage().heapUsed - before;
    assert.equal(refused, 4000 * decoders.length);
    assert.ok(grown < 64 * 2 ** 20, `heap grew by ${(grown / 2 ** 20).toFixed(1)} MB`);
  });
});

describe('run messages a worker could never hold', () => {
  const expectRefused = (msg: CoordinatorMessage, re: RegExp): void => {
    assert.throws(
      () => decodeCoordinatorMessage(encodeMessage(msg), coordLim),
      (e: unknown) => {
        assert.ok(e instanceof GradsyncError, String(e));
        assert.equal(e.code, 'GS_ERR_WIRE');
        assert.match(e.message, re);
        return true;
      },
    );
  };
  const run = coordMsgs.run as Extract<CoordinatorMessage, { t: 'run' }>;

  it('refuses a model over 2^24 parameters before allocating', () => {
    expectRefused(
      {
        ...run,
        spec: {
          ...run.spec,
          inputs: 1 << 24,
          layers: [
            { units: 1 << 24, activation: 'tanh' },
            { units: 1, activation: 'linear' },
          ],
        },
        data: { ...run.data, inputs: 1 << 24, bytes: 20 * ((1 << 24) + 1) * 4 },
      },
      /parameters exceed the wire's limit of 16777216/,
    );
  });

  it('refuses a micro-batch whose workspace would exceed 2^24 values', () => {
    expectRefused(
      {
        ...run,
        microBatch: 1 << 20,
        spec: {
          ...run.spec,
          layers: [
            { units: 100, activation: 'tanh' },
            { units: 1, activation: 'linear' },
          ],
        },
      },
      /exceed the workspace limit/,
    );
  });
});
