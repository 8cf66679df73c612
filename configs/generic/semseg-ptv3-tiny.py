# Semantic segmentation on your own data without code: Pointcept-style scene folders read by
# GenericNpyDataset (<data_root>/<split>/<scene>/coord.npy, strength.npy | color.npy, normal.npy,
# segment.npy; see pointcept/datasets/generic.py). Copy this file and set _data_root, _num_classes
# (and data.names) and the feature keys your scenes have (backbone in_channels = their channels):
#   sh tools/train.sh -d generic -c semseg-ptv3-tiny -n mydata
_base_ = ["../_base_/default_runtime.py", "../_base_/models/ptv3-tiny.py"]

_grid_size = 0.05
_feat_keys = ("coord", "color")  # e.g. ("coord", "strength") for lidar, ("color", "normal") indoors
_num_classes = 13
_data_root = "data/generic"

model = dict(
    type="DefaultSegmentor",
    backbone=dict(in_channels=6),  # channels of _feat_keys: coord 3 + color 3
    num_classes=_num_classes,
    backbone_out_channels=16,  # dec_channels[0] of ptv3-tiny.py
    criteria=[dict(type="CrossEntropyLoss", ignore_index=-1, loss_weight=1.0)],
)

_train_transform = [
    dict(type="RandomRotate", angle=(-1, 1), axis="z", center=(0, 0, 0), p=1.0),
    dict(type="RandomScale", scale=(0.9, 1.1)),
    dict(type="RandomFlip", p=0.5),
    dict(type="GridSample", grid_size=_grid_size, mode="train", return_grid_coord=True),
    dict(type="SphereCrop", point_max=40000, mode="random"),
    dict(type="ToTensor"),
    dict(type="Collect", keys=("coord", "grid_coord", "segment"), feat_keys=_feat_keys),
]
# Validation and test read the scenes whole: no random augmentation, no crop.
_eval_transform = [t for t in _train_transform if t["type"].startswith(("GridSample", "ToTensor", "Collect"))]
_dataset = dict(type="GenericNpyDataset", data_root=_data_root, num_classes=_num_classes)
_test_voxelize = dict(type="GridSample", grid_size=_grid_size, mode="test", return_grid_coord=True)
_test_collect = dict(type="Collect", keys=("coord", "grid_coord", "index"), feat_keys=_feat_keys)
data = dict(
    num_classes=_num_classes,
    ignore_index=-1,
    train=dict(_dataset, split="train", transform=_train_transform),
    val=dict(_dataset, split="val", transform=_eval_transform),
    test=dict(
        _dataset,
        split="val",
        transform=[],
        test_mode=True,
        test_cfg=dict(voxelize=_test_voxelize, post_transform=[dict(type="ToTensor"), _test_collect]),
    ),
)

# Evaluation and checkpoints every 500 steps, fp32: default_runtime.py's eval_interval,
# save_interval and amp_dtype.
batch_size = 4
batch_size_val = 2
num_worker = 2
max_steps = 3000
optimizer = dict(type="AdamW", lr=0.002, weight_decay=0.02)
