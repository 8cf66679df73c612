# DOS pretraining for detection on Waymo: pretrain-dos.py with the hooks of ../nuscenes/pretrain-dos-det.py
# (mask ratio 0.6 instead of 0.7). Fine-tune with det-dos-ft.py.
# sh tools/train.sh -d waymo -c pretrain-dos-det -n dos-det -g 8
import os

from pointcept.utils.config import load_config

_base_ = ["./pretrain-dos.py"]

hooks = load_config(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "../nuscenes/pretrain-dos-det.py")
).hooks
