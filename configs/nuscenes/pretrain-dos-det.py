# DOS pretraining for detection on nuScenes: pretrain-dos.py with the paper's detection mask ratio,
# 0.6 of the 1 m cubes masked (0.7 for segmentation). Fine-tune with det-dos-ft.py.
# sh tools/train.sh -d nuscenes -c pretrain-dos-det -n dos-det -g 8
import os

from pointcept.utils.config import load_config

_base_ = ["./pretrain-dos.py"]

_hooks = load_config(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrain-dos.py")).hooks
hooks = [dict(h, mask_ratio=0.6) if h["type"] == "DOSScheduleHook" else h for h in _hooks]
