"""Procedural street scenes for the demo data: a straight street along +x with a random cross-section.

Two driving lanes with dashed centre and edge markings, parking strips with parked cars, raised
sidewalks (with driveway gaps), building frontages, lawns and parks behind fences, street trees,
street lights, signs, bins, pedestrians and cyclists, moving traffic in both lanes, and optionally
a perpendicular cross street. The ground is painted by ``_StreetBuilder.ground_label``; everything
else is ``Scene`` primitives. Vehicles keep clear of the ego lane over the interval the sensor
drives through, so the sensor never starts inside one.
"""

import math
from dataclasses import dataclass

import numpy as np

from .materials import (
    BICYCLE,
    BICYCLIST,
    BUILDING,
    CAR,
    FENCE,
    LANE_MARKING,
    MOVING_CAR,
    OTHER_GROUND,
    OTHER_OBJECT,
    OTHER_VEHICLE,
    PARKING,
    PERSON,
    POLE,
    ROAD,
    SIDEWALK,
    TERRAIN,
    TRAFFIC_SIGN,
    TRUCK,
    VEGETATION,
)
from .objects import add_bicycle, add_person, add_tree, add_vehicle
from .scene import Scene


@dataclass
class StreetLayout:
    """Cross-section of a street along +x (metres, y > 0 is the left side)."""

    lane_half: float  # half width of the two driving lanes
    park_width: float  # parking strip beyond each lane
    sidewalk_width: float
    x0: float
    x1: float

    @property
    def curb(self) -> float:
        return self.lane_half + self.park_width


