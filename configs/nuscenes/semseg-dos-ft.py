# Full fine-tuning of a DOS-pretrained PTv3 on nuScenes (16 classes), SemanticKITTI's fine-tune recipe.
# sh tools/train.sh -d nuscenes -c semseg-dos-ft -n dos-ft -w exp/nuscenes/dos-base/model/model_last.pth
_base_ = ["../semantic_kitti/semseg-dos-ft.py", "../_base_/datasets/nuscenes.py"]

model = dict(num_classes=16)
