"""Compiled kernels of the ``dos_ops`` custom-op library; import registers ``torch.ops.dos_ops``.

Use them through ``pointcept.ops``, which validates inputs and registers autograd and fake kernels.
"""

import torch  # noqa: F401  (loads libtorch before the extension)

from dos_ops import _C  # noqa: F401

__all__ = []
