# CenterPoint on nuScenes with the encoder fine-tuned from a DOS checkpoint (pretrain-dos-det.py).
# sh tools/train.sh -d nuscenes -c det-dos-ft -n det-dos-ft -g 8 -w exp/nuscenes/dos-det/model/model_last.pth
# Test: as in det-centerpoint.py.
_base_ = ["./det-centerpoint.py", "../_base_/det-dos-ft.py"]
