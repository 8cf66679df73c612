# ScanNet200: the ScanNet scenes and pipeline of ./scannet.py with the segment200 labels.
from pointcept.datasets.label_maps import SCANNET200_CLASS_NAMES as _SCANNET200_NAMES

_base_ = ["./scannet.py"]

data = dict(
    num_classes=200,
    names=list(_SCANNET200_NAMES),
    train=dict(type="ScanNet200Dataset"),
    val=dict(type="ScanNet200Dataset"),
    test=dict(type="ScanNet200Dataset"),
)
