# Ablation preset regression (paper §6.4, alternative row): observable distillation by cosine feature regression, 1 - cos(student, teacher) of the head's projections at matched cells; no prototypes, no Sinkhorn.
_base_ = ["../pretrain-dos-tiny.py"]

model = dict(target="regression")
# The prototypes take no part in the loss: DDP must tolerate parameters without gradient.
find_unused_parameters = True
