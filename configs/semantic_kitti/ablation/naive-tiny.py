# Ablation preset naive (paper §6.4, row 1): masked points stay in the student input as mask tokens and are supervised, assignment targets, uniform Sinkhorn over the whole batch.
# Probe with ./lin-mask-token-tiny.py (the checkpoint carries a mask token). docs/method.md §7.
_base_ = ["../pretrain-dos-tiny.py", "../../_base_/ablation/naive.py"]
