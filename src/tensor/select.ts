/**
 * select.ts — chooses the kernel implementation for a dtype and a profile of the spec: native
 * (AVX-512, AVX2 or baseline C, by CPUID at run time), then WebAssembly SIMD, then the
 * TypeScript reference; for the `fma` profile native builds with FMA, then the reference. The
 * portable native set sends its tiny shapes to the reference (fast/tiny.ts), the same bits.
 *
 * Every implementation of a profile follows THE KERNEL SPEC bit for bit, so the choice changes
 * the speed, never a result; a worker may run a different one than the coordinator. When the
 * preferred implementation cannot run here, the next one is returned with a one-line note
 * saying why; the caller logs or prints it once (tensor/ never does I/O for humans).
 * WebAssembly computes the portable profile only: it has no deterministic fused multiply-add
 * (relaxed SIMD's madd may or may not fuse), so asking it for `fma` is an error.
 * Safe in worker threads: each thread loads the native addon and the WebAssembly module for itself.
 * Not here: the implementations (reference-kernels.ts, fast/).
 */

import { Errors } from '../errors';
import type { DType } from './dtype';
import { KERNEL_PROFILES, KERNEL_SPEC_VERSION, type KernelProfile, type KernelSet } from './kernels';
import { referenceKernels } from './reference-kernels';
import { lineOffset as nativeLineOffset, nativeIsas, nativeKernels, nativeLoadError } from './fast/native';
import { withTinyOnReference } from './fast/tiny';
import { wasmKernels } from './fast/wasm';
import { wasmLoadError } from './fast/wasm-module';

/** The kernel implementations a run may ask for; 'auto' = the fastest that runs here. */
export const KERNEL_CHOICES = ['auto', 'native', 'wasm', 'ref'] as const;
export type KernelChoice = (typeof KERNEL_CHOICES)[number];

/** Whether `v` names a kernel choice (config and flag checks). */
export function isKernelChoice(v: unknown): v is KernelChoice {
  return (KERNEL_CHOICES as readonly unknown[]).includes(v);
}

/** Whether `v` names a profile of the spec. */
export function isKernelProfile(v: unknown): v is KernelProfile {
  return (KERNEL_PROFILES as readonly unknown[]).includes(v);
}

/** The profiles selectKernels(…, prefer, profile) serves: WebAssembly's only the portable one. */
export function kernelProfiles(prefer: KernelChoice = 'auto'): KernelProfile[] {
  return prefer === 'wasm' ? ['portable'] : [...KERNEL_PROFILES];
}

/** Why native kernels of `profile` cannot run here, or null when they can. */
function nativeUnavailable(profile: KernelProfile): string | null {
  const err = nativeLoadError();
  if (err !== null) return err;
  if (nativeIsas(profile).length > 0) return null;
  return profile === 'fma' ? 'this CPU has no FMA (or the addon no FMA build for it)' : 'native addon has no build for this CPU';
}

/**
 * The kernels for `dtype` and `profile` (default 'portable'): `prefer` names the implementation to
 * try first ('auto' = the fastest available: native, then wasm for the portable profile, then
 * ref); `fallbackNote` is null when it was used, else one line saying what ran instead and why.
 * Throws GS_ERR_KERNEL_PROFILE for 'wasm' with the fma profile.
 */
export function selectKernels(
  dtype: DType,
  prefer: KernelChoice = 'auto',
  profile: KernelProfile = 'portable',
): { kernels: KernelSet; fallbackNote: string | null } {
  if (!isKernelChoice(prefer)) throw new RangeError(`kernels must be one of ${KERNEL_CHOICES.join(', ')}; got ${String(prefer)}`);
  if (!isKernelProfile(profile)) throw new RangeError(`kernelProfile must be one of ${KERNEL_PROFILES.join(', ')}; got ${String(profile)}`);
  if (prefer === 'ref') return { kernels: referenceKernels(dtype, profile), fallbackNote: null };
  if (profile === 'fma') {
    if (prefer === 'wasm') {
      throw Errors.kernelProfile(
        'the WebAssembly kernels cannot compute the "fma" kernel profile: WebAssembly has no deterministic fused multiply-add',
        'use --kernels native or ref, or kernelProfile "portable" (which every executor computes)',
      );
    }
    const nativeWhy = nativeUnavailable('fma');
    if (nativeWhy === null) return { kernels: nativeKernels(nativeIsas('fma')[0]!, dtype), fallbackNote: null };
    const ref = referenceKernels(dtype, 'fma');
    return { kernels: ref, fallbackNote: `native FMA kernels unavailable: ${nativeWhy}; using ${ref.id} (an emulated fma, slow)` };
  }
  const why: string[] = [];
  if (prefer !== 'wasm') {
    const nativeWhy = nativeUnavailable('portable');
    if (nativeWhy === null) return { kernels: nativePortable(dtype), fallbackNote: null };
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

const portable = new Map<DType, KernelSet>();

/** The best native portable set, its tiny shapes on the reference (fast/tiny.ts): one per dtype. */
function nativePortable(dtype: DType): KernelSet {
  let k = portable.get(dtype);
  if (k === undefined) portable.set(dtype, (k = withTinyOnReference(nativeKernels(nativeIsas()[0]!, dtype), referenceKernels(dtype))));
  return k;
}

/**
 * What `selectKernels(…, 'auto')` runs here, every implementation that can run (the portable
 * profile's, and the fma profile's in `availableFma`), and the spec version.
 */
export function kernelInfo(): { active: string; available: string[]; availableFma: string[]; specVersion: number } {
  const available = nativeUnavailable('portable') === null ? nativeIsas().map((isa) => `native-${isa}`) : [];
  if (wasmLoadError() === null) available.push('wasm-simd128');
  available.push('ref-ts');
  const availableFma = nativeUnavailable('fma') === null ? nativeIsas('fma').map((isa) => `native-${isa}`) : [];
  availableFma.push('ref-ts-fma');
  return { active: selectKernels('float32').kernels.id, available, availableFma, specVersion: KERNEL_SPEC_VERSION };
}

/**
 * Where a typed array's first element lies within its 64-byte cache line, in bytes (0–63), or
 * null when this cannot be told (no native addon: JavaScript cannot see addresses).
 */
export function lineOffset(view: ArrayBufferView): number | null {
  return nativeLineOffset(view);
}
