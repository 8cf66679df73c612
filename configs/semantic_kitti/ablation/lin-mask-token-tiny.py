# Linear probe of a mask-token preset (naive-tiny.py, sonata-tiny.py): ../semseg-dos-lin-tiny.py with
# the backbone built with a mask token, so that the checkpoint's teacher.backbone.mask_token has a
# place and the key map loads strictly. The probe never sets ``mask``, so the token is never used.
_base_ = ["../semseg-dos-lin-tiny.py"]

model = dict(backbone=dict(mask_token=True))
