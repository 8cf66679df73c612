# Ablation preset naive (paper §6.4, row 1): masked points stay in the student input as mask tokens and are supervised, assignment targets, uniform Sinkhorn over the whole batch.
# Probe with ./lin-mask-token-tiny.py (the checkpoint carries a mask token). docs/method.md §7.
_base_ = ["../pretrain-dos-tiny.py"]

model = dict(
    backbone=dict(mask_token=True),
    observable_only=False,
    target="assignment",
    alpha=0.0,
    sinkhorn_scope="batch",
)
