# Supervised PTv3 baseline on ScanNet-20 from random initialisation (the fine-tune config without
# DOS weights, one learning rate). sh tools/train.sh -d scannet -c semseg-ptv3 -n ptv3
_base_ = ["./semseg-dos-ft.py"]

key_map = None
param_dicts = None
