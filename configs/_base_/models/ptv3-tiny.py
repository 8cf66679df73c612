# A small PTv3 for tests and the CPU demo (about 1.1 M parameters): one block per stage, 4 stages,
# patches of 64 points. Same structure as ptv3-base.py, so code paths are identical.
model = dict(
    backbone=dict(
        type="PointTransformerV3",
        in_channels=4,
        order=("z", "z-trans", "hilbert", "hilbert-trans"),
        stride=(2, 2, 2),
        enc_depths=(1, 1, 1, 1),
        enc_channels=(16, 32, 64, 128),
        enc_num_head=(1, 2, 4, 8),
        enc_patch_size=(64, 64, 64, 64),
        dec_depths=(1, 1, 1),
        dec_channels=(16, 32, 64),
        dec_num_head=(1, 2, 4),
        dec_patch_size=(64, 64, 64),
        mlp_ratio=4,
        qkv_bias=True,
        drop_path=0.1,
        shuffle_orders=True,
        enc_mode=False,
        mask_token=False,
        stem="conv",
        mlp_checkpoint=True,
    )
)
