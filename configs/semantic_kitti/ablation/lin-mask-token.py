# Linear probe of a mask-token preset (naive.py, sonata.py): ../semseg-dos-lin.py with the backbone
# built with a mask token, so that the checkpoint's teacher.backbone.mask_token has a place and the
# key map loads strictly. The probe never sets ``mask``, so the token is never used.
# (Fine-tuning needs no variant: semseg-dos-ft.py maps only embedding.* and enc.*.)
_base_ = ["../semseg-dos-lin.py"]

model = dict(backbone=dict(mask_token=True))
