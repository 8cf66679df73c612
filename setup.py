"""The ``pointcept`` package. The fused kernels are a separate build: ``libs/dos_ops``.

torch is deliberately not an install requirement: an unpinned ``torch`` makes pip fetch a
multi-GB CUDA build on CPU machines. Install the torch you want first (``tools/setup.sh`` pins the
CPU build 2.13.0 when no torch is present).
"""

from setuptools import find_packages, setup

setup(
    name="pointcept-dos",
    version="0.1.0",
    description="Self-supervised 3D point cloud representation learning with DOS",
    packages=find_packages(include=["pointcept", "pointcept.*"]),
    python_requires=">=3.10",
    install_requires=["numpy", "tensorboardX"],
    extras_require={
        "dev": ["pytest", "ruff"],
        "vis": ["matplotlib"],
    },
)
