# Linear probe demo on the generated scans: the tiny PTv3 encoder of pretrain-dos-tiny.py, frozen,
# all four stages up-cast and concatenated (16+32+64+128 = 240 channels), one linear layer.
_base_ = ["./semseg-dos-lin.py", "../_base_/models/ptv3-tiny.py"]

_grid_size = 0.1
_data_root = "data/semantic_kitti_demo"

model = dict(
    backbone=dict(enc_mode=True, mask_token=False),
    backbone_out_channels=16 + 32 + 64 + 128,
)

_train_transform = [
    dict(type="RandomRotate", angle=(-1, 1), axis="z", center=(0, 0, 0), p=1.0),
    dict(type="RandomScale", scale=(0.9, 1.1)),
    dict(type="RandomFlip", p=0.5),
    dict(type="GridSample", grid_size=_grid_size, mode="train", return_grid_coord=True),
    dict(type="SphereCrop", point_max=20000, mode="random"),
    dict(type="ToTensor"),
    dict(type="Collect", keys=("coord", "grid_coord", "segment"), feat_keys=("coord", "strength")),
]
_eval_transform = [
    dict(type="GridSample", grid_size=_grid_size, mode="train", return_grid_coord=True),
    dict(type="ToTensor"),
    dict(type="Collect", keys=("coord", "grid_coord", "segment"), feat_keys=("coord", "strength")),
]
data = dict(
    train=dict(data_root=_data_root, transform=_train_transform),
    val=dict(data_root=_data_root, transform=_eval_transform),
    test=dict(
        data_root=_data_root,
        test_cfg=dict(
            voxelize=dict(type="GridSample", grid_size=_grid_size, mode="test", return_grid_coord=True),
        ),
    ),
)

batch_size = 2
batch_size_val = 2
num_worker = 2
max_steps = 100
eval_interval = 100
save_interval = 100
log_interval = 10
optimizer = dict(type="AdamW", lr=0.005, weight_decay=0.02)
amp_dtype = None  # fp32 on CPU: bf16 autocast is slower than fp32 there
