# Full fine-tuning on SemanticKITTI: PTv3 with its decoder, the encoder (embedding + all encoder
# stages) initialised from the DOS teacher, the decoder and head from scratch (docs/method.md section 8).
# sh tools/train.sh -d semantic_kitti -c semseg-dos-ft -n dos-ft -w exp/semantic_kitti/dos-base/model/model_last.pth
# Test: as in semseg-dos-lin.py.
_base_ = ["./semseg-dos-lin.py"]

model = dict(
    backbone=dict(enc_mode=False, drop_path=0.3),
    backbone_out_channels=64,  # dec_channels[0] of ptv3-base.py
    freeze_backbone=False,
)
# Only the encoder exists in the DOS checkpoint: map it key by key and require every encoder key;
# the decoder (backbone.dec.*) is outside the mapped prefixes and keeps its initialisation.
key_map = {
    "_delete_": True,  # replace, not merge with, the linear probe's key_map
    "teacher.backbone.embedding.": "backbone.embedding.",
    "teacher.backbone.enc.": "backbone.enc.",
}

optimizer = dict(type="AdamW", lr=0.002, weight_decay=0.05)
# Pretrained encoder blocks learn 10x slower than the new decoder and head.
param_dicts = [dict(keyword="backbone.enc.", lr=0.0002), dict(keyword="backbone.embedding.", lr=0.0002)]
