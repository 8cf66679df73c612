# Ablation preset observable (paper §6.4, row 3): masked points removed from the student input, only observable cells distilled, assignment targets, uniform Sinkhorn over the whole batch.
_base_ = ["../pretrain-dos-tiny.py"]

model = dict(target="assignment", alpha=0.0, sinkhorn_scope="batch")