class _StreetBuilder:
    """Fills a ``Scene`` with a random street between x0 and x1."""

    def __init__(self, rng: np.random.Generator, layout: StreetLayout, keep_clear: tuple[float, float]):
        self.rng = rng
        self.lay = layout
        self.keep_clear = keep_clear  # ego lane x-interval the sensor drives through
        self.next_instance = 1
        self.parking: list[tuple[float, float, int]] = []  # (x0, x1, side)
        self.paint: list[tuple[float, float, float, float, int]] = []  # x0, x1, y0, y1, label
        self.scene = Scene(self.ground_label, layout)
        self.cross: tuple[float, float] | None = None  # (x centre, half width) of a cross street

    def instance(self) -> int:
        self.next_instance += 1
        return self.next_instance - 1

    def ground_label(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        lay = self.lay
        ay = np.abs(y)
        label = np.full(len(x), TERRAIN, dtype=np.int64)
        label[ay < lay.curb + lay.sidewalk_width] = OTHER_GROUND  # only visible in driveway gaps
        label[ay < lay.curb] = ROAD
        for x0, x1, side in self.parking:
            m = (x >= x0) & (x < x1) & (ay >= lay.lane_half) & (ay < lay.curb) & (np.sign(y) == side)
            label[m] = PARKING
        dash = (np.abs(y) < 0.08) & (np.mod(x, 9.0) < 3.0)
        edge = np.abs(ay - (lay.lane_half - 0.1)) < 0.07
        label[dash | edge] = LANE_MARKING
        for x0, x1, y0, y1, lab in self.paint:
            label[(x >= x0) & (x < x1) & (y >= y0) & (y < y1)] = lab
        if self.cross is not None:  # last: the cross street replaces whatever was painted there
            label[(np.abs(x - self.cross[0]) < self.cross[1]) & (ay >= lay.curb)] = ROAD
        return label

    def build(self, cross_range: tuple[float, float] | None = None) -> Scene:
        """Fill the scene; with ``cross_range`` a cross street is placed with its centre in it."""
        if cross_range is not None:
            self.cross = (self.rng.uniform(*cross_range), self.rng.uniform(4.0, 6.5))
        park_side = self.rng.choice([0, 1, -1], p=[0.6, 0.2, 0.2])
        for side in (1, -1):
            self._sidewalk(side)
            self._frontage(side, park=side == park_side)
            self._street_furniture(side)
            self._parked_vehicles(side)
        self._traffic()
        if self.cross is not None:
            self._clear_crossing()
            self._cross_street()
        return self.scene

    def _cross_zone(self) -> tuple[float, float]:
        xc, half = self.cross
        return xc - half - self.lay.sidewalk_width, xc + half + self.lay.sidewalk_width

    def _clear_crossing(self) -> None:
        """Remove roadside objects (whole instances) standing in the cross street's corridor."""
        z0, z1 = self._cross_zone()
        span = np.asarray(self.scene.xspan)
        center_y = np.abs(np.asarray(self.scene.sphere)[:, 1])
        inst = np.asarray(self.scene.instance)
        drop = (center_y > self.lay.lane_half) & (span[:, 1] > z0) & (span[:, 0] < z1)
        drop |= np.isin(inst, inst[drop & (inst > 0)]) & (inst > 0)
        self.scene.keep(~drop)

    def _cross_street(self) -> None:
        lay, rng, scene = self.lay, self.rng, self.scene
        xc, half = self.cross
        sw = lay.sidewalk_width
        far = lay.x1 - lay.x0
        for sx in (-1, 1):
            x_walk = xc + sx * (half + sw / 2)
            for side in (-1, 1):
                scene.add_box((x_walk, side * (lay.curb + far / 2), 0.075), (sw, far, 0.15), label=SIDEWALK)
                corner_y = side * (lay.curb + 0.5)
                scene.add_cylinder(xc + sx * (half + 0.5), corner_y, 0.0, 2.3, 0.04, label=POLE)
                scene.add_box((xc + sx * (half + 0.5), corner_y, 2.65), (0.7, 0.04, 0.7), label=TRAFFIC_SIGN)
                y = lay.curb + sw + rng.uniform(0.5, 3.0)
                while y < far:
                    length, depth, height = rng.uniform(10, 25), rng.uniform(9, 16), rng.uniform(5, 20)
                    if rng.random() < 0.75:
                        x_face = xc + sx * (half + sw + rng.uniform(0.0, 4.0))
                        center = (x_face + sx * depth / 2, side * (y + length / 2), height / 2)
                        scene.add_box(
                            center,
                            (depth, length, height),
                            rng.normal(0, 0.03),
                            BUILDING,
                            0,
                            rng.uniform(0.15, 0.5),
                        )
                    elif rng.random() < 0.8:
                        add_tree(
                            self.scene,
                            rng,
                            xc + sx * (half + sw + rng.uniform(2, 6)),
                            side * (y + length / 2),
                        )
                    y += length + rng.uniform(0, 5)
                for k in range(int(rng.integers(1, 5))):
                    add_tree(
                        self.scene,
                        rng,
                        xc + sx * (half + sw - 0.9),
                        side * (lay.curb + sw + 4 + 9 * k + rng.uniform(0, 3)),
                    )
                if rng.random() < 0.5:
                    y_car = side * (lay.curb + sw + rng.uniform(3, 25))
                    add_vehicle(
                        self.scene,
                        rng,
                        xc + sx * (half - 1.2),
                        y_car,
                        math.pi / 2 + rng.normal(0, 0.03),
                        CAR,
                        "car",
                        self.instance(),
                    )

    def _sidewalk(self, side: int) -> None:
        lay, rng = self.lay, self.rng
        y_mid = side * (lay.curb + lay.sidewalk_width / 2)
        x = lay.x0
        while x < lay.x1:
            length = rng.uniform(25, 70)
            end = min(x + length, lay.x1)
            pieces = [(x, end)]
            if self.cross is not None:
                z0, z1 = self._cross_zone()
                pieces = [(a, b) for a, b in ((x, min(end, z0)), (max(x, z1), end)) if b - a > 0.5]
            for a, b in pieces:
                self.scene.add_box(
                    ((a + b) / 2, y_mid, 0.075), (b - a, lay.sidewalk_width, 0.15), label=SIDEWALK
                )
            gap = rng.uniform(3, 6) if rng.random() < 0.5 else 0.0
            x = end + gap

    def _frontage(self, side: int, park: bool) -> None:
        lay, rng, scene = self.lay, self.rng, self.scene
        front = lay.curb + lay.sidewalk_width
        x = lay.x0 + rng.uniform(-10, 0)
        while x < lay.x1:
            if park or rng.random() < 0.3:  # a gap: lawn with trees and bushes behind a fence
                length = rng.uniform(10, 30)
                fence_y = side * (front + rng.uniform(0.3, 1.5))
                if rng.random() < 0.7:
                    h = rng.uniform(1.0, 1.8)
                    scene.add_box((x + length / 2, fence_y, h / 2), (length, 0.06, h), label=FENCE)
                for _ in range(rng.poisson(length / 5)):
                    add_tree(self.scene, rng, x + rng.uniform(0, length), side * (front + rng.uniform(3, 18)))
                for _ in range(rng.poisson(length / 6)):
                    r = rng.uniform(0.6, 1.5)
                    scene.add_ellipsoid(
                        (x + rng.uniform(0, length), side * (front + rng.uniform(2, 8)), r * 0.5),
                        (r, r, r * 0.8),
                    )
                x += length
                continue
            length = rng.uniform(10, 32)
            setback = rng.uniform(0.0, 9.0)
            depth = rng.uniform(9, 18)
            height = rng.uniform(5, 22)
            yaw = rng.normal(0, 0.03)
            y_face = side * (front + setback)
            rem = rng.uniform(0.15, 0.5)
            scene.add_box(
                (x + length / 2, y_face + side * depth / 2, height / 2),
                (length, depth, height),
                yaw,
                BUILDING,
                0,
                rem,
            )
            if rng.random() < 0.4:  # lower annex / shop front sticking out
                ah = rng.uniform(2.5, 4.5)
                al = length * rng.uniform(0.3, 0.8)
                scene.add_box(
                    (x + length / 2, y_face - side * 0.75, ah / 2), (al, 1.5, ah), yaw, BUILDING, 0, rem * 0.8
                )
            if setback > 2.0 and rng.random() < 0.3:  # paved forecourt
                y0, y1 = sorted((side * front, y_face))
                self.paint.append((x, x + length, y0, y1, OTHER_GROUND))
            elif setback > 1.5 and rng.random() < 0.6:  # hedge along the property line, a front-yard tree
                if setback > 4.0:
                    add_tree(
                        self.scene, rng, x + rng.uniform(0.2, 0.8) * length, side * (front + setback / 2)
                    )
                h = rng.uniform(0.8, 2.0)
                scene.add_box(
                    (x + length / 2, side * (front + 0.6), h / 2), (length * 0.9, 0.9, h), label=VEGETATION
                )
            elif setback > 1.5:
                self.scene.add_ellipsoid(
                    (x + length / 2, side * (front + setback / 2), 0.5), (length / 2.2, setback / 2.5, 0.9)
                )
            x += length + (rng.uniform(1, 6) if rng.random() < 0.6 else 0.0)

    def _street_furniture(self, side: int) -> None:
        lay, rng, scene = self.lay, self.rng, self.scene
        edge = side * (lay.curb + 0.5)
        x = lay.x0 + rng.uniform(0, 10)
        while x < lay.x1:
            r = rng.random()
            if r < 0.65:
                add_tree(self.scene, rng, x, side * (lay.curb + lay.sidewalk_width - 0.9))
            elif r < 0.75:  # street light
                h = rng.uniform(6, 9)
                scene.add_cylinder(x, edge, 0.0, h, 0.1, label=POLE)
                scene.add_box((x, edge - side * 0.9, h - 0.1), (0.3, 1.8, 0.15), label=POLE)
            elif r < 0.84:  # traffic sign facing the traffic
                scene.add_cylinder(x, edge, 0.0, 2.3, 0.04, label=POLE)
                scene.add_box((x, edge, 2.65), (0.04, 0.7, 0.7), label=TRAFFIC_SIGN)
            elif r < 0.9:
                scene.add_box(
                    (x, side * (lay.curb + lay.sidewalk_width - 0.5), 0.55),
                    (0.6, 0.6, 1.1),
                    label=OTHER_OBJECT,
                )
            x += rng.uniform(5, 13)
        for _ in range(rng.poisson(2.5)):
            px = rng.uniform(lay.x0, lay.x1)
            py = side * (lay.curb + rng.uniform(0.5, lay.sidewalk_width - 0.3))
            add_person(scene, rng, px, py, 0.15, PERSON, self.instance())
        for _ in range(rng.poisson(1.5)):
            px = rng.uniform(lay.x0, lay.x1)
            py = side * (lay.curb + lay.sidewalk_width - 0.4)
            add_bicycle(scene, px, py, 0.15, BICYCLE, self.instance())

    def _clear(self, x: float, y: float, length: float) -> bool:
        """False if a vehicle at (x, y) would sit in the sensor's own lane along its path."""
        lo, hi = self.keep_clear
        in_ego_lane = -self.lay.lane_half < y < 0
        return not (in_ego_lane and lo - length - 8 < x < hi + length + 8)

    def _parked_vehicles(self, side: int) -> None:
        lay, rng = self.lay, self.rng
        y = side * (lay.lane_half + 0.3 + lay.park_width / 2)
        x = lay.x0
        while x < lay.x1:
            seg = rng.uniform(15, 45)
            if rng.random() < 0.35:
                self.parking.append((x, x + seg, side))
                cx = x + rng.uniform(0.5, 3)
                while cx < x + seg - 4:
                    r = rng.random()
                    kind, label, length = ("car", CAR, 5.0) if r < 0.96 else ("truck", TRUCK, 9.0)
                    if rng.random() < 0.5:
                        yaw = (0.0 if side < 0 else math.pi) + rng.normal(0, 0.04)
                        add_vehicle(
                            self.scene,
                            rng,
                            cx + length / 2,
                            y + rng.normal(0, 0.1),
                            yaw,
                            label,
                            kind,
                            self.instance(),
                        )
                    cx += length + rng.uniform(0.6, 3.0)
            x += seg + rng.uniform(0, 10)

    def _traffic(self) -> None:
        lay, rng = self.lay, self.rng
        for lane_y, heading in ((-lay.lane_half / 2, 0.0), (lay.lane_half / 2, math.pi)):
            x = lay.x0 + rng.uniform(0, 20)
            while x < lay.x1:
                r = rng.random()
                if r < 0.88:
                    kind, label, length = "car", (MOVING_CAR if rng.random() < 0.6 else CAR), 5.0
                elif r < 0.94:
                    kind, label, length = "truck", TRUCK, 9.0
                else:
                    kind, label, length = "bus", OTHER_VEHICLE, 11.0
                if self._clear(x, lane_y, length):
                    add_vehicle(
                        self.scene,
                        rng,
                        x,
                        lane_y + rng.normal(0, 0.2),
                        heading + rng.normal(0, 0.02),
                        label,
                        kind,
                        self.instance(),
                    )
                x += length + rng.uniform(20, 80)
        for _ in range(rng.poisson(1.2)):
            side = rng.choice([-1, 1])
            y = side * (lay.lane_half - 0.6)
            x = rng.uniform(lay.x0, lay.x1)
            if self._clear(x, y, 2.0):
                inst = self.instance()
                add_bicycle(self.scene, x, y, 0.0, BICYCLIST, inst)
                add_person(self.scene, rng, x - 0.1, y, 0.75, BICYCLIST, inst)


def make_street(
    rng: np.random.Generator,
    x0: float,
    x1: float,
    keep_clear: tuple[float, float],
    cross_prob: float = 0.6,
) -> Scene:
    """A random street scene along x in [x0, x1]; vehicles avoid the ego lane over ``keep_clear``.

    With probability ``cross_prob`` a perpendicular street crosses within 30 m of the ego path.
    """
    layout = StreetLayout(
        lane_half=rng.uniform(3.3, 4.5),
        park_width=rng.uniform(2.4, 3.0),
        sidewalk_width=rng.uniform(2.0, 4.0),
        x0=x0,
        x1=x1,
    )
    cross = (keep_clear[0] - 30, keep_clear[1] + 30) if rng.random() < cross_prob else None
    return _StreetBuilder(rng, layout, keep_clear).build(cross)
