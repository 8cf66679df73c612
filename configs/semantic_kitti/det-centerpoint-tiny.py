# CenterPoint with the tiny PTv3 encoder on the generated demo scans and boxes, from random
# initialisation: the reference of the detection demo and its end-to-end test (tests/test_det_e2e.py).
# sh tools/train.sh -d semantic_kitti -c det-centerpoint-tiny -n det-tiny
_base_ = ["../_base_/det-centerpoint.py", "../_base_/models/ptv3-tiny.py", "../_base_/det-demo.py"]

optimizer = dict(lr=0.004)
max_steps = 300
eval_interval = 300
save_interval = 300
