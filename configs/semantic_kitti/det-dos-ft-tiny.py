# The detection demo fine-tuned from a DOS checkpoint of pretrain-dos-tiny.py (same encoder preset):
# sh tools/train.sh -d semantic_kitti -c det-dos-ft-tiny -n det-ft -w exp/semantic_kitti/<dos run>/model/model_last.pth
_base_ = ["./det-centerpoint-tiny.py", "../_base_/det-dos-ft.py"]

param_dicts = [dict(keyword="backbone.enc.", lr=0.0004), dict(keyword="backbone.embedding.", lr=0.0004)]
