# Supervised PTv3 baseline on ScanNet200 from random initialisation.
# sh tools/train.sh -d scannet200 -c semseg-ptv3 -n NAME
_base_ = ["../scannet/semseg-ptv3.py", "../_base_/datasets/scannet200.py"]

model = dict(num_classes=200)
