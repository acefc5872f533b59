/**
 * native.ts — KernelSets backed by the native addon (native/, built at install into
 * build/Release/gradsync_kernels.node): one per instruction set the CPU can run, and per
 * profile of the spec — the `fma` profile's builds (suffix -fma) fuse each GEMM term.
 *
 * The addon works on the typed arrays' memory in place (any byteOffset, plain or
 * SharedArrayBuffer), checks every length, and follows THE KERNEL SPEC bit for bit. It is
 * context-aware N-API, so each worker thread loads it for itself. The scalar exp/log stay in
 * TypeScript (spec-math): one call into native code would cost more than the function.
 * Not here: choosing among implementations (select.ts).
 */

import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { DType, Float } from '../dtype';
import { ACTIVATIONS, type Activation, type KernelProfile, type KernelSet } from '../kernels';
import { exp32, exp64, log32, log64 } from '../spec-math';
import { packageRoot } from '../../package-root';

/** Instruction-set builds of the addon, best first: the portable profile's, then the fma profile's. */
export type NativeIsa = 'avx512' | 'avx512-ymm' | 'avx2' | 'scalar' | 'avx512-fma' | 'avx512-ymm-fma' | 'avx2-fma';

interface NativeOps {
  gemmNT(m: number, n: number, k: number, A: Float, B: Float, C: Float): void;
  gemmNTAcc(m: number, n: number, k: number, A: Float, B: Float, C: Float): void;
  gemmTN(m: number, n: number, k: number, A: Float, B: Float, C: Float): void;
  gemmTNCheck(m: number, n: number, k: number, A: Float, B: Float, C: Float, shared: boolean): number;
  gemmNN(m: number, n: number, k: number, A: Float, B: Float, C: Float): void;
  addBias(m: number, n: number, C: Float, b: Float): void;
  colSum(m: number, n: number, A: Float, out: Float): void;
  activate(f: number, m: number, n: number, z: Float, a: Float): void;
  activateBackward(f: number, m: number, n: number, z: Float, a: Float, g: Float): void;
  addInto(n: number, a: Float, b: Float): void;
  addIntoCheck(n: number, a: Float, b: Float): number;
  firstNonFinite(n: number, a: Float): number;
  sgdUpdate(n: number, lr: number, g: Float, p: Float, u: Float): void;
  sgdUpdateShared(n: number, lr: number, g: Float, p: Float, u: Float): void;
  copyShared(n: number, src: Float, dst: Float): number;
  reduceGrad(n: number, g: Float, p: Float, divisor: number, lambda: number, out: Float64Array): void;
  addReduceGrad(n: number, a: Float, b: Float, p: Float, divisor: number, lambda: number, out: Float64Array, g: Float): void;
  reduceSgd(
    n: number,
    a: Float,
    b: Float | null,
    p: Float,
    divisor: number,
    lambda: number,
    lr: number,
    out: Float64Array,
    shared: boolean,
  ): void;
  activationStats(f: number, m: number, n: number, z: Float, a: Float, out: Float64Array): void;
  softmaxCE(rows: number, n: number, z: Float, a: Float, y: Float, g: Float): number;
  gatherRows(rows: number, order: Uint32Array, from: number, width: number, src: Float, dst: Float): void;
  im2col(rows: number, c: number, h: number, w: number, kh: number, kw: number, stride: number, pad: number, x: Float, cols: Float): void;
  col2im(rows: number, c: number, h: number, w: number, kh: number, kw: number, stride: number, pad: number, dcols: Float, dx: Float): void;
  maxPool(rows: number, c: number, h: number, w: number, size: number, stride: number, x: Float, out: Float, arg: Int32Array): void;
  maxPoolBackward(rows: number, inSize: number, outSize: number, gOut: Float, arg: Int32Array, gIn: Float): void;
  momentumUpdate(n: number, lr: number, mu: number, nesterov: boolean, first: boolean, g: Float, v: Float, p: Float, u: Float): void;
}

interface Addon {
  isas(): NativeIsa[];
  fmaIsas(): NativeIsa[];
  hardwareFma(a: Float, b: Float, c: Float, out: Float): void;
  lineOffset(view: ArrayBufferView): number;
  kernels(isa: NativeIsa, dtype: DType): NativeOps;
}

let addon: Addon | null = null;
let loadError: string | null = null;

