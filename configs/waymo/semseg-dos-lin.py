# Linear probe of a DOS-pretrained encoder on Waymo (22 classes): SemanticKITTI's probe recipe with the
# dataset swapped. sh tools/train.sh -d waymo -c semseg-dos-lin -n dos-lin -w exp/waymo/dos-base/model/model_last.pth
_base_ = ["../semantic_kitti/semseg-dos-lin.py", "../_base_/datasets/waymo.py"]

model = dict(num_classes=22)
