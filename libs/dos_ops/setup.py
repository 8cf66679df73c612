"""Build the dos_ops extension: ``cd libs/dos_ops && python setup.py develop``
(or ``pip install -e libs/dos_ops --no-build-isolation``).

CPU kernels are always built. CUDA kernels are added only when torch itself is a CUDA build
(``torch.version.cuda``) and a CUDA toolkit is found (``CUDA_HOME``); set ``DOS_OPS_FORCE_CPU=1`` to
skip them anyway. They are compiled for the visible GPUs, else for ``TORCH_CUDA_ARCH_LIST``, else
(a build machine without a GPU) for ``DEFAULT_ARCH_LIST``.
"""

import glob
import os

from setuptools import setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

HERE = os.path.dirname(os.path.abspath(__file__))
# CUDA architectures when no GPU is visible and TORCH_CUDA_ARCH_LIST is unset (all supported by CUDA
# 11.8 to 13.x toolkits).
DEFAULT_ARCH_LIST = "7.5;8.0;8.6;8.9;9.0+PTX"


def sources(pattern: str) -> list[str]:
    return sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, "csrc", pattern)))


def extension():
    import torch

    with_cuda = (
        torch.version.cuda is not None and CUDA_HOME is not None and not os.environ.get("DOS_OPS_FORCE_CPU")
    )
    # -fno-trapping-math lets GCC turn the selects of the branch-free exp into vector blends; the
    # kernels never rely on floating-point exception traps. -g0 drops the debug info that Python's
    # default flags ask for (about 20 % of the compile time and 25x the object size).
    cxx_flags = ["-O3", "-g0", "-fopenmp", "-fno-trapping-math"]
    common = dict(
        name="dos_ops._C",
        sources=sources("*.cpp") + sources("cpu/*.cpp"),
        extra_link_args=["-fopenmp"],
    )
    if not with_cuda:
        print(
            f"[dos_ops] building CPU kernels only (torch.version.cuda={torch.version.cuda}, CUDA_HOME={CUDA_HOME})"
        )
        return CppExtension(extra_compile_args={"cxx": cxx_flags}, **common)
    if not os.environ.get("TORCH_CUDA_ARCH_LIST") and torch.cuda.device_count() == 0:
        # torch picks the architectures of the visible GPUs and fails when there are none (a build
        # machine without a GPU); then build for Turing..Hopper, with PTX for newer GPUs to JIT.
        os.environ["TORCH_CUDA_ARCH_LIST"] = DEFAULT_ARCH_LIST
    print(
        f"[dos_ops] building CPU and CUDA kernels (CUDA_HOME={CUDA_HOME}, "
        f"TORCH_CUDA_ARCH_LIST={os.environ.get('TORCH_CUDA_ARCH_LIST', 'visible GPUs')})"
    )
    common["sources"] += sources("cuda/*.cpp") + sources("cuda/*.cu")
    return CUDAExtension(extra_compile_args={"cxx": cxx_flags, "nvcc": ["-O3"]}, **common)


setup(
    name="dos_ops",
    version="0.1.0",
    description="Fused masked gather, grid pooling and Zipf-Sinkhorn kernels for pointcept (CPU and CUDA)",
    packages=["dos_ops"],
    ext_modules=[extension()],
    cmdclass={"build_ext": BuildExtension},
    python_requires=">=3.10",
)
