/**
 * select.ts — chooses the kernel implementation: native (AVX-512, AVX2 or baseline C, by
 * CPUID at run time), then WebAssembly SIMD, then the TypeScript reference.
 *
 * Every implementation follows THE KERNEL SPEC bit for bit, so the choice changes the speed,
 * never a result; a worker may run a different one than the coordinator. When the preferred
 * implementation cannot run here, the next one is returned with a one-line note saying why;
 * the caller logs or prints it once (tensor/ never does I/O for humans).
 * Safe in worker threads: each thread loads the native addon and the WebAssembly module for itself.
 * Not here: the implementations (kernels.ts, fast/).
 */

import type { DType } from './dtype';
import { KERNEL_SPEC_VERSION, referenceKernels, type KernelSet } from './kernels';
import { lineOffset as nativeLineOffset, nativeIsas, nativeKernels, nativeLoadError } from './fast/native';
import { wasmKernels, wasmLoadError } from './fast/wasm';

/** The kernel implementations a run may ask for; 'auto' = the fastest that runs here. */
export const KERNEL_CHOICES = ['auto', 'native', 'wasm', 'ref'] as const;
export type KernelChoice = (typeof KERNEL_CHOICES)[number];

/** Whether `v` names a kernel choice (config and flag checks). */
export function isKernelChoice(v: unknown): v is KernelChoice {
  return (KERNEL_CHOICES as readonly unknown[]).includes(v);
}

/** Why native kernels cannot run here, or null when they can. */
function nativeUnavailable(): string | null {
  const err = nativeLoadError();
  if (err !== null) return err;
  return nativeIsas().length === 0 ? 'native addon has no build for this CPU' : null;
}

function bestNative(dtype: DType): KernelSet {
  return nativeKernels(nativeIsas()[0]!, dtype);
}

/**
 * The kernels for `dtype`: `prefer` names the implementation to try first ('auto' = the fastest
 * available: native, then wasm, then ref); `fallbackNote` is null when it was used, else one line
 * saying what ran instead and why.
 */
export function selectKernels(dtype: DType, prefer: KernelChoice = 'auto'): { kernels: KernelSet; fallbackNote: string | null } {
  if (!isKernelChoice(prefer)) throw new RangeError(`kernels must be one of ${KERNEL_CHOICES.join(', ')}; got ${String(prefer)}`);
  if (prefer === 'ref') return { kernels: referenceKernels(dtype), fallbackNote: null };
  const why: string[] = [];
  if (prefer !== 'wasm') {
    const nativeWhy = nativeUnavailable();
    if (nativeWhy === null) return { kernels: bestNative(dtype), fallbackNote: null };
    why.push(`native kernels unavailable: ${nativeWhy}`);
  }
  const wasmWhy = wasmLoadError();
  if (wasmWhy === null) {
    const kernels = wasmKernels(dtype);
    return { kernels, fallbackNote: why.length === 0 ? null : `${why.join('; ')}; using ${kernels.id}` };
  }
  why.push(`WebAssembly SIMD kernels unavailable: ${wasmWhy}`);
  const ref = referenceKernels(dtype);
  return { kernels: ref, fallbackNote: `${why.join('; ')}; using ${ref.id}` };
}

/** What `selectKernels(…, 'auto')` runs here, every implementation that can run, and the spec version. */
export function kernelInfo(): { active: string; available: string[]; specVersion: number } {
  const available = nativeUnavailable() === null ? nativeIsas().map((isa) => `native-${isa}`) : [];
  if (wasmLoadError() === null) available.push('wasm-simd128');
  available.push('ref-ts');
  return { active: selectKernels('float32').kernels.id, available, specVersion: KERNEL_SPEC_VERSION };
}

/**
 * Where a typed array's first element lies within its 64-byte cache line, in bytes (0–63), or
 * null when this cannot be told (no native addon: JavaScript cannot see addresses).
 */
export function lineOffset(view: ArrayBufferView): number | null {
  return nativeLineOffset(view);
}
