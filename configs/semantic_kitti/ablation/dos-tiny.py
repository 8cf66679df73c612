# Ablation preset dos (paper §6.4, row 5): observable softmaps with the Zipf-Sinkhorn prior alpha 1.3; the same run as ../pretrain-dos-tiny.py, named for the chain.
_base_ = ["../pretrain-dos-tiny.py"]

model = dict(target="softmap", alpha=1.3, sinkhorn_scope="cloud", observable_only=True)
