"""Name the spconv wheel that matches the installed torch: ``python tools/spconv_wheel.py``.

spconv publishes one PyPI package per CUDA version (``spconv-cu118``, ``spconv-cu121``, ...). A
wheel built for CUDA X.Y runs with a torch built for CUDA X.Z, Z >= Y (CUDA minor-version
compatibility within a major version), so the choice is the newest wheel of the same major version
that is not newer than ``torch.version.cuda``. A torch without CUDA (CPU or ROCm builds) gets
``spconv-cu120``, which also runs on CPU with ``ConvAlgo.Native`` (what the models pick on CPU).
``tools/setup.sh`` installs the printed name; ``--cuda 12.4`` names the wheel for another version,
``--cuda cpu`` the CPU choice.
"""

import argparse
import sys

# CUDA (major, minor) of each published spconv wheel -> PyPI package. The one table of the project.
SPCONV_WHEELS: dict[tuple[int, int], str] = {
    (10, 2): "spconv-cu102",
    (11, 1): "spconv-cu111",
    (11, 3): "spconv-cu113",
    (11, 4): "spconv-cu114",
    (11, 6): "spconv-cu116",
    (11, 7): "spconv-cu117",
    (11, 8): "spconv-cu118",
    (12, 0): "spconv-cu120",
    (12, 1): "spconv-cu121",
    (12, 4): "spconv-cu124",
    (12, 6): "spconv-cu126",
}
CPU_WHEEL = "spconv-cu120"


def parse_cuda(version: str) -> tuple[int, int]:
    """``"12.4"`` -> ``(12, 4)``; ValueError naming the text otherwise."""
    parts = version.strip().split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise ValueError(f"not a CUDA version: {version!r} (expected MAJOR.MINOR, e.g. 12.4)")
    return int(parts[0]), int(parts[1])


def spconv_package(cuda: str | None) -> str:
    """The spconv package for a torch built with CUDA ``cuda`` (``torch.version.cuda``; None or
    ``"cpu"`` for a torch without CUDA). ValueError when no published wheel fits."""
    if cuda is None or cuda.strip().lower() == "cpu":
        return CPU_WHEEL
    major, minor = parse_cuda(cuda)
    fitting = [v for v in SPCONV_WHEELS if v[0] == major and v[1] <= minor]
    if not fitting:
        known = ", ".join(f"{a}.{b}" for a, b in sorted(SPCONV_WHEELS))
        raise ValueError(
            f"no spconv wheel for CUDA {major}.{minor} (wheels exist for CUDA {known}): install a torch "
            "built for one of them, or build spconv from source and set SPCONV_PACKAGE to skip this choice"
        )
    return SPCONV_WHEELS[max(fitting)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuda", help="CUDA version to choose for (default: the installed torch's)")
    args = parser.parse_args(argv)
    cuda = args.cuda
    if cuda is None:
        import torch

        cuda = torch.version.cuda
    try:
        print(spconv_package(cuda))
    except ValueError as e:
        print(f"spconv_wheel.py: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
