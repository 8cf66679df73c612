"""Python face of the ``dos_ops`` fused kernels, with pure-torch fallbacks in ``reference``.

Build the kernels with ``cd libs/dos_ops && python setup.py develop``. The backend is chosen by
``set_backend`` / ``use_backend`` or the env var ``DOS_OPS_BACKEND`` (``auto``, ``fused``,
``reference``); see ``pointcept.ops._backend``.
"""

from pointcept.ops._backend import fused_available, get_backend, kernel_available, set_backend, use_backend
from pointcept.ops.grid_pool import grid_pool
from pointcept.ops.masked_gather import masked_gather
from pointcept.ops.reference import GridPoolResult, zipf_prior
from pointcept.ops.submconv import submconv, submconv_neighbours
from pointcept.ops.zipf_sinkhorn import zipf_sinkhorn

__all__ = [
    "GridPoolResult",
    "fused_available",
    "get_backend",
    "grid_pool",
    "kernel_available",
    "masked_gather",
    "set_backend",
    "submconv",
    "submconv_neighbours",
    "use_backend",
    "zipf_prior",
    "zipf_sinkhorn",
]
