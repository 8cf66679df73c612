# CenterPoint on Waymo with the encoder fine-tuned from a DOS checkpoint (pretrain-dos-det.py).
# sh tools/train.sh -d waymo -c det-dos-ft -n det-dos-ft -g 8 -w exp/waymo/dos-det/model/model_last.pth
_base_ = ["./det-centerpoint.py", "../_base_/det-dos-ft.py"]
