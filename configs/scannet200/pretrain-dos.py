# DOS pretraining on the ScanNet scenes read through ScanNet200Dataset (labels are never read, so this is
# ../scannet/pretrain-dos.py with the dataset type swapped).
# sh tools/train.sh -d scannet200 -c pretrain-dos -n NAME
_base_ = ["../scannet/pretrain-dos.py"]

data = dict(train=dict(type="ScanNet200Dataset"))
