# Full fine-tuning of a DOS-pretrained PTv3 on ScanNet-20: SemanticKITTI's fine-tune recipe (model, key
# map, learning rates) with the indoor data block.
# sh tools/train.sh -d scannet -c semseg-dos-ft -n dos-ft -w exp/scannet/dos-base/model/model_last.pth
_base_ = ["../semantic_kitti/semseg-dos-ft.py", "../_base_/datasets/scannet.py"]

model = dict(backbone=dict(in_channels=9), num_classes=20)
