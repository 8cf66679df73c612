"""The demo data's class-frequency skew (tools/demo_data/skew.py)."""

import hashlib
import os
from collections import Counter

import numpy as np
import pytest

from tools.demo_data import SensorConfig, make_street, write_semantic_kitti
from tools.demo_data.materials import CAR, MOVING_CAR, OTHER_VEHICLE, PERSON, POLE, TRAFFIC_SIGN
from tools.demo_data.skew import RANK, SKEW_ORDER, keep_probability, thin_objects

# sha256 of the files written by the generator before the skew knob existed (commit bb4ed37), for
# write_semantic_kitti(out, {"00": 2, "08": 1}, SensorConfig(beams=32, azimuth_steps=256), seed=5).
UNSKEWED_SHA256 = "ed6390d28e933b5503823d738ac1200f57bb82530ddb6345a02017cd161f9d39"


def _digest(root) -> str:
    h = hashlib.sha256()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            h.update(name.encode())
            with open(os.path.join(folder, name), "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def _write(out, **kw):
    # points and labels only: the box files (tools/demo_data/boxes.py) came after that commit
    write_semantic_kitti(
        str(out),
        {"00": 2, "08": 1},
        SensorConfig(beams=32, azimuth_steps=256),
        seed=5,
        with_boxes=False,
        **kw,
    )
    return _digest(out)


def test_skew_zero_is_bit_identical(tmp_path):
    assert _write(tmp_path / "default") == UNSKEWED_SHA256
    assert _write(tmp_path / "zero", skew=0.0) == UNSKEWED_SHA256
    assert _write(tmp_path / "skewed", skew=1.5) != UNSKEWED_SHA256


def _objects(scene) -> Counter:
    """Objects per rank, counted as thin_objects groups them."""
    keys = set()
    for label, inst, sphere in zip(scene.label, scene.instance, scene.sphere):
        if label in RANK:
            keys.add((("i", inst) if inst > 0 else ("x", sphere[0]), RANK[label]))
    per_object: dict = {}
    for key, rank in keys:
        per_object[key] = max(per_object.get(key, 0), rank)
    return Counter(per_object.values())


def _street(seed):
    return make_street(np.random.default_rng(seed), -100.0, 100.0, keep_clear=(-1.0, 10.0))


def test_thinning_follows_the_power_law():
    assert keep_probability(CAR, 2.0) == keep_probability(MOVING_CAR, 2.0) == 1.0
    assert keep_probability(TRAFFIC_SIGN, 1.0) == pytest.approx(1 / 4)
    assert keep_probability(OTHER_VEHICLE, 2.0) == pytest.approx(1 / 81)
    assert keep_probability(40, 3.0) == 1.0  # road: stuff is never thinned
    before, after = Counter(), Counter()
    for seed in range(40):
        scene = _street(seed)
        before += _objects(scene)
        n = len(scene)
        labels_before = Counter(scene.label)
        dropped = thin_objects(scene, 1.0, np.random.default_rng(seed))
        after += _objects(scene)
        assert (dropped > 0) == (len(scene) < n)
        for raw, count in labels_before.items():  # stuff and trees are untouched
            if raw not in RANK:
                assert Counter(scene.label)[raw] == count
    assert after[1] == before[1] > 0  # cars are never thinned
    for rank in (2, 3, 4):  # frequent enough to check the rate: kept fraction ~ 1 / rank
        assert before[rank] >= 60
        assert after[rank] / before[rank] == pytest.approx(1 / rank, abs=0.12)
    assert sum(after.values()) < sum(before.values())


def test_an_object_goes_whole():
    scene = _street(3)
    persons = {i for lab, i in zip(scene.label, scene.instance) if lab == PERSON}
    poles = Counter(s[0] for lab, s in zip(scene.label, scene.sphere) if lab == POLE)
    thin_objects(scene, 4.0, np.random.default_rng(0))
    # every surviving person instance keeps both its primitives (body and head)
    kept = Counter(i for lab, i in zip(scene.label, scene.instance) if lab == PERSON)
    assert set(kept) <= persons and all(c == 2 for c in kept.values())
    # a street light (pole + arm at one x) survives or goes as a whole
    after = Counter(s[0] for lab, s in zip(scene.label, scene.sphere) if lab == POLE)
    assert all(after[x] == poles[x] for x in after)


def test_skew_validation_and_order():
    assert len(RANK) == sum(len(ids) for ids in SKEW_ORDER)
    scene = _street(1)
    n = len(scene)
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert thin_objects(scene, 0.0, rng) == 0 and len(scene) == n
    assert rng.bit_generator.state == state  # s = 0 draws nothing
    with pytest.raises(ValueError, match="skew must be >= 0"):
        thin_objects(scene, -1.0, rng)
