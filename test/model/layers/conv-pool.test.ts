import assert from 'node:assert/strict';
import { gradcheck } from '../../../src/model/gradcheck';
import { Model } from '../../../src/model/model';
import { initParams, layoutOf } from '../../../src/model/params';
import type { LayerSpec, ModelSpec } from '../../../src/model/spec';
import { referenceKernels } from '../../../src/tensor/reference-kernels';
import { col2im, im2col, type ConvGeometry } from '../../../src/tensor/im2col';
import { Rng } from '../../../src/tensor/rng';

/** A small problem: input [c, h, w], the layers, then flatten + a dense softmax of 3 classes; non-zero weights and biases. */
function problem(input: [number, number, number], layers: LayerSpec[], rows = 3, seed = 5) {
  const spec: ModelSpec = {
    inputs: input[0] * input[1] * input[2],
    input,
    layers: [...layers, { type: 'flatten' }, { units: 3, activation: 'softmax' }],
    loss: 'cross-entropy',
    dtype: 'float64',
  };
  const lay = layoutOf(spec);
  const rng = new Rng(seed);
  const params = new Float64Array(lay.size);
  initParams(lay, { scheme: 'glorot-uniform', gain: 1.5 }, rng, params);
  for (const s of lay.layers) for (let j = 0; j < s.bSize; j++) params[s.b + j] = rng.uniform(-0.3, 0.3);
  const x = Float64Array.from({ length: rows * spec.inputs }, () => rng.uniform(-1, 1));
  const y = new Float64Array(rows * 3);
  for (let r = 0; r < rows; r++) y[r * 3 + (r % 3)] = 1;
  return { spec, params, x, y, rows };
}

function assertPasses(p: ReturnType<typeof problem>, opts = {}): ReturnType<typeof gradcheck> {
  const r = gradcheck(p.spec, p.params, p.x, p.y, p.rows, { samplesPerTensor: 1000, ...opts });
  for (const t of r.tensors) {
    assert.ok(
      t.pass,
      `${t.tensor}: max rel error ${t.maxRelError} at ${t.worst.index} (analytic ${t.worst.analytic}, numeric ${t.worst.numeric})`,
    );
    assert.ok(t.checked - t.kinks > 0, `${t.tensor}: every entry was a kink`);
  }
  return r;
}

/** Direct convolution, the definition: out[n, f, y, x] = b[f] + Σ_{c,i,j} W[f, c, i, j]·x[n, c, y·s − p + i, x·s − p + j]. */
function directConv(x: Float64Array, W: Float64Array, b: Float64Array, rows: number, g: ConvGeometry, f: number): Float64Array {
  const out = new Float64Array(rows * f * g.oh * g.ow);
  for (let n = 0; n < rows; n++)
    for (let o = 0; o < f; o++)
      for (let y = 0; y < g.oh; y++)
        for (let xx = 0; xx < g.ow; xx++) {
          let s = 0;
          for (let c = 0; c < g.c; c++)
            for (let i = 0; i < g.kh; i++)
              for (let j = 0; j < g.kw; j++) {
                const h = y * g.stride - g.pad + i;
                const w = xx * g.stride - g.pad + j;
                if (h >= 0 && h < g.h && w >= 0 && w < g.w)
                  s += W[((o * g.c + c) * g.kh + i) * g.kw + j]! * x[((n * g.c + c) * g.h + h) * g.w + w]!;
              }
          out[((n * f + o) * g.oh + y) * g.ow + xx] = s + b[o]!;
        }
  return out;
}

