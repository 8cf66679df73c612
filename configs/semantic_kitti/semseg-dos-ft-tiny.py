# Fine-tuning demo on the generated scans: tiny PTv3 with decoder, encoder from pretrain-dos-tiny.py.
_base_ = ["./semseg-dos-lin-tiny.py"]

model = dict(
    backbone=dict(enc_mode=False, drop_path=0.1),
    backbone_out_channels=16,  # dec_channels[0] of ptv3-tiny.py
    freeze_backbone=False,
)
key_map = {
    "_delete_": True,  # replace, not merge with, the linear probe's key_map
    "teacher.backbone.embedding.": "backbone.embedding.",
    "teacher.backbone.enc.": "backbone.enc.",
}
optimizer = dict(type="AdamW", lr=0.002, weight_decay=0.05)
# Pretrained encoder blocks learn 10x slower than the new decoder and head.
param_dicts = [dict(keyword="backbone.enc.", lr=0.0002), dict(keyword="backbone.embedding.", lr=0.0002)]
