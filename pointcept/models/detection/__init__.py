"""3D object detection on the PTv3 encoder: a CenterPoint-style model and its parts.

* ``bev``: the BEV grid convention and the point-to-BEV scatter;
* ``targets``: Gaussian heatmap targets (the radius rule is derived in its docstring) and the
  regression encoding/decoding;
* ``neck``, ``head``: the 2D conv neck and the center head;
* ``losses``: focal loss on heatmaps, L1 on regressions;
* ``decode``: top-k peak decoding and class-aware circle NMS;
* ``centerpoint``: the registered ``CenterPoint`` model (batch interface in its docstring).

Box convention: ``pointcept.datasets.boxes`` (``[x, y, z, l, w, h, yaw, vx, vy]``).
"""

from .bev import BEVGrid, scatter_to_bev
from .centerpoint import CenterPoint
from .decode import circle_nms, decode_detections, split_predictions
from .targets import encode_targets, gaussian_radius

__all__ = [
    "BEVGrid",
    "CenterPoint",
    "circle_nms",
    "decode_detections",
    "encode_targets",
    "gaussian_radius",
    "scatter_to_bev",
    "split_predictions",
]
