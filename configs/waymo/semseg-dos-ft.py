# Full fine-tuning of a DOS-pretrained PTv3 on Waymo (22 classes), SemanticKITTI's fine-tune recipe.
# sh tools/train.sh -d waymo -c semseg-dos-ft -n dos-ft -w exp/waymo/dos-base/model/model_last.pth
_base_ = ["../semantic_kitti/semseg-dos-ft.py", "../_base_/datasets/waymo.py"]

model = dict(num_classes=22)
