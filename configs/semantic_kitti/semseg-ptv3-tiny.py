# Supervised tiny PTv3 (with decoder) on the generated demo scans, from random initialisation:
# the reference point for the linear probe and the end-to-end test of supervised training.
_base_ = ["./semseg-dos-ft-tiny.py"]

key_map = None
param_dicts = None
optimizer = dict(type="AdamW", lr=0.004, weight_decay=0.01)
max_steps = 300
eval_interval = 300
save_interval = 300
