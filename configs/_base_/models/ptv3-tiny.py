# A small PTv3 for tests and the CPU demo (about 1.1 M parameters): one block per stage, 4 stages,
# patches of 64 points. ptv3-base.py with smaller sizes, so code paths are identical.
_base_ = ["./ptv3-base.py"]

model = dict(
    backbone=dict(
        stride=(2, 2, 2),
        enc_depths=(1, 1, 1, 1),
        enc_channels=(16, 32, 64, 128),
        enc_num_head=(1, 2, 4, 8),
        enc_patch_size=(64, 64, 64, 64),
        dec_depths=(1, 1, 1),
        dec_channels=(16, 32, 64),
        dec_num_head=(1, 2, 4),
        dec_patch_size=(64, 64, 64),
        drop_path=0.1,
    )
)
