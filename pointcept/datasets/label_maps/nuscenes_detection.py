"""nuScenes detection classes and the official category -> detection-class mapping.

Source: ``category_to_detection_name`` in nuscenes-devkit ``python-sdk/nuscenes/eval/detection/utils.py``
(14 of the 23 annotation categories map to the 10 detection classes; everything else, e.g.
``human.pedestrian.wheelchair``, ``vehicle.emergency.*``, ``static_object.bicycle_rack``, is not a
detection target). The class order is the one of the devkit's detection config and of CenterPoint.
"""

NUSCENES_DETECTION_CLASSES = (
    "car",
    "truck",
    "construction_vehicle",
    "bus",
    "trailer",
    "barrier",
    "motorcycle",
    "bicycle",
    "pedestrian",
    "traffic_cone",
)

NUSCENES_CATEGORY_TO_DETECTION = {
    "movable_object.barrier": "barrier",
    "vehicle.bicycle": "bicycle",
    "vehicle.bus.bendy": "bus",
    "vehicle.bus.rigid": "bus",
    "vehicle.car": "car",
    "vehicle.construction": "construction_vehicle",
    "vehicle.motorcycle": "motorcycle",
    "human.pedestrian.adult": "pedestrian",
    "human.pedestrian.child": "pedestrian",
    "human.pedestrian.construction_worker": "pedestrian",
    "human.pedestrian.police_officer": "pedestrian",
    "movable_object.trafficcone": "traffic_cone",
    "vehicle.trailer": "trailer",
    "vehicle.truck": "truck",
}

NUSCENES_ATTRIBUTE_NAMES = (
    "pedestrian.moving", "pedestrian.sitting_lying_down", "pedestrian.standing", "cycle.with_rider",
    "cycle.without_rider", "vehicle.moving", "vehicle.parked", "vehicle.stopped",
)  # fmt: skip
"""The devkit's attribute names; an attribute id (``gt_attrs``) is an index into this tuple (-1 = none)."""

NUSCENES_BICYCLE_RACK = "static_object.bicycle_rack"
"""Category whose boxes the devkit uses to drop bicycle/motorcycle boxes parked in racks at evaluation."""


def category_to_detection_name(category: str) -> str | None:
    """The detection class of an annotation category, or None if it is not a detection target."""
    return NUSCENES_CATEGORY_TO_DETECTION.get(category)
