# The detection demo: the generated SemanticKITTI-format scans of tools/generate_demo_data.py with
# their boxes (SS/boxes/NNNNNN.txt; cars, trucks, pedestrians, cyclists; buses and parked bicycles
# are ignore), the nuScenes detection pipeline at a 0.1 m grid inside a 40 m BEV range, and a budget
# of minutes on 2 CPU cores. Merged over a detection config with models/ptv3-tiny.py.
_base_ = ["./datasets/det-pipeline.py", "./demo-runtime.py"]

_names = ["car", "truck", "pedestrian", "cyclist"]
_range = (-40.0, -40.0, -3.0, 40.0, 40.0, 3.0)
_patch = dict(
    _by_type_=[dict(type="PointClip", point_cloud_range=_range), dict(type="GridSample", grid_size=0.1)]
)
_dataset = dict(
    type="SemanticKITTIDataset", data_root="data/semantic_kitti_demo", box_classes=_names, transform=_patch
)
data = dict(num_classes=len(_names), names=_names, train=_dataset, val=_dataset, test=_dataset)
model = dict(
    backbone=dict(enc_mode=True),  # again: models/ptv3-tiny.py, merged after det-centerpoint.py, resets it
    num_classes=len(_names),
    point_cloud_range=_range,
    bev_cell_size=0.8,
    neck=dict(channels=(32, 64), num_blocks=(1, 2)),
    head_channels=32,
    nms_radius=(2.0, 4.0, 0.5, 0.8),
)
