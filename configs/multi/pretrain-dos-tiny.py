# Multi-dataset DOS pretraining demo on the generated scans (tools/generate_demo_data.py): two
# differently transformed SemanticKITTI demo sets (train split with the tiny crops; val split with
# larger, smaller-capped crops), sampled 2:1. The tiny PTv3 and budget of semantic_kitti/pretrain-dos-tiny.py.
# sh tools/train.sh -d multi -c pretrain-dos-tiny -n demo
import os

from pointcept.utils.config import config_entry as _entry

_base_ = ["../semantic_kitti/pretrain-dos-tiny.py"]
_kitti = _entry(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "semantic_kitti", "pretrain-dos-tiny.py"),
    "data.train",
)

data = dict(
    train=dict(
        _delete_=True,
        type="ConcatDataset",
        datasets=[
            _kitti,
            dict(
                _kitti,
                split="val",
                transform=[
                    dict(type="DOSViewGenerator", grid_size=0.1, max_points=4000, crop_scale=(0.6, 1.0)),
                    dict(type="ToTensor"),
                ],
            ),
        ],
        tags=["kitti_train", "kitti_val"],
        weights=[2, 1],
    ),
)