/** Loads the addon once per thread; on failure remembers a one-line reason. */
function load(): Addon | null {
  if (addon !== null || loadError !== null) return addon;
  const root = packageRoot();
  if (root === null) {
    loadError = 'cannot find the gradsync package folder';
    return null;
  }
  const file = path.join(root, 'build', 'Release', 'gradsync_kernels.node');
  try {
    const a = createRequire(__filename)(file) as Partial<Addon>;
    // an addon built from older sources lacks functions this code calls: refuse it whole
    const missing = (['isas', 'fmaIsas', 'hardwareFma', 'lineOffset', 'kernels'] as const).filter((f) => typeof a[f] !== 'function');
    if (missing.length > 0) {
      loadError = `native addon out of date (${path.relative(root, file)} has no ${missing.join(', ')}; run \`node scripts/build-native.js\`)`;
      return null;
    }
    addon = a as Addon;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    loadError =
      err.code === 'MODULE_NOT_FOUND'
        ? `native addon not built (${path.relative(root, file)} missing; run \`node scripts/build-native.js\`)`
        : `native addon failed to load: ${String(err.message).split('\n')[0]}`;
  }
  return addon;
}

/** The instruction sets of a profile this CPU can run with the built addon (best first); [] when not built. */
export function nativeIsas(profile: KernelProfile = 'portable'): NativeIsa[] {
  const a = load();
  if (a === null) return [];
  return profile === 'fma' ? a.fmaIsas() : a.isas();
}

/**
 * out[i] = the processor's own fma(a[i], b[i], c[i]) over arrays of one dtype (the tests' check of
 * fma.ts); throws when the addon is not built or the CPU has no FMA.
 */
export function hardwareFma(a: Float, b: Float, c: Float, out: Float): void {
  const addon = load();
  if (addon === null) throw new Error(loadError ?? 'native addon unavailable');
  addon.hardwareFma(a, b, c, out);
}

/** Why the native addon is unavailable, or null when it loaded. */
export function nativeLoadError(): string | null {
  load();
  return loadError;
}

/**
 * Where a typed array's first element lies within its 64-byte cache line, in bytes (0–63), or
 * null without the addon (JavaScript cannot see addresses). A large (Shared)ArrayBuffer's memory
 * starts 16 bytes into a line here (malloc's header), not on one.
 */
export function lineOffset(view: ArrayBufferView): number | null {
  return load()?.lineOffset(view) ?? null;
}

const cache = new Map<string, KernelSet>();

/** The native KernelSet for one instruction set and dtype (throws when it cannot run here). */
export function nativeKernels(isa: NativeIsa, dtype: DType): KernelSet {
  const key = `${isa}/${dtype}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const a = load();
  if (a === null) throw new Error(loadError ?? 'native addon unavailable');
  const ops = a.kernels(isa, dtype);
  if (typeof ops.addIntoCheck !== 'function')
    throw new Error('native addon out of date (no addIntoCheck; run `node scripts/build-native.js`)');
  const code = new Map<Activation, number>(ACTIVATIONS.map((f, i) => [f, i]));
  const act = (f: Activation): number => {
    const c = code.get(f);
    if (c === undefined) throw new RangeError(`unknown activation ${String(f)}`);
    return c;
  };
  const ks: KernelSet = {
    id: `native-${isa}`,
    dtype,
    profile: isa.endsWith('-fma') ? 'fma' : 'portable',
    gemmNT: ops.gemmNT,
    gemmNTAcc: ops.gemmNTAcc,
    gemmTN: ops.gemmTN,
    gemmTNCheck: ops.gemmTNCheck,
    gemmNN: ops.gemmNN,
    addBias: ops.addBias,
    colSum: ops.colSum,
    activate: (f, m, n, z, out) => ops.activate(act(f), m, n, z, out),
    activateBackward: (f, m, n, z, out, g) => ops.activateBackward(act(f), m, n, z, out, g),
    addInto: ops.addInto,
    addIntoCheck: ops.addIntoCheck,
    firstNonFinite: ops.firstNonFinite,
    sgdUpdate: ops.sgdUpdate,
    sgdUpdateShared: ops.sgdUpdateShared,
    copyShared: ops.copyShared,
    reduceGrad: ops.reduceGrad,
    addReduceGrad: ops.addReduceGrad,
    reduceSgd: ops.reduceSgd,
    activationStats: (f, m, n, z, a, out) => ops.activationStats(act(f), m, n, z, a, out),
    softmaxCE: ops.softmaxCE,
    gatherRows: ops.gatherRows,
    im2col: (rows, g, x, cols) => ops.im2col(rows, g.c, g.h, g.w, g.kh, g.kw, g.stride, g.pad, x, cols),
    col2im: (rows, g, dcols, dx) => ops.col2im(rows, g.c, g.h, g.w, g.kh, g.kw, g.stride, g.pad, dcols, dx),
    maxPool: ops.maxPool,
    maxPoolBackward: ops.maxPoolBackward,
    momentumUpdate: ops.momentumUpdate,
    exp: dtype === 'float64' ? exp64 : exp32,
    log: dtype === 'float64' ? log64 : log32,
  };
  cache.set(key, ks);
  return ks;
}
