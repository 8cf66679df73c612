# Full fine-tuning on ScanNet200: the ScanNet-20 fine-tune recipe with segment200 labels.
# sh tools/train.sh -d scannet200 -c semseg-dos-ft -n NAME
_base_ = ["../scannet/semseg-dos-ft.py", "../_base_/datasets/scannet200.py"]

model = dict(num_classes=200)
