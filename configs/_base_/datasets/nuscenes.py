# nuScenes-lidarseg data block: merged over a SemanticKITTI experiment config, it swaps the dataset
# and keeps that config's transforms (same outdoor pipeline: grid 0.05 m, coord + strength features).
# Needs <data_root>/info/nuscenes_infos_10sweeps_{train,val}.json from tools/preprocess/nuscenes_infos.py.
_names = [
    "barrier", "bicycle", "bus", "car", "construction_vehicle", "motorcycle", "pedestrian", "traffic_cone",
    "trailer", "truck", "driveable_surface", "other_flat", "sidewalk", "terrain", "manmade", "vegetation",
]  # fmt: skip
_dataset = dict(type="NuScenesDataset", data_root="data/nuscenes", sweeps=1, info_sweeps=10)
_val = dict(_dataset, split="val")
data = dict(num_classes=len(_names), names=_names, train=dict(_dataset, split="train"), val=_val, test=_val)
