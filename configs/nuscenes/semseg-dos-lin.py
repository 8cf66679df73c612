# Linear probe of a DOS-pretrained encoder on nuScenes (16 classes): SemanticKITTI's probe recipe with the
# dataset swapped. sh tools/train.sh -d nuscenes -c semseg-dos-lin -n dos-lin -w exp/nuscenes/dos-base/model/model_last.pth
_base_ = ["../semantic_kitti/semseg-dos-lin.py", "../_base_/datasets/nuscenes.py"]

model = dict(num_classes=16)
