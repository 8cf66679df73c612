# Linear probe on ScanNet200 (200 classes): the ScanNet-20 probe with segment200 labels.
# sh tools/train.sh -d scannet200 -c semseg-dos-lin -n NAME
_base_ = ["../scannet/semseg-dos-lin.py", "../_base_/datasets/scannet200.py"]

model = dict(num_classes=200)
