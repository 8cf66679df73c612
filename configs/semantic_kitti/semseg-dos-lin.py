# Linear probe of a DOS-pretrained PTv3 encoder on SemanticKITTI (DESIGN.md section 9):
# the encoder is frozen in eval mode, all five stages are up-cast to the input points and
# concatenated (32+64+128+256+512 = 992 channels), and one linear layer is trained.
# sh tools/train.sh -d semantic_kitti -c semseg-dos-lin -n dos-lin -w exp/semantic_kitti/dos-base/model/model_last.pth
# Test:  python tools/test.py --config-file exp/semantic_kitti/dos-lin/config.py \
#            --options weight=exp/semantic_kitti/dos-lin/model/model_last.pth save_path=exp/semantic_kitti/dos-lin/test
_base_ = ["../_base_/default_runtime.py", "../_base_/models/ptv3-base.py"]

_grid_size = 0.05

model = dict(
    type="DefaultSegmentor",
    backbone=dict(enc_mode=True, mask_token=False),
    num_classes=19,
    backbone_out_channels=32 + 64 + 128 + 256 + 512,
    criteria=[
        dict(type="CrossEntropyLoss", ignore_index=-1, loss_weight=1.0),
        dict(type="LovaszLoss", ignore_index=-1, loss_weight=1.0),
    ],
    freeze_backbone=True,
    upcast_level=0,
)
# The EMA teacher's encoder of the DOS checkpoint becomes the segmentor's backbone; every
# backbone key must be provided (strict), the linear head keeps its initialisation.
weight = None  # set to the DOS checkpoint (train.sh -w PATH)
key_map = {"teacher.backbone.": "backbone."}
weight_strict = True

_train_transform = [
    dict(type="RandomRotate", angle=(-1, 1), axis="z", center=(0, 0, 0), p=1.0),
    dict(type="RandomScale", scale=(0.9, 1.1)),
    dict(type="RandomFlip", p=0.5),
    dict(type="RandomJitter", sigma=0.005, clip=0.02),
    dict(type="GridSample", grid_size=_grid_size, mode="train", return_grid_coord=True),
    dict(type="SphereCrop", point_max=120000, mode="random"),
    dict(type="ToTensor"),
    dict(type="Collect", keys=("coord", "grid_coord", "segment"), feat_keys=("coord", "strength")),
]
_eval_transform = [
    dict(type="GridSample", grid_size=_grid_size, mode="train", return_grid_coord=True),
    dict(type="ToTensor"),
    dict(type="Collect", keys=("coord", "grid_coord", "segment"), feat_keys=("coord", "strength")),
]
_names = [
    "car", "bicycle", "motorcycle", "truck", "other-vehicle", "person", "bicyclist", "motorcyclist",
    "road", "parking", "sidewalk", "other-ground", "building", "fence", "vegetation", "trunk",
    "terrain", "pole", "traffic-sign",
]  # fmt: skip
data = dict(
    num_classes=19,
    ignore_index=-1,
    names=_names,
    train=dict(
        type="SemanticKITTIDataset",
        data_root="data/semantic_kitti",
        split="train",
        transform=_train_transform,
    ),
    val=dict(
        type="SemanticKITTIDataset", data_root="data/semantic_kitti", split="val", transform=_eval_transform
    ),
    test=dict(
        type="SemanticKITTIDataset",
        data_root="data/semantic_kitti",
        split="val",
        transform=[],
        test_mode=True,
        test_cfg=dict(
            voxelize=dict(type="GridSample", grid_size=_grid_size, mode="test", return_grid_coord=True),
            post_transform=[
                dict(type="ToTensor"),
                dict(type="Collect", keys=("coord", "grid_coord", "index"), feat_keys=("coord", "strength")),
            ],
        ),
    ),
)

batch_size = 8
batch_size_val = 4
num_worker = 8
max_steps = 30000
eval_interval = 3000
save_interval = 3000
optimizer = dict(type="AdamW", lr=0.002, weight_decay=0.02)
scheduler = dict(
    _delete_=True,
    type="OneCycleLR",
    pct_start=0.05,
    anneal_strategy="cos",
    div_factor=10.0,
    final_div_factor=1000.0,
)
amp_dtype = "bf16"
