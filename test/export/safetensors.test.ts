/**
 * The safetensors writer and reader: the byte layout the format's spec gives (read back here by
 * hand, not by our reader), every malformed file named by byte or tensor, and the state dict's
 * strict load (names, shapes, dtypes, values).
 */
import assert from 'node:assert/strict';
import { GradsyncError } from '../../src/errors';
import { layoutOf } from '../../src/model/params';
import type { ModelSpec } from '../../src/model/spec';
import { decodeSafetensors, encodeSafetensors } from '../../src/export/safetensors';
import { loadStateDict, stateDictOf, toSafetensors } from '../../src/export/state-dict';
import { Rng } from '../../src/tensor/rng';
import { assertBitEqual } from '../helpers/close';

const spec = (dtype: 'float32' | 'float64'): ModelSpec => ({
  inputs: 3,
  layers: [
    { units: 4, activation: 'relu' },
    { units: 2, activation: 'softmax' },
  ],
  loss: 'cross-entropy',
  dtype,
});

function seeded(s: ModelSpec): Float32Array | Float64Array {
  const n = layoutOf(s).size;
  const rng = new Rng(5);
  const p = s.dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) p[i] = rng.uniform(-1, 1);
  return p;
}

/** A file from a header given as text (its length written as N, no padding) and a data section. */
function craft(header: string | object, data: Uint8Array = new Uint8Array(0)): Buffer {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const pre = Buffer.alloc(8);
  pre.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([pre, h, data]);
}

function throwsWeights(f: () => unknown, message: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof GradsyncError, String(e));
    assert.equal(e.code, 'GS_ERR_WEIGHTS');
    assert.equal(e.exitCode, 2);
    assert.match(e.message, message);
    return true;
  });
}

const F = 'w.safetensors';
const t = (dtype: string, shape: number[], begin: number, end: number): object => ({ dtype, shape, data_offsets: [begin, end] });

