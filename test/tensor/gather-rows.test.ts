/**
 * KernelSet.gatherRows, the copy of a leaf's examples by the epoch order: every kernel set
 * (reference, WebAssembly, each native build) copies exactly the rows the order names, into
 * rows 0…rows−1 of dst and nothing past them; and each refuses an order index past the
 * source's rows (RangeError naming the position) or a short order, before copying anything.
 */
import assert from 'node:assert/strict';
import { alloc, type DType } from '../../src/tensor/dtype';
import { referenceKernels } from '../../src/tensor/reference-kernels';
import type { KernelSet } from '../../src/tensor/kernels';
import { nativeIsas, nativeKernels } from '../../src/tensor/fast/native';
import { wasmKernels } from '../../src/tensor/fast/wasm';
import { wasmLoadError } from '../../src/tensor/fast/wasm-module';
import { Rng } from '../../src/tensor/rng';

function sets(dtype: DType): KernelSet[] {
  const out = [referenceKernels(dtype)];
  if (wasmLoadError() === null) out.push(wasmKernels(dtype));
  for (const isa of nativeIsas()) out.push(nativeKernels(isa, dtype));
  return out;
}

describe('gatherRows kernel (KernelSet.gatherRows)', () => {
  for (const dtype of ['float32', 'float64'] as DType[]) {
    for (const k of sets(dtype)) {
      it(`${k.id} ${dtype}: row r of dst is row order[from + r] of src; the rest of dst is untouched`, () => {
        const rng = new Rng(11);
        for (const width of [1, 10, 15, 16, 784]) {
          const n = 50;
          const src = alloc(dtype, n * width);
          for (let i = 0; i < src.length; i++) src[i] = rng.uniform(-1, 1);
          const order = new Uint32Array(n);
          for (let i = 0; i < n; i++) order[i] = rng.nextInt(n);
          for (const [rows, from] of [
            [0, 0],
            [1, 49],
            [7, 3],
            [50, 0],
          ] as const) {
            const dst = alloc(dtype, (rows + 1) * width).fill(-7);
            k.gatherRows(rows, order, from, width, src, dst);
            for (let r = 0; r < rows; r++) {
              const e = order[from + r]!;
              assert.deepEqual(
                Array.from(dst.subarray(r * width, (r + 1) * width)),
                Array.from(src.subarray(e * width, (e + 1) * width)),
                `width ${width}, row ${r}`,
              );
            }
            assert.ok(
              dst.subarray(rows * width).every((v) => v === -7),
              `width ${width}, ${rows} rows: nothing written past them`,
            );
          }
        }
      });

      it(`${k.id} ${dtype}: an index past src's rows, or a short order, is a RangeError and copies nothing`, () => {
        const src = alloc(dtype, 10 * 4).fill(1);
        const dst = alloc(dtype, 3 * 4).fill(-7);
        assert.throws(
          () => k.gatherRows(3, new Uint32Array([0, 1, 10, 2]), 0, 4, src, dst),
          (e: Error) => e instanceof RangeError && /order\[2\] = 10 is past src's 10 rows/.test(e.message),
        );
        assert.ok(
          dst.every((v) => v === -7),
          'dst untouched',
        );
        assert.throws(
          () => k.gatherRows(3, new Uint32Array([0, 1, 2, 3]), 2, 4, src, dst),
          (e: Error) => e instanceof RangeError && /order has 4 elements, needs 5/.test(e.message),
        );
        assert.throws(
          () => k.gatherRows(3, new Uint32Array([0, 1, 2]), 0, 4, src, alloc(dtype, 8)),
          (e: Error) => e instanceof RangeError && /dst has 8 elements, needs 12/.test(e.message),
        );
      });
    }
  }
});
