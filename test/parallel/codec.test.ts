import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { decodePartial, encodePartial, type PartialLimits } from '../../src/parallel/codec-partials';
import { scanMsgpack } from '../../src/parallel/codec-frame';
import { PROTOCOL_VERSION, type PartialMessage } from '../../src/parallel/messages';
import { GradsyncError } from '../../src/errors';
import { assertBitEqual } from '../helpers/close';

function message(dtype: 'float32' | 'float64', n = 37, s = 5): PartialMessage {
  const grads = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  const special = [NaN, -0, 0, Infinity, -Infinity, 5e-324, 1.4e-45, -1e-310, 3.4e38, Math.PI];
  for (let i = 0; i < n; i++) grads[i] = i < special.length ? special[i]! : Math.sin(i) * 10 ** ((i % 11) - 5);
  const stats = Float64Array.from({ length: s }, (_, i) => i * 3);
  return { t: 'partial', v: PROTOCOL_VERSION, step: 12, node: [2, 3], dtype, count: 64, lossSum: 1.25, stats, grads };
}

const limits = (dtype: 'float32' | 'float64', n = 37, s = 5): PartialLimits => ({
  maxBytes: 1 << 20,
  dtype,
  paramCount: n,
  statsSize: s,
  maxHeight: 10,
  step: 12,
});

function expectWire(frame: Uint8Array, lim: PartialLimits, msg: RegExp, code = 'GS_ERR_WIRE'): void {
  assert.throws(
    () => decodePartial(frame, lim),
    (e: unknown) => {
      assert.ok(e instanceof GradsyncError, String(e));
      assert.equal(e.code, code);
      assert.match(e.message, msg);
      return true;
    },
  );
}

describe('codec: partial messages', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`round-trips every ${dtype} value bit for bit (NaN, −0, ±Infinity, subnormals)`, () => {
      const m = message(dtype);
      const d = decodePartial(encodePartial(m), limits(dtype));
      assertBitEqual(d.grads, m.grads, 'grads');
      assertBitEqual(d.stats, m.stats, 'stats');
      assert.deepEqual([d.step, d.node, d.count, d.lossSum, d.dtype], [12, [2, 3], 64, 1.25, dtype]);
    });
  }

  it('round-trips from an unaligned position in a larger buffer', () => {
    const enc = encodePartial(message('float64'));
    const big = Buffer.alloc(enc.length + 3);
    enc.copy(big, 3);
    const d = decodePartial(big.subarray(3), limits('float64'));
    assertBitEqual(d.grads, message('float64').grads);
  });

  it('rejects wrong shapes, dtype, version, stale steps, nodes and unknown fields, naming the field', () => {
    expectWire(encodePartial(message('float32', 36)), limits('float32'), /field "grads" has 144 bytes, expected 37 × 4 = 148/);
    expectWire(encodePartial(message('float32', 37, 4)), limits('float32'), /field "stats" has 32 bytes, expected 5 × 8 = 40/);
    expectWire(encodePartial(message('float64')), limits('float32'), /field "dtype": "float64" is not the run's float32/);
    expectWire(
      encodePartial({ ...message('float32'), v: 999 }),
      limits('float32'),
      new RegExp(`protocol version 999 does not match this coordinator's ${PROTOCOL_VERSION}$`),
      'GS_ERR_PROTOCOL',
    );
    // a "v" that is no version at all (bytes that happen to decode as a map): a bad frame, not another protocol
    const { v: _v, ...unversioned } = message('float32');
    for (const [m, got] of [
      [unversioned, 'undefined'],
      [{ ...unversioned, v: '2' }, '"2"'],
      [{ ...unversioned, v: 2.5 }, '2.5'],
    ] as const)
      expectWire(
        new Packr({ useRecords: false }).pack(m),
        limits('float32'),
        new RegExp(`field "v" must be the protocol version, an integer; got ${got}$`),
      );
    expectWire(
      encodePartial({ ...message('float32'), step: 11 }),
      limits('float32'),
      /field "step": 11 is not the current step 12 \(stale or replayed\)/,
    );
    expectWire(encodePartial({ ...message('float32'), node: [11, 0] }), limits('float32'), /field "node" must be \[h, i\]/);
    expectWire(encodePartial({ ...message('float32'), count: 0 }), limits('float32'), /field "count" must be a positive integer/);
    const p = new Packr({ useRecords: false });
    expectWire(p.pack({ t: 'partial', v: PROTOCOL_VERSION, evil: 1 }), limits('float32'), /unknown field "evil"/);
    expectWire(p.pack([1, 2]), limits('float32'), /must be a msgpack map/);
  });

  it('refuses hostile structures before decoding anything', () => {
    const lim = limits('float32');
    expectWire(Buffer.from([0xc1]), lim, /type byte 0xc1 at byte 0 is not allowed/);
    expectWire(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), lim, /declares 4294967295 entries, only 0 bytes remain/);
    expectWire(Buffer.from([0xc6, 0x7f, 0xff, 0xff, 0xff, 0]), lim, /bin32 at byte 5 declares 2147483647 bytes/);
    const nested = Buffer.alloc(3 * 24000);
    for (let i = 0; i < 24000; i++) nested.set([0xdc, 0xff, 0xff], i * 3);
    expectWire(nested, lim, /declares 65535 entries|nesting deeper/);
    const deep = Buffer.alloc(10, 0x91); // fixarray of one, nested 10 deep
    expectWire(deep, lim, /nesting deeper than 2/);
    // a msgpackr record definition (ext 0x72) — the CVE-2023-52079 family
    expectWire(Buffer.from([0xd4, 0x72, 0x40]), lim, /type byte 0xd4 at byte 0 is not allowed/);
    const enc = encodePartial(message('float32'));
    expectWire(enc.subarray(0, enc.length - 7), lim, /declares .* bytes, only .* remain|declares .* entries/);
    expectWire(Buffer.concat([enc, Buffer.from([0])]), lim, /ends at byte .* but the frame has/);
    expectWire(enc, { ...lim, maxBytes: 100 }, /exceeds the limit of 100/);
  });

  it('property: random, truncated and mutated frames are decoded or refused with a coded error, never anything else', () => {
    const valid = encodePartial(message('float32'));
    const lim = limits('float32');
    const check = (frame: Uint8Array): void => {
      try {
        decodePartial(frame, lim);
      } catch (e) {
        assert.ok(e instanceof GradsyncError, `uncoded ${String(e)}`);
        assert.ok(e.code === 'GS_ERR_WIRE' || e.code === 'GS_ERR_PROTOCOL');
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => check(b)),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.nat(valid.length), (cut) => check(valid.subarray(0, cut))),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        (muts) => {
          const b = Buffer.from(valid);
          for (const [at, v] of muts) b[at] = v;
          check(b);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('scanMsgpack accepts what msgpackr writes for plain values', () => {
    const p = new Packr({ useRecords: false });
    for (const v of [0, -1, 1e300, 'x'.repeat(300), [1, [2, [3]]], { a: 1, b: 'c' }, true, null, Buffer.alloc(70000)]) {
      const b = p.pack(v);
      assert.equal(scanMsgpack(b, { maxDepth: 8, maxItems: 100 }), b.length);
    }
  });
});
