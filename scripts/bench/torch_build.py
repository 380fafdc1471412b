"""What the PyTorch peer of a benchmark runs on, for its page: torch.__version__ alone does not say
it. Debian's python3-torch 1.13.1 reports 1.13.0a0, is built with BLAS_INFO=generic and no MKL,
so its fp32 matmuls run on whichever BLAS the system links (here the same OpenBLAS as ours, under
the same OPENBLAS_CORETYPE), and its vectorised kernels on the CPU capability it picked."""
import os
import re

import torch


def torch_build():
    """BLAS build setting, MKL / oneDNN availability, CPU capability and the BLAS libraries loaded."""
    config = torch.__config__.show()
    blas_info = re.search(r"BLAS_INFO=([^,\s]+)", config)
    capability = re.search(r"CPU capability usage: (\S+)", config)
    torch.ones(2, 2) @ torch.ones(2, 2)  # the BLAS is loaded by now either way; keep it certain
    loaded = set()
    with open("/proc/self/maps") as f:
        for line in f:
            name = os.path.basename(line.split()[-1]) if len(line.split()) >= 6 else ""
            if re.match(r"lib(openblas|mkl_|blis|blas\.so)", name):
                loaded.add(name)
    return {
        "blas_info": blas_info.group(1) if blas_info else None,
        "mkl": torch.backends.mkl.is_available(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "cpu_capability": capability.group(1) if capability else None,
        "blas_loaded": sorted(loaded),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE") or None,
    }
