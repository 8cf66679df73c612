# default_runtime.py with Pointcept's OneCycle schedule for PTv3 (5% warm-up from lr / 10 to lr, then
# cosine down to lr / 10000; total_steps = max_steps). Inherit it in place of default_runtime.py:
# `_delete_` only replaces what this file's own bases define.
_base_ = ["../default_runtime.py"]

scheduler = dict(
    _delete_=True,
    type="OneCycleLR",
    pct_start=0.05,
    anneal_strategy="cos",
    div_factor=10.0,
    final_div_factor=1000.0,
)