describe('conv2d', () => {
  it('computes the direct convolution (NCHW, weight [out, in, kh, kw]) on a ragged shape with stride 2 and padding 1', () => {
    const p = problem([2, 7, 5], [{ type: 'conv2d', filters: 3, kernel: 3, stride: 2, padding: 1, activation: 'linear' }], 2);
    const m = new Model(p.spec, referenceKernels('float64'), p.rows);
    m.input().set(p.x);
    m.forward(p.params, p.rows);
    const conv = m.layers[0]!;
    assert.deepEqual(conv.outShape, [3, 4, 3]);
    const s = m.layout.layers[0]!;
    assert.deepEqual(s.wShape, [3, 2, 3, 3]);
    const g: ConvGeometry = { c: 2, h: 7, w: 5, kh: 3, kw: 3, stride: 2, pad: 1, oh: 4, ow: 3 };
    const want = directConv(p.x, p.params.subarray(s.w, s.w + s.wSize), p.params.subarray(s.b, s.b + s.bSize), p.rows, g, 3);
    // flatten's output is conv's, in C·H·W order
    const flat = new Float64Array(p.rows * 36);
    const out = (m as unknown as { a: Float64Array[] }).a[2]!;
    flat.set(out.subarray(0, p.rows * 36));
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(flat[i]! - want[i]!) < 1e-12, `element ${i}: ${flat[i]} vs ${want[i]}`);
  });

  it('col2im is the adjoint of im2col: <im2col(x), c> = <x, col2im(c)>', () => {
    const g: ConvGeometry = { c: 2, h: 5, w: 6, kh: 3, kw: 2, stride: 2, pad: 1, oh: 3, ow: 4 };
    const rng = new Rng(9);
    const rows = 2;
    const x = Float64Array.from({ length: rows * 60 }, () => rng.uniform(-1, 1));
    const c = Float64Array.from({ length: rows * 12 * 12 }, () => rng.uniform(-1, 1));
    const cols = new Float64Array(c.length);
    const dx = new Float64Array(x.length);
    im2col(rows, g, x, cols);
    col2im(rows, g, c, dx);
    let a = 0;
    let b = 0;
    for (let i = 0; i < c.length; i++) a += cols[i]! * c[i]!;
    for (let i = 0; i < x.length; i++) b += x[i]! * dx[i]!;
    assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
  });

  for (const [name, input, conv] of [
    ['3×3, stride 1, padding 1, relu', [2, 5, 4], { filters: 3, kernel: 3, padding: 1, activation: 'relu' }],
    ['ragged 7×5, stride 2, padding 1, tanh', [1, 7, 5], { filters: 2, kernel: 3, stride: 2, padding: 1, activation: 'tanh' }],
    ['2×2, stride 2, no padding, sigmoid', [3, 4, 6], { filters: 2, kernel: 2, stride: 2, activation: 'sigmoid' }],
    ['kernel as large as the padded input', [1, 3, 3], { filters: 2, kernel: 5, padding: 1, activation: 'linear' }],
  ] as const) {
    it(`gradients (W, b and the input's, through a second conv) agree with finite differences: ${name}`, () => {
      const first = { type: 'conv2d', ...conv } as LayerSpec;
      const second: LayerSpec = { type: 'conv2d', filters: 2, kernel: 1, activation: 'tanh' };
      assertPasses(problem(input as [number, number, number], [first, second]));
    });
  }
});

