"""Class-frequency skew for the demo data: thin the objects of a built street by a power law.

The object ("thing") classes are ranked in ``SKEW_ORDER``; an object of the class at rank r
(1-based) is kept with probability ``r ** -s``, so the expected object count of each class is its
unskewed count times ``r ** -s``: car (rank 1) is never thinned, other-vehicle (rank 9) keeps
``9 ** -s`` of its objects (1/9 at s = 1). Stuff (ground, buildings, vegetation, fences, sidewalks)
and trees are left alone, so the rest of the street is the unskewed one.

An object is one instance (``instance > 0``: vehicles, people, bicycles, bicyclists) or, for the
instance-less things (poles, signs, bins), the primitives sharing one x-centre (a street light's
pole and arm, a sign's post and plate); its class is the rarest class among its primitives. The
coin flips use their own generator, so the street's layout draws are untouched; with ``s == 0``
nothing is drawn and the output is bit-identical to the unskewed generator.
"""

import numpy as np

from .materials import (
    BICYCLE,
    BICYCLIST,
    CAR,
    MOVING_CAR,
    OTHER_OBJECT,
    OTHER_VEHICLE,
    PERSON,
    POLE,
    TRAFFIC_SIGN,
    TRUCK,
)
from .scene import Scene

# Rank 1 first. Moving and parked cars are one train class (car) and share rank 1.
SKEW_ORDER = (
    (CAR, MOVING_CAR),
    (POLE,),
    (PERSON,),
    (TRAFFIC_SIGN,),
    (BICYCLE,),
    (OTHER_OBJECT,),
    (TRUCK,),
    (BICYCLIST,),
    (OTHER_VEHICLE,),
)
RANK = {raw: r for r, ids in enumerate(SKEW_ORDER, start=1) for raw in ids}


def keep_probability(raw_id: int, skew: float) -> float:
    """``rank ** -skew`` for a skewed class, 1 for any other raw id."""
    rank = RANK.get(int(raw_id))
    return 1.0 if rank is None else float(rank) ** -float(skew)


def thin_objects(scene: Scene, skew: float, rng: np.random.Generator) -> int:
    """Drop whole objects of ``scene`` with probability ``1 - rank ** -skew``; returns how many.

    ``skew == 0`` returns 0 without drawing from ``rng`` or touching the scene.
    """
    if skew < 0:
        raise ValueError(f"skew must be >= 0, got {skew}")
    if skew == 0:
        return 0
    labels = np.asarray(scene.label)
    instances = np.asarray(scene.instance)
    x_centre = np.asarray([s[0] for s in scene.sphere]) if len(scene) else np.zeros(0)
    things = np.isin(labels, list(RANK))
    # one key per object: ("i", instance id) or ("x", x-centre) for instance-less things
    keys = [
        ("i", int(instances[i])) if instances[i] > 0 else ("x", float(x_centre[i]))
        for i in np.flatnonzero(things)
    ]
    objects: dict[tuple, list[int]] = {}
    for key, i in zip(keys, np.flatnonzero(things)):
        objects.setdefault(key, []).append(int(i))
    keep = np.ones(len(scene), dtype=bool)
    dropped = 0
    for members in objects.values():  # insertion order: deterministic given the scene
        rank = max(RANK[int(labels[i])] for i in members)
        if rng.random() >= float(rank) ** -float(skew):
            keep[members] = False
            dropped += 1
    scene.keep(keep)
    return dropped
