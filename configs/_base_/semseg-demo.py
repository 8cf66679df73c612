# The segmentation demo: the generated SemanticKITTI-format scans of tools/generate_demo_data.py at a
# 0.1 m grid (smaller crops, no jitter) and a budget of minutes on 2 CPU cores. Merged over a
# SemanticKITTI segmentation config (semseg-dos-lin.py, semseg-dos-ft.py) with models/ptv3-tiny.py.
_base_ = ["./datasets/semantic_kitti.py", "./demo-runtime.py"]

_grid_size = 0.1
_data_root = "data/semantic_kitti_demo"
# semantic_kitti.py's pipelines at the demo grid, with a smaller crop and no jitter.
_patch_grid = dict(type="GridSample", grid_size=_grid_size)
data = dict(
    train=dict(
        data_root=_data_root,
        transform=dict(
            _by_type_=[
                dict(type="RandomJitter", _remove_=True),
                _patch_grid,
                dict(type="SphereCrop", point_max=20000),
            ]
        ),
    ),
    val=dict(data_root=_data_root, transform=dict(_by_type_=[_patch_grid])),
    test=dict(data_root=_data_root, test_cfg=dict(voxelize=_patch_grid)),
)