describe('export: safetensors', () => {
  it('writes the spec layout: u64 LE header length, JSON header padded with spaces to 8 bytes, tensors in state-dict order, raw LE bytes', () => {
    const s = spec('float32');
    const p = seeded(s);
    const file = toSafetensors(s, layoutOf(s), p);
    const n = Number(file.readBigUInt64LE(0));
    assert.equal((8 + n) % 8, 0);
    const text = file.subarray(8, 8 + n).toString('utf8');
    assert.match(text, /^\{"__metadata__":\{"format":"pt",/);
    assert.match(text, /\} *$/);
    assert.ok(/^ *$/.test(text.slice(text.trimEnd().length)));
    const h = JSON.parse(text) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    assert.deepEqual(Object.keys(h), ['__metadata__', '0.weight', '0.bias', '2.weight', '2.bias']);
    assert.deepEqual(h['0.weight'], { dtype: 'F32', shape: [4, 3], data_offsets: [0, 48] });
    assert.deepEqual(h['0.bias'], { dtype: 'F32', shape: [4], data_offsets: [48, 64] });
    assert.deepEqual(h['2.weight'], { dtype: 'F32', shape: [2, 4], data_offsets: [64, 96] });
    assert.deepEqual(h['2.bias'], { dtype: 'F32', shape: [2], data_offsets: [96, 104] });
    assert.equal(file.length, 8 + n + 104);
    // W (nOut, nIn) row-major is PyTorch's Linear weight [out, in]: the same elements in the same order
    for (let i = 0; i < p.length; i++) assert.equal(file.readFloatLE(8 + n + 4 * i), p[i]);
  });

  it('reads back what it writes, bit for bit, in both dtypes', () => {
    for (const d of ['float32', 'float64'] as const) {
      const s = spec(d);
      const p = seeded(s);
      const back = d === 'float32' ? new Float32Array(p.length) : new Float64Array(p.length);
      loadStateDict(s, layoutOf(s), decodeSafetensors(toSafetensors(s, layoutOf(s), p), F), back, F);
      assertBitEqual(back, p, d);
    }
  });

  it('reads tensors in any order in the data section, and widens F32 into a float64 model exactly', () => {
    const s32 = spec('float32');
    const p32 = seeded(s32);
    const tensors = stateDictOf(s32, layoutOf(s32), p32).reverse();
    const s64 = spec('float64');
    const back = new Float64Array(p32.length);
    loadStateDict(s64, layoutOf(s64), decodeSafetensors(encodeSafetensors(tensors), F), back, F);
    assertBitEqual(back, Float64Array.from(p32), 'widened');
  });

  describe('a malformed file is GS_ERR_WEIGHTS naming the byte or the tensor', () => {
    const cases: [string, () => Buffer, RegExp][] = [
      [
        'a file shorter than the header length',
        () => Buffer.from([1, 0, 0]),
        /^w\.safetensors \(bytes 0–7\): the file is 3 bytes long: too short/,
      ],
      [
        'a header length over the format limit',
        () => Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 1, 0, 0]), Buffer.from('{}')]),
        /\(bytes 0–7\): header length 1099511627776 is over the format's limit of 100000000 bytes/,
      ],
      [
        'a header length past the end of the file',
        () => Buffer.concat([Buffer.from([200, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{}')]),
        /\(bytes 0–7\): header length 200 runs past the end of the file \(10 bytes: the header would end at byte 208\)/,
      ],
      [
        'a header that is not an object',
        () => craft('[1, 2]'),
        /\(byte 8\): the header must be a JSON object starting with "\{", found "\[1, 2\]"/,
      ],
      ['a JSON syntax error', () => craft('{"0.weight": {"dtype": "F32",, "shape": [1]}}'), /\(byte 37\): the header is not valid JSON/],
      [
        'a tensor entry that is not an object',
        () => craft({ '0.weight': 3 }),
        /\(tensor "0\.weight"\): must be an object \{dtype, shape, data_offsets\}/,
      ],
      [
        'an unknown key in a tensor entry',
        () => craft({ '0.weight': { ...t('F32', [1], 0, 4), offsets: 1 } }, new Uint8Array(4)),
        /\(tensor "0\.weight"\): unknown key "offsets"/,
      ],
      [
        'an unknown dtype',
        () => craft({ a: t('F31', [1], 0, 4) }, new Uint8Array(4)),
        /\(tensor "a"\): dtype "F31" is not a safetensors dtype/,
      ],
      [
        'a negative dimension',
        () => craft({ a: t('F32', [-1], 0, 4) }, new Uint8Array(4)),
        /\(tensor "a"\): shape must be an array of non-negative integers, got \[-1\]/,
      ],
      [
        'offsets that are not a pair',
        () => craft({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }, new Uint8Array(4)),
        /\(tensor "a"\): data_offsets must be \[begin, end\]/,
      ],
      [
        'offsets that end before they begin',
        () => craft({ a: t('F32', [0], 4, 0) }, new Uint8Array(4)),
        /\(tensor "a"\): data_offsets \[4, 0\] end before they begin/,
      ],
      [
        'a byte count that does not fit dtype × shape',
        () => craft({ a: t('F32', [2, 3], 0, 20) }, new Uint8Array(20)),
        /\(tensor "a"\): shape \[2, 3\] of F32 needs 24 bytes, data_offsets \[0, 20\] hold 20/,
      ],
      [
        'overlapping tensors',
        () => craft({ a: t('F32', [2], 0, 8), b: t('F32', [2], 4, 12) }, new Uint8Array(12)),
        /\(tensor "b"\): its bytes \d+–\d+ overlap those of tensor "a"/,
      ],
      [
        'a gap between tensors',
        () => craft({ a: t('F32', [1], 0, 4), b: t('F32', [1], 8, 12) }, new Uint8Array(12)),
        /belong to no tensor \(a gap before tensor "b"\)/,
      ],
      [
        'bytes after the last tensor',
        () => craft({ a: t('F32', [1], 0, 4) }, new Uint8Array(6)),
        /belong to no tensor \(2 bytes after the last tensor's data\)/,
      ],
      ['a non-string metadata value', () => craft({ __metadata__: { format: 1 } }), /\(__metadata__\."format"\): must be a string, got 1/],
    ];
    for (const [name, make, message] of cases) it(name, () => throwsWeights(() => decodeSafetensors(make(), F), message));

    it('a header that is not UTF-8 names the first bad byte', () => {
      const h = Buffer.from([0x7b, 0x22, 0x61, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]); // {"a\xc3("…: 0xc3 lacks its continuation
      const pre = Buffer.alloc(8);
      pre.writeBigUInt64LE(BigInt(h.length));
      throwsWeights(() => decodeSafetensors(Buffer.concat([pre, h]), F), /\(byte 11\): the header is not valid UTF-8/);
    });

    it('a truncated file names the tensor whose data runs past the end, and the byte it needed', () => {
      const s = spec('float32');
      const whole = toSafetensors(s, layoutOf(s), seeded(s));
      const n = Number(whole.readBigUInt64LE(0));
      throwsWeights(
        () => decodeSafetensors(whole.subarray(0, whole.length - 3), F),
        new RegExp(
          `\\(tensor "2\\.bias"\\): data_offsets \\[96, 104\\] run past the data section's 101 bytes \\(file bytes ${8 + n}–${8 + n + 100}\\): its data would end at file byte ${8 + n + 104}`,
        ),
      );
    });
  });

  describe('loading into a model is strict and names the tensor', () => {
    const s = spec('float32');
    const layout = layoutOf(s);
    const good = stateDictOf(s, layout, seeded(s));
    const load = (tensors: typeof good, into = s): void => {
      const params = into.dtype === 'float32' ? new Float32Array(layout.size) : new Float64Array(layout.size);
      loadStateDict(into, layoutOf(into), decodeSafetensors(encodeSafetensors(tensors), F), params, F);
    };
    it('a missing tensor', () =>
      throwsWeights(
        () => load(good.filter((x) => x.name !== '2.bias')),
        /\(tensor "2\.bias"\): missing: the model needs 0\.weight, 0\.bias, 2\.weight, 2\.bias; the file has "0\.weight", "0\.bias", "2\.weight"/,
      ));
    it('an unexpected tensor', () =>
      throwsWeights(
        () => load([...good, { name: '4.weight', dtype: 'float32', shape: [1], data: new Float32Array(1) }]),
        /\(tensor "4\.weight"\): is not a parameter of the model \(1 unexpected tensor: "4\.weight"\)/,
      ));
    it('a wrong shape (the weight transposed)', () =>
      throwsWeights(
        () => load(good.map((x) => (x.name === '0.weight' ? { ...x, shape: [3, 4] } : x))),
        /\(tensor "0\.weight"\): shape \[3, 4\] does not fit the model, which needs \[4, 3\]/,
      ));
    it('a dtype gradsync does not compute in', () => {
      const bf = craft({ '0.weight': t('BF16', [4, 3], 0, 24) }, new Uint8Array(24));
      throwsWeights(
        () => loadStateDict(s, layout, decodeSafetensors(bf, F), new Float32Array(layout.size), F),
        /\(tensor "0\.weight"\): dtype BF16: gradsync reads F32 and F64 tensors/,
      );
    });
    it('F64 into a float32 model (it would round)', () => {
      const s64 = spec('float64');
      const f64 = stateDictOf(s64, layoutOf(s64), seeded(s64));
      throwsWeights(() => load(f64), /\(tensor "0\.weight"\): is F64 and this run is float32: its values would be rounded/);
    });
    it('a non-finite value', () =>
      throwsWeights(
        () => load(good.map((x) => (x.name === '2.weight' ? { ...x, data: Float32Array.from(x.data, (v, i) => (i === 5 ? NaN : v)) } : x))),
        /\(tensor "2\.weight"\): element 5 is NaN: initial weights must be finite/,
      ));
  });
});
