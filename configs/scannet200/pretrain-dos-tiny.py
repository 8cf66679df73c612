# Smoke-run DOS pretraining on a tiny ScanNet200 sample (../scannet/pretrain-dos-tiny.py, dataset swapped).
# sh tools/train.sh -d scannet200 -c pretrain-dos-tiny -n smoke -- --options data.train.data_root=PATH max_steps=2
_base_ = ["../scannet/pretrain-dos-tiny.py"]

data = dict(train=dict(type="ScanNet200Dataset"))
