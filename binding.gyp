# binding.gyp — the native kernels (native/). One static library per instruction set, each
# compiled with its own target flags, linked into one N-API addon that picks one at run time;
# and a small second addon for thread placement (native/threads.cc, src/parallel/affinity.ts).
# -ffp-contract=off and no -ffast-math: THE KERNEL SPEC forbids reassociation, and the compiler may
# never fuse a multiply and an add by itself; the fma profile's builds (-mfma) fuse only the GEMM's
# terms, by explicit intrinsics (kernels-impl.h madd).
{
  "target_defaults": {
    "cflags_cc!": ["-fno-exceptions", "-O2", "-O3", "-Os"],
    "cflags_cc": ["-std=c++17", "-O3", "-fPIC", "-ffp-contract=off", "-fno-fast-math", "-fno-exceptions", "-Wall", "-Wextra"],
    "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3", "-ffp-contract=off"] }
  },
  "targets": [
    {
      "target_name": "gs_isa_scalar",
      "type": "static_library",
      "sources": ["native/isa-scalar.cc", "native/isa-none.cc"]
    },
    {
      "target_name": "gs_isa_avx2",
      "type": "static_library",
      "conditions": [["target_arch=='x64'", {
        "sources": ["native/isa-avx2.cc"],
        "cflags_cc": ["-mavx2"]
      }]]
    },
    {
      "target_name": "gs_isa_avx512",
      "type": "static_library",
      "conditions": [["target_arch=='x64'", {
        "sources": ["native/isa-avx512.cc"],
        "cflags_cc": ["-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx512bw"]
      }]]
    },
    {
      "target_name": "gs_isa_avx512_ymm",
      "type": "static_library",
      "conditions": [["target_arch=='x64'", {
        "sources": ["native/isa-avx512-ymm.cc"],
        "cflags_cc": ["-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx512bw"]
      }]]
    },
    {
      "target_name": "gs_isa_avx2_fma",
      "type": "static_library",
      "conditions": [["target_arch=='x64'", {
        "sources": ["native/isa-avx2-fma.cc", "native/fma-probe.cc"],
        "cflags_cc": ["-mavx2", "-mfma"]
      }]]
    },
    {
      "target_name": "gs_isa_avx512_fma",
      "type": "static_library",
      "conditions": [["target_arch=='x64'", {
        "sources": ["native/isa-avx512-fma.cc", "native/isa-avx512-ymm-fma.cc"],
        "cflags_cc": ["-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx512bw", "-mfma"]
      }]]
    },
    {
      "target_name": "gradsync_kernels",
      "sources": ["native/addon.cc"],
      "dependencies": ["gs_isa_scalar", "gs_isa_avx2", "gs_isa_avx512", "gs_isa_avx512_ymm", "gs_isa_avx2_fma", "gs_isa_avx512_fma"]
    },
    {
      "target_name": "gradsync_threads",
      "sources": ["native/threads.cc"]
    }
  ]
}
