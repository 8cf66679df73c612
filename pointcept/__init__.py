"""pointcept: self-supervised point cloud learning with DOS.

Shape letters used in docstrings throughout the package:

* ``N``: points of all clouds of a batch, concatenated
* ``B``: clouds in a batch
* ``M``: points kept after masking or cells after pooling
* ``C``: channels
* ``K``: prototypes

A batch is a dict of per-point tensors concatenated over clouds plus ``offset`` (Tensor[B] int64),
the cumulative point counts *without* a leading zero, as in Pointcept: cloud ``b`` owns rows
``offset[b-1]:offset[b]`` (with ``offset[-1] == N``).

Imports flow downward only: ``engines -> models, datasets -> ops, utils``.
"""

__version__ = "0.1.0"
