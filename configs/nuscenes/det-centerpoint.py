# CenterPoint (PTv3-base encoder, BEV 0.4 m cells over +-51.2 m) on nuScenes detection, from scratch.
# sh tools/train.sh -d nuscenes -c det-centerpoint -n det-scratch -g 8
# Test: python tools/test.py --config-file exp/nuscenes/det-scratch/config.py \
#           --options weight=exp/nuscenes/det-scratch/model/model_best.pth save_path=exp/nuscenes/det-scratch/test
from pointcept.engines.det_metrics import NUSCENES_CLASS_RANGE as _CLASS_RANGE

_base_ = ["../_base_/det-centerpoint.py", "../_base_/datasets/nuscenes-det.py"]

model = dict(
    bev_cell_size=0.4,
    # CenterPoint's circle-NMS radii (m), in the class order of data.names.
    nms_radius=(4.0, 12.0, 10.0, 10.0, 12.0, 1.0, 0.85, 0.85, 0.175, 0.175),
)
test = dict(class_range=_CLASS_RANGE)  # the devkit's per-class ranges, also used by DetEvaluator
