# CenterPoint (PTv3-base encoder, BEV 0.4 m cells over +-75.2 m) on Waymo (vehicle, pedestrian,
# cyclist), from scratch; nuScenes' detection recipe with the Waymo data block.
# sh tools/train.sh -d waymo -c det-centerpoint -n det-scratch -g 8
_base_ = ["../_base_/det-centerpoint.py", "../_base_/datasets/waymo-det.py"]

model = dict(bev_cell_size=0.4, nms_radius=(4.0, 0.175, 0.85))
