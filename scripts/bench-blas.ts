/**
 * bench-blas.ts — which BLAS and oneDNN a PyTorch runs on, and whether a speed ratio against it
 * means anything: a pure function of what scripts/torch_blas.py saw inside the Python process.
 *
 * PyTorch's float32 Linear layers on a CPU run on its BLAS (addmm), so the BLAS alone decides the
 * verdict: an optimised one (OpenBLAS, MKL, BLIS, ATLAS, FlexiBLAS on one of those) is accepted;
 * the reference BLAS (Debian's libblas3, netlib) is refused, since its untuned GEMM would flatter
 * any ratio against it; so is a BLAS that cannot be named. oneDNN is reported, never judged.
 */

/** One entry of threadpoolctl's threadpool_info() (the fields read here). */
export interface ThreadpoolEntry {
  user_api?: string;
  internal_api?: string;
  filepath?: string;
  version?: string | null;
  threading_layer?: string;
  architecture?: string;
  current_backend?: string;
}

/** What scripts/torch_blas.py reports. */
export interface TorchBlasProbe {
  /** The shared libraries mapped into the Python process after a first matmul (/proc/self/maps), or its raw text. */
  maps: string[] | string;
  /** threadpoolctl.threadpool_info(), or null when threadpoolctl is not importable. */
  threadpool?: ThreadpoolEntry[] | null;
  /** torch.__config__.show(). */
  config?: string;
  /** torch.backends.mkldnn.is_available(). */
  mkldnn?: boolean | null;
}

export interface BlasVerdict {
  /** The BLAS in words, e.g. "OpenBLAS 0.3.21 (pthreads, Cooperlake)". */
  blas: string;
  /** oneDNN in words, e.g. "oneDNN 2.6.3 (libdnnl.so.2.6)". */
  onednn: string;
  verdict: 'accepted' | 'refused';
  /** Why; a refusal ends with the line that installs an optimised BLAS. */
  reason: string;
}

export const BLAS_INSTALL = 'apt-get install libopenblas0-pthread';

const base = (p: string): string => p.slice(p.lastIndexOf('/') + 1);

/** A library that numpy's or scipy's wheel bundles for itself (numpy.libs/): not the BLAS torch calls. */
const bundled = (p: string): boolean => /\/(numpy|scipy)(\.libs|\/\.libs)\//.test(p);

/** The library paths of a maps text (the last field of a line, when it is a path) or of a list, less numpy's and scipy's own. */
function mappedPaths(maps: string[] | string): string[] {
  const lines = typeof maps === 'string' ? maps.split('\n') : maps;
  const out = new Set<string>();
  for (const line of lines) {
    const path = line.trim().split(/\s+/).pop() ?? '';
    if (path.startsWith('/') && !bundled(path)) out.add(path);
  }
  return [...out];
}

/** OpenBLAS's threading from its Debian folder (openblas-pthread/-openmp/-serial) or its file name (libopenblasp/o). */
function openblasThreading(p: string): string | null {
  const dir = /openblas-(pthread|openmp|serial)\//.exec(p);
  if (dir) return dir[1] === 'pthread' ? 'pthreads' : dir[1]!;
  const name = /libopenblas([po])-/.exec(base(p));
  return name ? (name[1] === 'p' ? 'pthreads' : 'openmp') : null;
}

/** An optimised BLAS named by threadpoolctl, or the reference one behind FlexiBLAS, or null. */
function fromThreadpool(pools: ThreadpoolEntry[]): { name: string; reference: boolean } | null {
  for (const e of pools) {
    if (e.user_api !== 'blas' || bundled(e.filepath ?? '')) continue;
    const v = e.version ? ` ${e.version}` : '';
    const detail = [e.threading_layer, e.architecture].filter((x) => x !== undefined && x !== '').join(', ');
    const tail = detail ? ` (${detail})` : '';
    switch (e.internal_api) {
      case 'openblas':
        return { name: `OpenBLAS${v}${tail}`, reference: false };
      case 'mkl':
        return { name: `MKL${v}${tail}`, reference: false };
      case 'blis':
        return { name: `BLIS${v}${tail}`, reference: false };
      case 'flexiblas': {
        const backend = e.current_backend ?? '?';
        return { name: `FlexiBLAS${v} (backend ${backend})`, reference: /netlib|reference/i.test(backend) };
      }
      default:
        break;
    }
  }
  return null;
}

