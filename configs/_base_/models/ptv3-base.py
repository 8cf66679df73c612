# PTv3 backbone with Pointcept's outdoor numbers (nuScenes/Waymo PT-v3m1 base), 46.2 M parameters.
# Use as a base: `_base_ = ["../_base_/models/ptv3-base.py"]`, then set `model = dict(type=..., ...)`;
# the backbone is deep-merged in. `in_channels=4` is coord (3) + strength (1).
model = dict(
    backbone=dict(
        type="PointTransformerV3",
        in_channels=4,
        order=("z", "z-trans", "hilbert", "hilbert-trans"),
        stride=(2, 2, 2, 2),
        enc_depths=(2, 2, 2, 6, 2),
        enc_channels=(32, 64, 128, 256, 512),
        enc_num_head=(2, 4, 8, 16, 32),
        enc_patch_size=(1024, 1024, 1024, 1024, 1024),
        dec_depths=(2, 2, 2, 2),
        dec_channels=(64, 64, 128, 256),
        dec_num_head=(4, 4, 8, 16),
        dec_patch_size=(1024, 1024, 1024, 1024),
        mlp_ratio=4,
        qkv_bias=True,
        drop_path=0.3,
        shuffle_orders=True,
        enc_mode=False,
        mask_token=False,
        stem="conv",
        mlp_checkpoint=True,
    )
)
