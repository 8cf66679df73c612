"""The ``pointcept`` package. The fused kernels are a separate build: ``libs/dos_ops``.

torch is deliberately not an install requirement: an unpinned ``torch`` makes pip fetch a
multi-GB CUDA build on CPU machines. Install the torch you want first (``tools/setup.sh`` pins the
CPU build 2.13.0 when no torch is present).
"""

import os

from setuptools import find_packages, setup


def requirements(name: str) -> list[str]:
    """The requirement lines of ``name`` beside this file (comments and blank lines dropped)."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), name)) as f:
        lines = (line.split("#", 1)[0].strip() for line in f)
        return [line for line in lines if line]


setup(
    name="pointcept-dos",
    version="0.1.0",
    description="Self-supervised 3D point cloud representation learning with DOS",
    packages=find_packages(include=["pointcept", "pointcept.*"]),
    python_requires=">=3.10",
    install_requires=["numpy", "tensorboardX"],
    extras_require={
        "dev": requirements("requirements-dev.txt"),
        "vis": ["matplotlib"],
    },
)
