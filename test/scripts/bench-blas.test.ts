import assert from 'node:assert/strict';
import { BLAS_INSTALL, judgeBlas, type ThreadpoolEntry } from '../../scripts/bench-blas';

// what torch_blas.py saw in Debian's python3-torch 1.13 processes (paths as /proc/self/maps shows them)
const LIB = '/usr/lib/x86_64-linux-gnu';
const DNNL = `${LIB}/libdnnl.so.2.6`;
const CONFIG =
  'PyTorch built with:\n  - Intel(R) MKL-DNN v2.6.3 (Git Hash N/A)\n  - Build settings: BLAS_INFO=generic, LAPACK_INFO=generic, USE_MKLDNN=ON\n';
const GOMP: ThreadpoolEntry = { user_api: 'openmp', internal_api: 'openmp', filepath: `${LIB}/libgomp.so.1.0.0`, version: null };
const maps = (...paths: string[]): string =>
  paths.map((p, i) => `7f00${i}000-7f00${i}fff r-xp 00000000 08:01 ${1000 + i}                    ${p}`).join('\n');

describe('scripts/bench-blas judgeBlas', () => {
  it("refuses the ratio against Debian's reference libblas3, with the reason and the install line", () => {
    const v = judgeBlas({
      maps: maps(`${LIB}/libgomp.so.1.0.0`, `${LIB}/blas/libblas.so.3.11.0`, `${LIB}/lapack/liblapack.so.3.11.0`, DNNL),
      threadpool: [GOMP],
      config: CONFIG,
      mkldnn: true,
    });
    assert.equal(v.verdict, 'refused');
    assert.match(v.blas, /reference BLAS \(Debian's libblas3, netlib\): .*\/blas\/libblas\.so\.3\.11\.0/);
    assert.match(v.reason, /reference BLAS/);
    assert.ok(v.reason.endsWith(BLAS_INSTALL), v.reason);
    assert.equal(BLAS_INSTALL, 'apt-get install libopenblas0-pthread');
    assert.equal(v.onednn, 'oneDNN 2.6.3 (libdnnl.so.2.6)');
  });

  it('refuses the reference BLAS even when numpy maps its own bundled OpenBLAS', () => {
    const numpyOwn = '/home/u/.venv/lib/python3.11/site-packages/numpy.libs/libopenblas64_p-r0.3.23.so';
    const v = judgeBlas({
      maps: [`${LIB}/blas/libblas.so.3.11.0`, numpyOwn],
      threadpool: [{ user_api: 'blas', internal_api: 'openblas', filepath: numpyOwn, version: '0.3.23' }],
      config: CONFIG,
    });
    assert.equal(v.verdict, 'refused');
    assert.match(v.blas, /reference BLAS/);
  });

  it('accepts OpenBLAS pthread as threadpoolctl names it, with its version, threading and architecture', () => {
    const v = judgeBlas({
      maps: [`${LIB}/openblas-pthread/libblas.so.3`, `${LIB}/openblas-pthread/libopenblasp-r0.3.21.so`, DNNL],
      threadpool: [
        GOMP,
        {
          user_api: 'blas',
          internal_api: 'openblas',
          filepath: `${LIB}/openblas-pthread/libopenblasp-r0.3.21.so`,
          version: '0.3.21',
          threading_layer: 'pthreads',
          architecture: 'Cooperlake',
        },
      ],
      config: CONFIG,
      mkldnn: true,
    });
    assert.deepEqual([v.verdict, v.blas], ['accepted', 'OpenBLAS 0.3.21 (pthreads, Cooperlake)']);
  });

  it('accepts OpenBLAS pthread and openmp from the maps alone when threadpoolctl is missing', () => {
    const p = judgeBlas({
      maps: maps(`${LIB}/openblas-pthread/libblas.so.3`, `${LIB}/openblas-pthread/libopenblasp-r0.3.21.so`),
      threadpool: null,
      config: CONFIG,
    });
    assert.equal(p.verdict, 'accepted');
    assert.match(p.blas, /^OpenBLAS 0\.3\.21 \(pthreads\): /);
    const o = judgeBlas({
      maps: [`${LIB}/openblas-openmp/libblas.so.3`, `${LIB}/openblas-openmp/libopenblaso-r0.3.21.so`],
      threadpool: null,
    });
    assert.equal(o.verdict, 'accepted');
    assert.match(o.blas, /^OpenBLAS 0\.3\.21 \(openmp\): /);
  });

  it("accepts the alternative's libblas.so.3 in OpenBLAS's folder as OpenBLAS, not as the reference", () => {
    const v = judgeBlas({ maps: [`${LIB}/openblas-pthread/libblas.so.3`], threadpool: null });
    assert.deepEqual([v.verdict, v.blas], ['accepted', `OpenBLAS: ${LIB}/openblas-pthread/libblas.so.3`]);
  });

  it('accepts MKL, from threadpoolctl, from the maps, or linked into torch as its config says', () => {
    const tp = judgeBlas({
      maps: [],
      threadpool: [
        { user_api: 'blas', internal_api: 'mkl', filepath: '/opt/x/libmkl_rt.so.2', version: '2023.1', threading_layer: 'intel' },
      ],
    });
    assert.deepEqual([tp.verdict, tp.blas], ['accepted', 'MKL 2023.1 (intel)']);
    const m = judgeBlas({ maps: ['/opt/intel/oneapi/mkl/lib/libmkl_rt.so.2'] });
    assert.deepEqual([m.verdict, m.blas], ['accepted', 'MKL: /opt/intel/oneapi/mkl/lib/libmkl_rt.so.2']);
    const wheel =
      'PyTorch built with:\n  - Intel(R) oneAPI Math Kernel Library Version 2023.1-Product Build 20230303\n  - Intel(R) MKL-DNN v3.1.1\n' +
      '  - Build settings: BLAS_INFO=mkl, USE_MKLDNN=ON\n';
    const w = judgeBlas({ maps: [`${LIB}/libgomp.so.1`], threadpool: [GOMP], config: wheel, mkldnn: true });
    assert.deepEqual([w.verdict, w.blas, w.onednn], ['accepted', 'MKL 2023.1 (linked into torch)', 'oneDNN 3.1.1']);
  });

  it('refuses as unknown when no BLAS is mapped, named by threadpoolctl or by the config', () => {
    const v = judgeBlas({ maps: maps(`${LIB}/libgomp.so.1.0.0`, `${LIB}/libc.so.6`), threadpool: [GOMP], config: CONFIG, mkldnn: false });
    assert.deepEqual([v.verdict, v.blas, v.onednn], ['refused', 'unknown', 'oneDNN not available']);
    assert.match(v.reason, /^cannot tell which BLAS PyTorch runs on/);
    assert.ok(v.reason.endsWith(BLAS_INSTALL), v.reason);
  });

  it('refuses FlexiBLAS on its netlib backend and accepts it on OpenBLAS', () => {
    const netlib = judgeBlas({
      maps: [],
      threadpool: [{ user_api: 'blas', internal_api: 'flexiblas', version: '3.3.1', current_backend: 'netlib' }],
    });
    assert.equal(netlib.verdict, 'refused');
    const ob = judgeBlas({
      maps: [],
      threadpool: [{ user_api: 'blas', internal_api: 'flexiblas', version: '3.3.1', current_backend: 'openblas-pthread' }],
    });
    assert.deepEqual([ob.verdict, ob.blas], ['accepted', 'FlexiBLAS 3.3.1 (backend openblas-pthread)']);
  });
});
