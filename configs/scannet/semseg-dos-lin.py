# Linear probe of a DOS-pretrained encoder on ScanNet-20: SemanticKITTI's probe recipe with the indoor
# data block (0.02 m grid, coord + color + normal features, in_channels 9).
# sh tools/train.sh -d scannet -c semseg-dos-lin -n dos-lin -w exp/scannet/dos-base/model/model_last.pth
_base_ = ["../semantic_kitti/semseg-dos-lin.py", "../_base_/datasets/scannet.py"]

model = dict(backbone=dict(in_channels=9), num_classes=20)
