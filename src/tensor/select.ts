/**
 * select.ts — TEMPORARY: chooses the kernel implementation. Only the reference exists in
 * this version; the fast-kernel work (issue 6) replaces this file.
 */

import type { DType } from './dtype';
import { KERNEL_SPEC_VERSION, referenceKernels, type KernelSet } from './kernels';

export function selectKernels(dtype: DType, prefer: 'auto' | 'native' | 'wasm' | 'ref' = 'auto'): { kernels: KernelSet; fallbackNote: string | null } {
  const kernels = referenceKernels(dtype);
  return { kernels, fallbackNote: prefer === 'native' || prefer === 'wasm' ? `${prefer} kernels are not available; using ref-ts` : null };
}

export function kernelInfo(): { active: string; available: string[]; specVersion: number } {
  return { active: 'ref-ts', available: ['ref-ts'], specVersion: KERNEL_SPEC_VERSION };
}
