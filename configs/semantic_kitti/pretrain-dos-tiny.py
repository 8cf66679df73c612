# DOS pretraining demo on the generated scans (tools/generate_demo_data.py): the tiny PTv3 preset,
# a 0.1 m grid and small crops, so that it finishes in a few minutes on 2 CPU cores.
_base_ = ["./pretrain-dos.py", "../_base_/models/ptv3-tiny.py"]

_grid_size = 0.1
_distill_level = 2
# Must equal enc_depths of ptv3-tiny.py: used for the layer-wise lr decay prefixes below.
_enc_depths = (1, 1, 1, 1)

model = dict(
    # Activation recomputation saves GPU memory on big scans; the tiny CPU demo only pays its time.
    backbone=dict(enc_mode=True, mask_token=False, drop_path=0.1, mlp_checkpoint=False),
    head_hidden_channels=256,
    head_embed_channels=64,
    num_prototypes=256,
    match_radius=_grid_size * 2**_distill_level,  # 0.4 m
)

_view_transform = [
    dict(type="CenterShift", apply_z=False),
    dict(type="RandomRotate", angle=(-1, 1), axis="z", center=(0, 0, 0), p=0.8),
    dict(type="RandomRotate", angle=(-1 / 64, 1 / 64), axis="x", center=(0, 0, 0), p=0.8),
    dict(type="RandomRotate", angle=(-1 / 64, 1 / 64), axis="y", center=(0, 0, 0), p=0.8),
    dict(type="RandomScale", scale=(0.9, 1.1)),
    dict(type="RandomFlip", p=0.5),
    dict(type="RandomJitter", sigma=0.005, clip=0.02),
    dict(type="GridSample", grid_size=_grid_size, mode="train", return_grid_coord=True),
    dict(type="Collect", keys=("coord", "origin_coord", "grid_coord"), feat_keys=("coord", "strength")),
]
data = dict(
    train=dict(
        _delete_=True,
        type="SemanticKITTIDataset",
        data_root="data/semantic_kitti_demo",
        split="train",
        transform=[
            dict(type="GridSample", grid_size=_grid_size, mode="train", return_grid_coord=False),
            dict(type="Copy", keys_dict={"coord": "origin_coord"}),
            dict(
                type="DOSViewGenerator",
                view_transform=_view_transform,
                crop_scale=(0.4, 1.0),
                max_points=8000,
            ),
            dict(type="ToTensor"),
        ],
    ),
)

batch_size = 2
num_worker = 2
max_steps = 400  # ~2 min on 2 idle cores; the probe gains ~4 mIoU over 150 steps on the demo data
save_interval = 400
log_interval = 10
optimizer = dict(type="AdamW", lr=0.002, weight_decay=0.04)
_prefixes = ["student.backbone.embedding"]
for _s, _d in enumerate(_enc_depths):
    if _s > 0:
        _prefixes.append(f"student.backbone.enc.{_s}.down")
    _prefixes += [f"student.backbone.enc.{_s}.blocks.{_b}" for _b in range(_d)]
layer_decay = dict(rate=0.9, layer_id=dict(type="PrefixLayerId", prefixes=_prefixes))
clip_grad = 3.0
amp_dtype = None  # fp32 on CPU: bf16 autocast is slower than fp32 there
