# Linear probe demo on the generated scans: the tiny PTv3 encoder of pretrain-dos-tiny.py, frozen,
# all four stages up-cast and concatenated (16+32+64+128 = 240 channels), one linear layer.
_base_ = ["./semseg-dos-lin.py", "../_base_/models/ptv3-tiny.py", "../_base_/semseg-demo.py"]

model = dict(
    backbone=dict(enc_mode=True, mask_token=False),  # ptv3-tiny.py builds a decoder
    backbone_out_channels=16 + 32 + 64 + 128,
)
optimizer = dict(type="AdamW", lr=0.005, weight_decay=0.02)
