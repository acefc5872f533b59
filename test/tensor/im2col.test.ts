import assert from 'node:assert/strict';
import { col2im, im2col, type ConvGeometry } from '../../src/tensor/im2col';
import { convGeometry } from '../helpers/kernel-data';

/** im2col by its definition (the header of src/tensor/im2col.ts), element by element. */
function im2colByDefinition(rows: number, g: ConvGeometry, x: Float64Array): Float64Array {
  const { c, h, w, kh, kw, stride: s, pad: p, oh, ow } = g;
  const P = oh * ow;
  const out = new Float64Array(c * kh * kw * rows * P);
  for (let ch = 0; ch < c; ch++)
    for (let i = 0; i < kh; i++)
      for (let j = 0; j < kw; j++)
        for (let n = 0; n < rows; n++)
          for (let y = 0; y < oh; y++)
            for (let q = 0; q < ow; q++) {
              const hy = y * s - p + i;
              const wx = q * s - p + j;
              out[((ch * kh + i) * kw + j) * rows * P + n * P + y * ow + q] =
                hy < 0 || hy >= h || wx < 0 || wx >= w ? 0 : x[((n * c + ch) * h + hy) * w + wx]!;
            }
  return out;
}

/** Every geometry with C ≤ 2, H, W ≤ 7, kernel ≤ 5, stride 1–2, padding 0–2 that has an output. */
function* geometries(): Generator<ConvGeometry> {
  for (const c of [1, 2])
    for (let h = 1; h <= 7; h += 2)
      for (let w = 1; w <= 7; w += 3)
        for (let k = 1; k <= 5; k += 2)
          for (const stride of [1, 2])
            for (const pad of [0, 1, 2]) {
              const g = convGeometry(c, h, w, k, stride, pad);
              if (g !== null) yield g;
            }
}

describe('im2col', () => {
  it('copies exactly what its definition says, +0 in the padding, for every small geometry (the same-padding fast path included)', () => {
    let n = 0;
    for (const g of geometries()) {
      const rows = 2;
      // distinct values, with a −0 and a NaN among them: a copy keeps their bits
      const x = Float64Array.from({ length: rows * g.c * g.h * g.w }, (_, i) => (i === 1 ? -0 : i === 2 ? NaN : i + 1));
      const cols = new Float64Array(g.c * g.kh * g.kw * rows * g.oh * g.ow).fill(-7);
      im2col(rows, g, x, cols);
      const want = im2colByDefinition(rows, g, x);
      for (let i = 0; i < want.length; i++)
        assert.ok(Object.is(cols[i], want[i]), `${JSON.stringify(g)} element ${i}: ${cols[i]} vs ${want[i]}`);
      n++;
    }
    assert.ok(n > 100, `${n} geometries`);
  });

  it('col2im adds each dcols element into the input position it was copied from', () => {
    for (const g of geometries()) {
      const rows = 2;
      const index = Float64Array.from({ length: rows * g.c * g.h * g.w }, (_, i) => i);
      const where = im2colByDefinition(
        rows,
        g,
        Float64Array.from(index, (v) => v + 1),
      );
      // dcols = 1 everywhere: dx counts how many times each input was copied
      const dx = new Float64Array(index.length).fill(NaN);
      col2im(rows, g, new Float64Array(where.length).fill(1), dx);
      const count = new Float64Array(index.length);
      for (const v of where) if (v !== 0) count[v - 1]!++;
      assert.deepEqual(Array.from(dx), Array.from(count), JSON.stringify(g));
    }
  });
});
