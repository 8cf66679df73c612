# Ablation preset softmap (paper §6.4, row 4): observable distillation of per-cloud softmaps (per prototype, a distribution over the cloud's cells) with uniform Sinkhorn (alpha 0).
_base_ = ["../pretrain-dos.py"]

model = dict(target="softmap", alpha=0.0, sinkhorn_scope="cloud")
