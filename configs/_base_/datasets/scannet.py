# ScanNet-20 data block (per-scene layout from tools/preprocess/scannet.py) for segmentation
# experiments: ./semantic_kitti.py's pipelines with the indoor input (0.02 m grid, coord + color +
# normal = 9 features, clouds centred in z too) and a 102,400-point crop.
_base_ = ["./semantic_kitti.py"]

_grid_size = 0.02
_feat_keys = ("coord", "color", "normal")
_center = dict(type="CenterShift", apply_z=True)
_grid = dict(type="GridSample", grid_size=_grid_size)
_collect = dict(type="Collect", feat_keys=_feat_keys)
_dataset = dict(type="ScanNetDataset", data_root="data/scannet")
data = dict(
    num_classes=20,
    names=[
        "wall",
        "floor",
        "cabinet",
        "bed",
        "chair",
        "sofa",
        "table",
        "door",
        "window",
        "bookshelf",
        "picture",
        "counter",
        "desk",
        "curtain",
        "refrigerator",
        "shower curtain",
        "toilet",
        "sink",
        "bathtub",
        "otherfurniture",
    ],  # fmt: skip
    train=dict(
        _dataset,
        transform=dict(_by_type_=[_grid, dict(type="SphereCrop", point_max=102400), _center, _collect]),
    ),
    val=dict(_dataset, transform=dict(_by_type_=[_center, _grid, _collect])),
    test=dict(
        _dataset,
        transform=dict(_by_type_=[_center]),
        test_cfg=dict(voxelize=_grid, post_transform=dict(_by_type_=[_collect])),
    ),
)
