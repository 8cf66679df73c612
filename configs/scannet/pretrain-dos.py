# DOS pretraining on ScanNet (indoor): the SemanticKITTI recipe with a 0.02 m grid, 0.4 m mask cubes
# and coord + color + normal features (in_channels 9), all set in ../_base_/schedules/dos-indoor.py.
# Labels are never read.
# sh tools/train.sh -d scannet -c pretrain-dos -n dos-base -g 8
_base_ = [
    "../semantic_kitti/pretrain-dos.py",
    "../_base_/datasets/scannet.py",
    "../_base_/schedules/dos-indoor.py",
]
