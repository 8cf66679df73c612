"""Models: the Point structure, serialization, PTv3, segmentors, the detector, losses and their registries.

Importing this package imports the model modules so that their classes are registered in
``MODELS``/``LOSSES``; spconv and flash-attn are only imported when a model needs them.
"""

from .builder import LOSSES, MODELS, build_loss, build_model
from .detection import CenterPoint
from .dos import DOS
from .losses import CrossEntropyLoss, LovaszLoss
from .point_transformer_v3 import PointTransformerV3
from .segmentor import DefaultSegmentor
from .structure import Point
from .upcast import upcast

__all__ = [
    "LOSSES",
    "MODELS",
    "build_loss",
    "build_model",
    "CrossEntropyLoss",
    "LovaszLoss",
    "PointTransformerV3",
    "DefaultSegmentor",
    "DOS",
    "CenterPoint",
    "Point",
    "upcast",
]
