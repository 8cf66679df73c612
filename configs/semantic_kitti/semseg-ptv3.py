# Supervised PTv3 on SemanticKITTI from random initialisation, Pointcept's outdoor recipe
# (nuScenes PTv3 numbers: grid 0.05 m, patch 1024, 4 orders, CE + Lovasz, AdamW, OneCycle with a
# 10x smaller lr for the attention blocks). The fine-tune config without DOS weights.
#   sh tools/train.sh -d semantic_kitti -c semseg-ptv3 -n ptv3
_base_ = ["./semseg-dos-ft.py"]

key_map = None
optimizer = dict(type="AdamW", lr=0.002, weight_decay=0.005)
# As Pointcept's outdoor PTv3: every transformer block ("block" in the name) learns at lr / 10.
param_dicts = [dict(keyword="block", lr=0.0002)]
