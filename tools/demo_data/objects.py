"""Objects assembled from ``Scene`` primitives: trees, people, bicycles and vehicles.

Each function draws its random sizes from ``rng`` in a fixed order (the generated data is
reproducible per seed) and gives every part of one object the same ``instance`` id. Positions are
world coordinates (x, y) of the object's centre on the ground, or at height ``z`` where given.
"""

import math

import numpy as np

from .materials import TRUNK
from .scene import Scene


def add_tree(scene: Scene, rng: np.random.Generator, x: float, y: float) -> None:
    """Trunk (cylinder) with an ellipsoid crown, no instance id (vegetation is stuff, not a thing)."""
    trunk_h = rng.uniform(1.8, 3.5)
    scene.add_cylinder(x, y, 0.0, trunk_h + 0.5, rng.uniform(0.12, 0.3), label=TRUNK)
    rh, rv = rng.uniform(2.0, 4.0), rng.uniform(2.0, 3.8)
    scene.add_ellipsoid((x, y, trunk_h + rv * 0.6), (rh, rh * rng.uniform(0.8, 1.2), rv))


def add_person(
    scene: Scene, rng: np.random.Generator, x: float, y: float, z: float, label: int, instance: int
) -> None:
    """Body cylinder and head ellipsoid standing at height ``z`` (0 on the ground, higher on a bicycle)."""
    h = rng.uniform(1.55, 1.9)
    scene.add_cylinder(x, y, z, z + h - 0.25, rng.uniform(0.17, 0.24), label=label, instance=instance)
    scene.add_ellipsoid((x, y, z + h - 0.12), (0.11, 0.11, 0.13), label=label, instance=instance)


def add_bicycle(scene: Scene, x: float, y: float, z: float, label: int, instance: int) -> None:
    """Two wheels (thin boxes) and a frame bar, oriented along x."""
    for dx in (-0.52, 0.52):
        scene.add_box((x + dx, y, z + 0.34), (0.66, 0.05, 0.66), label=label, instance=instance)
    scene.add_box((x, y, z + 0.7), (1.1, 0.06, 0.12), label=label, instance=instance)


def add_vehicle(
    scene: Scene,
    rng: np.random.Generator,
    x: float,
    y: float,
    yaw: float,
    label: int,
    kind: str,
    instance: int,
) -> None:
    """A ``kind`` = "car" (body + cabin), "truck" (cab + box) or anything else (bus) with four
    dark wheels, heading ``yaw``; one random remission for the paint."""
    cs, sn = math.cos(yaw), math.sin(yaw)

    def at(dx, dy, z):
        return (x + cs * dx - sn * dy, y + sn * dx + cs * dy, z)

    rem = rng.uniform(0.08, 0.6)
    if kind == "car":
        length, width = rng.uniform(3.8, 4.8), rng.uniform(1.7, 1.9)
        scene.add_box(at(0, 0, 0.75), (length, width, 0.8), yaw, label, instance, rem)
        scene.add_box(at(-0.2, 0, 1.38), (length * 0.55, width * 0.9, 0.5), yaw, label, instance, rem * 0.7)
        wheel_x = length / 2 - 0.75
    elif kind == "truck":
        length, width = rng.uniform(7, 10), 2.5
        scene.add_box(at(length / 2 - 1.1, 0, 1.6), (2.2, width, 2.4), yaw, label, instance, rem)
        scene.add_box(at(-1.1, 0, 2.0), (length - 2.4, width, 3.1), yaw, label, instance, rem)
        wheel_x = length / 2 - 1.0
    else:
        length, width = rng.uniform(9, 12), 2.55
        scene.add_box(at(0, 0, 1.85), (length, width, 3.0), yaw, label, instance, rem)
        wheel_x = length / 2 - 1.8
    for sx in (-1, 1):
        for sy in (-1, 1):
            scene.add_box(
                at(sx * wheel_x, sy * (width / 2 - 0.12), 0.33),
                (0.66, 0.24, 0.66),
                yaw,
                label,
                instance,
                0.05,
            )
