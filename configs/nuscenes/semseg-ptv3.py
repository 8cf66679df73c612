# Supervised PTv3 baseline on nuScenes from random initialisation: the fine-tune config without the
# DOS weights, one learning rate for every parameter. sh tools/train.sh -d nuscenes -c semseg-ptv3 -n ptv3
_base_ = ["./semseg-dos-ft.py"]

key_map = None
param_dicts = None
