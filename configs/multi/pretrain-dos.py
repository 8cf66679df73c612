# DOS*: one PTv3 encoder pretrained across SemanticKITTI + nuScenes + Waymo (docs/method.md), the
# SemanticKITTI recipe with the training set swapped for a ConcatDataset of the three datasets' own
# pretraining sets (each with its data_root, split and DOS view pipeline, read from its config).
# sh tools/train.sh -d multi -c pretrain-dos -n dos-star -g 8
# Collating across datasets: every view has feat = coord + one strength column in [0, 1]
# (SemanticKITTI remission, nuScenes intensity / 255 with sweeps=1, Waymo tanh(intensity));
# ConcatDataset refuses datasets whose samples differ in keys or channels.
import os

from pointcept.utils.config import config_entry as _entry

_base_ = ["../semantic_kitti/pretrain-dos.py"]
_configs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
_names = ["semantic_kitti", "nuscenes", "waymo"]

data = dict(
    train=dict(
        _delete_=True,
        type="ConcatDataset",
        datasets=[_entry(os.path.join(_configs, n, "pretrain-dos.py"), "data.train") for n in _names],
        tags=_names,
        # Equal shares per step whatever the dataset sizes; an epoch = 3 x 20000 scans.
        weights=[1, 1, 1],
        samples_per_epoch=60000,
    ),
)
