#!/usr/bin/env python3
"""torch_blas.py — what this Python's PyTorch runs its GEMMs on, as one JSON object.

probe() does one matmul (so a BLAS loaded lazily is mapped too), then reports the shared
libraries mapped into this process (/proc/self/maps), threadpoolctl's threadpool_info() when it
is importable, torch.__config__.show() and torch.backends.mkldnn.is_available(). It judges
nothing: scripts/bench-blas.ts does. The torch benches add probe() to their JSON line; run as a
script, it prints it alone (scripts/bench-common.ts's torchPeer()).
"""
import json

import torch


def probe():
    a = torch.rand(64, 64)
    (a @ a).sum().item()
    libs = []
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 6 and '.so' in fields[5] and fields[5] not in libs:
                    libs.append(fields[5])
    except OSError:
        pass
    try:
        from threadpoolctl import threadpool_info
        pools = threadpool_info()
    except ImportError:
        pools = None
    return {
        'torch': torch.__version__,
        'maps': libs,
        'threadpool': pools,
        'config': torch.__config__.show(),
        'mkldnn': torch.backends.mkldnn.is_available(),
    }


if __name__ == '__main__':
    print(json.dumps(probe()))
