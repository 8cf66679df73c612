"""3D boxes of the demo scenes' objects, derived from their primitives (no random numbers drawn).

An object is the set of primitives sharing one instance id > 0; its class follows from their raw
SemanticKITTI id (``OBJECT_CLASSES``; parked bicycles without a rider are "bicycle"). Its heading
is the yaw of its first box primitive (vehicles: every part shares it; a cyclist's bicycle is
built along x, so 0; a pedestrian has none, so 0), and its box is the tightest box with that
heading around all its primitives, exact for each primitive kind. Boxes follow
``pointcept.datasets.boxes``: ``[x, y, z, l, w, h, yaw, vx, vy]``, geometric centre, velocity 0
(the scenes are static). The boxes are exact, so range noise puts some surface points a few cm
outside them.

Per-scan box files (``write_box_file``), ``sequences/SS/boxes/NNNNNN.txt`` next to ``velodyne/``:
UTF-8 text, ``#`` lines are comments, then one object per line with whitespace-separated columns
``class x y z l w h yaw vx vy instance`` in the scan's sensor frame (the frame of its ``.bin``
points), ``instance`` being the id in the high 16 bits of the scan's ``.label`` entries.
"""

import math
import os

import numpy as np

from .materials import BICYCLE, BICYCLIST, CAR, MOVING_CAR, OTHER_VEHICLE, PERSON, TRUCK
from .scene import Scene

OBJECT_CLASSES = {
    CAR: "car",
    MOVING_CAR: "car",
    TRUCK: "truck",
    OTHER_VEHICLE: "bus",
    PERSON: "pedestrian",
    BICYCLIST: "cyclist",
    BICYCLE: "bicycle",
}
"""Raw id of an object's primitives -> box class name written to the box files."""

BOX_FILE_COLUMNS = ("class", "x", "y", "z", "l", "w", "h", "yaw", "vx", "vy", "instance")


def _extent(kind: str, params: tuple, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """Bounds (lo (3,), hi (3,)) of one primitive in the frame rotated by ``yaw`` (world origin)."""
    c, s = math.cos(yaw), math.sin(yaw)

    def to_frame(x: float, y: float) -> tuple[float, float]:
        return c * x + s * y, -s * x + c * y

    if kind == "box":
        centre, half, pyaw = params
        d = pyaw - yaw
        hu = abs(half[0] * math.cos(d)) + abs(half[1] * math.sin(d))
        hv = abs(half[0] * math.sin(d)) + abs(half[1] * math.cos(d))
        u, v = to_frame(centre[0], centre[1])
        return np.array([u - hu, v - hv, centre[2] - half[2]]), np.array(
            [u + hu, v + hv, centre[2] + half[2]]
        )
    if kind == "cylinder":
        x, y, z0, z1, r = params
        u, v = to_frame(x, y)
        return np.array([u - r, v - r, z0]), np.array([u + r, v + r, z1])
    centre, radii = params  # axis-aligned ellipsoid: half extent of its ellipse along a rotated axis
    hu = math.hypot(radii[0] * c, radii[1] * s)
    hv = math.hypot(radii[0] * s, radii[1] * c)
    u, v = to_frame(centre[0], centre[1])
    return np.array([u - hu, v - hv, centre[2] - radii[2]]), np.array([u + hu, v + hv, centre[2] + radii[2]])


def object_boxes(scene: Scene) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Boxes of the scene's objects in the world frame.

    Returns (class names (M,), boxes (M, 9) float64, instance ids (M,) int64), ordered by instance
    id. Instances whose raw id is not in ``OBJECT_CLASSES`` are left out.
    """
    inst = np.asarray(scene.instance, dtype=np.int64)
    names, boxes, ids = [], [], []
    for i in np.unique(inst[inst > 0]):
        members = np.flatnonzero(inst == i)
        name = OBJECT_CLASSES.get(scene.label[members[0]])
        if name is None:
            continue
        yaw = next((scene.params[m][2] for m in members if scene.kind[m] == "box"), 0.0)
        ext = [_extent(scene.kind[m], scene.params[m], yaw) for m in members]
        lo = np.min([e[0] for e in ext], axis=0)
        hi = np.max([e[1] for e in ext], axis=0)
        mid = (lo + hi) / 2
        c, s = math.cos(yaw), math.sin(yaw)
        centre = (c * mid[0] - s * mid[1], s * mid[0] + c * mid[1], mid[2])
        names.append(name)
        boxes.append([*centre, *(hi - lo), (yaw + math.pi) % (2 * math.pi) - math.pi, 0.0, 0.0])
        ids.append(int(i))
    return names, np.asarray(boxes, dtype=np.float64).reshape(-1, 9), np.asarray(ids, dtype=np.int64)


def boxes_to_sensor(boxes: np.ndarray, position, yaw: float) -> np.ndarray:
    """World-frame boxes (M, 9) in the frame of a sensor at ``position`` (3,) with heading ``yaw``
    (``raycast``'s frame: points there are ``R(-yaw) (p - position)``)."""
    b = np.array(boxes, dtype=np.float64).reshape(-1, 9)
    c, s = math.cos(yaw), math.sin(yaw)
    d = b[:, :3] - np.asarray(position, dtype=np.float64)
    b[:, 0], b[:, 1], b[:, 2] = c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]
    b[:, 6] = (b[:, 6] - yaw + math.pi) % (2 * math.pi) - math.pi
    b[:, 7:9] = b[:, 7:9] @ np.array([[c, -s], [s, c]])
    return b


def write_box_file(path: str, names, boxes: np.ndarray, instances) -> None:
    """Write one scan's boxes in the format of the module docstring."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("# " + " ".join(BOX_FILE_COLUMNS) + " (sensor frame; pointcept.datasets.boxes convention)\n")
        for name, box, inst in zip(names, boxes, instances):
            f.write(name + " " + " ".join(f"{v:.6f}" for v in box) + f" {int(inst)}\n")
