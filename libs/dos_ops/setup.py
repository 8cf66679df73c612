"""Build the dos_ops extension: ``cd libs/dos_ops && python setup.py develop``
(or ``pip install -e libs/dos_ops --no-build-isolation``).

CPU kernels are always built. CUDA kernels are added only when torch itself is a CUDA build
(``torch.version.cuda``) and a CUDA toolkit is found (``CUDA_HOME``); set ``DOS_OPS_FORCE_CPU=1`` to
skip them anyway.
"""

import glob
import os

from setuptools import setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

HERE = os.path.dirname(os.path.abspath(__file__))


def sources(pattern: str) -> list[str]:
    return sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, "csrc", pattern)))


def extension():
    import torch

    with_cuda = (
        torch.version.cuda is not None and CUDA_HOME is not None and not os.environ.get("DOS_OPS_FORCE_CPU")
    )
    # -fno-trapping-math lets GCC turn the selects of the branch-free exp into vector blends; the
    # kernels never rely on floating-point exception traps.
    cxx_flags = ["-O3", "-fopenmp", "-fno-trapping-math"]
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
    print(f"[dos_ops] building CPU and CUDA kernels (CUDA_HOME={CUDA_HOME})")
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