/** The BLAS among the mapped libraries: an optimised one by its own name, else by its folder, else a reference one, else null. */
function fromMaps(paths: string[]): { name: string; reference: boolean } | null {
  for (const p of paths) {
    const b = base(p);
    if (b.startsWith('libopenblas')) {
      const version = /r(\d+\.\d+\.\d+)/.exec(b);
      const threading = openblasThreading(p);
      return { name: `OpenBLAS${version ? ` ${version[1]}` : ''}${threading ? ` (${threading})` : ''}: ${p}`, reference: false };
    }
    if (/^libmkl_(rt|core)\b/.test(b)) return { name: `MKL: ${p}`, reference: false };
    if (b.startsWith('libblis')) return { name: `BLIS: ${p}`, reference: false };
    if (/^lib[ts]?atlas\b/.test(b)) return { name: `ATLAS: ${p}`, reference: false };
    if (/^libflexiblas_(openblas|mkl|blis|atlas)/.test(b)) return { name: `FlexiBLAS (${b}): ${p}`, reference: false };
  }
  for (const p of paths) {
    // an alternative's libblas.so.3 in the optimised library's own folder (Debian: .../openblas-pthread/libblas.so.3)
    const dir = /\/(openblas|blis|atlas)[^/]*\/libc?blas\.so/.exec(p);
    if (dir) return { name: `${dir[1] === 'openblas' ? 'OpenBLAS' : dir[1]!.toUpperCase()}: ${p}`, reference: false };
  }
  for (const p of paths) {
    const b = base(p);
    // Debian's libblas3 lives in .../blas/; netlib's own builds are librefblas or libblas; FlexiBLAS names it netlib
    if (/^(libblas\.so|librefblas|libflexiblas_netlib)/.test(b)) {
      const debian = /\/blas\/libblas\.so/.test(p) ? "Debian's libblas3, netlib" : 'netlib';
      return { name: `the reference BLAS (${debian}): ${p}`, reference: true };
    }
  }
  return null;
}

/** A BLAS linked into torch itself, as torch.__config__.show() names it, or null. */
function fromConfig(config: string): string | null {
  const mkl = /Intel\(R\) (?:oneAPI )?Math Kernel Library Version ([\d.]+)/.exec(config);
  if (mkl) return `MKL ${mkl[1]} (linked into torch)`;
  const info = /BLAS_INFO=(\w+)/.exec(config)?.[1];
  if (info === 'mkl') return 'MKL (linked into torch)';
  if (info === 'open') return 'OpenBLAS (linked into torch)';
  if (info === 'accelerate') return 'Accelerate (linked into torch)';
  return null;
}

function onednnOf(probe: TorchBlasProbe, paths: string[]): string {
  const lib = paths.map(base).find((b) => b.startsWith('libdnnl') || b.startsWith('libmkldnn'));
  const v = /(?:MKL-DNN|oneDNN)[^\n]*?v(\d+(?:\.\d+)*)/.exec(probe.config ?? '')?.[1];
  if (probe.mkldnn === false) return 'oneDNN not available';
  if (v === undefined && lib === undefined) return probe.mkldnn === true ? 'oneDNN (version unknown)' : 'oneDNN unknown';
  return `oneDNN${v ? ` ${v}` : ''}${lib ? ` (${lib})` : ''}`;
}

/** Names the BLAS and oneDNN of a probe and decides whether a ratio against that PyTorch is accepted. */
export function judgeBlas(probe: TorchBlasProbe): BlasVerdict {
  const paths = mappedPaths(probe.maps);
  const onednn = onednnOf(probe, paths);
  const found = fromThreadpool(probe.threadpool ?? []) ?? fromMaps(paths);
  const linked = found === null ? fromConfig(probe.config ?? '') : null;
  if (found !== null && found.reference) {
    return {
      blas: found.name,
      onednn,
      verdict: 'refused',
      reason: `PyTorch runs on the reference BLAS, whose untuned GEMM would flatter any ratio against it; install an optimised one: ${BLAS_INSTALL}`,
    };
  }
  if (found !== null) return { blas: found.name, onednn, verdict: 'accepted', reason: 'an optimised BLAS' };
  if (linked !== null) return { blas: linked, onednn, verdict: 'accepted', reason: 'an optimised BLAS' };
  return {
    blas: 'unknown',
    onednn,
    verdict: 'refused',
    reason:
      `cannot tell which BLAS PyTorch runs on (none mapped into its process, none named by threadpoolctl or torch.__config__.show()); ` +
      `install an optimised one: ${BLAS_INSTALL}`,
  };
}