describe('maxpool2d and avgpool2d', () => {
  for (const type of ['maxpool2d', 'avgpool2d'] as const) {
    for (const [size, stride] of [
      [2, 2],
      [3, 1],
      [2, 1],
    ] as const) {
      it(`${type} size ${size} stride ${stride}: the input's gradient (through the conv before it) agrees with finite differences`, () => {
        const p = problem(
          [1, 6, 6],
          [
            { type: 'conv2d', filters: 2, kernel: 3, padding: 1, activation: 'tanh' },
            { type, size, stride },
          ],
        );
        assertPasses(p);
      });
    }
  }

  it('max: the first maximum in row-major order wins a tie, and only it gets the gradient', () => {
    const spec: ModelSpec = {
      inputs: 16,
      input: [1, 4, 4],
      layers: [{ type: 'maxpool2d', size: 2 }, { type: 'flatten' }, { units: 1, activation: 'linear' }],
      loss: 'half-sse',
      dtype: 'float64',
    };
    const m = new Model(spec, referenceKernels('float64'), 1);
    // window (0,0): 5 at (0,1) and (1,0); window (0,1): all 2; window (1,0): NaN-free 1 then 3; window (1,1): -1 everywhere
    m.input().set([1, 5, 2, 2, 5, 0, 2, 2, 1, 0, -1, -1, 3, 3, -1, -1]);
    const params = Float64Array.from([1, 1, 1, 1, 0]);
    const out = m.forward(params, 1);
    assert.equal(out[0], 5 + 2 + 3 - 1);
    m.target()[0] = out[0]! - 1; // dJ/dŷ = 1
    const grads = new Float64Array(5);
    m.backward(params, 1, grads);
    const pool = m.layers[0]!;
    const gIn = new Float64Array(16);
    pool.backward(1, m.input(), new Float64Array(4), Float64Array.from([1, 2, 3, 4]), null, null, null, gIn, {});
    assert.deepEqual(Array.from(gIn), [0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0, 0]);
  });

  it("max 2×2 stride 2 (its own unrolled loop): on ties, NaNs and signed zeros, the definition's outputs and winners, both dtypes", () => {
    const [c, h, w, rows] = [3, 6, 8, 2];
    const values = [0, -0, 1, 1, 2, -1, NaN, Infinity, -Infinity];
    for (const dtype of ['float32', 'float64'] as const) {
      const spec: ModelSpec = {
        inputs: c * h * w,
        input: [c, h, w],
        layers: [{ type: 'maxpool2d', size: 2 }, { type: 'flatten' }, { units: 1, activation: 'linear' }],
        loss: 'half-sse',
        dtype,
      };
      const m = new Model(spec, referenceKernels(dtype), rows);
      const rng = new Rng(11);
      const x = m.input();
      for (let i = 0; i < rows * c * h * w; i++) x[i] = values[Math.floor(rng.uniform(0, values.length))]!;
      const pool = m.layers[0]!;
      const n = rows * pool.outSize;
      const out = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
      pool.forward(rows, x, null, null, out, {} as never);
      const g = Float64Array.from({ length: n }, (_, i) => i + 1);
      const gIn = new Float64Array(rows * c * h * w);
      pool.backward(rows, x, out, g, null, null, null, gIn, {});
      const wantOut: number[] = [];
      const wantG = new Float64Array(rows * c * h * w);
      for (let r = 0; r < rows; r++)
        for (let ch = 0; ch < c; ch++)
          for (let y = 0; y < h / 2; y++)
            for (let x0 = 0; x0 < w / 2; x0++) {
              let best = NaN;
              let at = -1;
              for (let i = 0; i < 2; i++)
                for (let j = 0; j < 2; j++) {
                  const q = r * c * h * w + ch * h * w + (2 * y + i) * w + 2 * x0 + j;
                  const v = x[q]!;
                  if (at < 0 || v > best || (Number.isNaN(v) && !Number.isNaN(best))) [best, at] = [v, q];
                }
              wantG[at] += g[wantOut.length]!;
              wantOut.push(best);
            }
      assert.equal(wantOut.length, n);
      wantOut.forEach((v, i) => assert.ok(Object.is(v, out[i]), `${dtype} output ${i}: ${out[i]} for ${v}`));
      assert.deepEqual(Array.from(gIn), Array.from(wantG), `${dtype}: the gradient goes to the first winner`);
    }
  });

  it('max: a NaN in a window wins (NaN propagates)', () => {
    const spec: ModelSpec = {
      inputs: 4,
      input: [1, 2, 2],
      layers: [{ type: 'maxpool2d', size: 2 }, { type: 'flatten' }, { units: 1, activation: 'linear' }],
      loss: 'half-sse',
      dtype: 'float64',
    };
    const m = new Model(spec, referenceKernels('float64'), 1);
    m.input().set([1, NaN, 7, 2]);
    assert.ok(Number.isNaN(m.forward(Float64Array.from([1, 0]), 1)[0]));
  });

  it('avg: the mean of each window', () => {
    const spec: ModelSpec = {
      inputs: 8,
      input: [2, 2, 2],
      layers: [{ type: 'avgpool2d', size: 2 }, { type: 'flatten' }, { units: 2, activation: 'linear' }],
      loss: 'half-sse',
      dtype: 'float64',
    };
    const m = new Model(spec, referenceKernels('float64'), 1);
    m.input().set([1, 2, 3, 4, -1, -1, -1, 5]);
    assert.deepEqual(Array.from(m.forward(Float64Array.from([1, 0, 0, 1, 0, 0]), 1)), [2.5, 0.5]);
  });
});

describe('flatten', () => {
  it('keeps C·H·W order and passes the gradient through (finite differences through a conv before it)', () => {
    assertPasses(problem([2, 3, 3], [{ type: 'conv2d', filters: 2, kernel: 2, activation: 'sigmoid' }]));
  });
});
