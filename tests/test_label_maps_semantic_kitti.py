import numpy as np
from real_data import real_path, skip_unless_real

from pointcept.datasets import SemanticKITTIDataset
from pointcept.datasets.label_maps import (
    SEMANTIC_KITTI_CLASS_NAMES,
    SEMANTIC_KITTI_LEARNING_MAP,
    SEMANTIC_KITTI_LEARNING_MAP_INV,
    SEMANTIC_KITTI_RAW_IDS,
    SEMANTIC_KITTI_RAW_NAMES,
    semantic_kitti_lut,
)


def test_learning_map_is_consistent_with_raw_and_class_names():
    assert len(SEMANTIC_KITTI_RAW_NAMES) == 34 and len(SEMANTIC_KITTI_CLASS_NAMES) == 19
    assert set(SEMANTIC_KITTI_LEARNING_MAP) <= set(SEMANTIC_KITTI_RAW_NAMES)
    assert sorted(set(SEMANTIC_KITTI_LEARNING_MAP.values())) == list(range(19))
    # the inverse map writes each class's static raw id, whose raw name is the class name
    for train, raw in enumerate(SEMANTIC_KITTI_LEARNING_MAP_INV.tolist()):
        assert SEMANTIC_KITTI_LEARNING_MAP[raw] == train
        assert SEMANTIC_KITTI_RAW_NAMES[raw] == SEMANTIC_KITTI_CLASS_NAMES[train]
    # moving objects merge into their static class
    for raw, name in SEMANTIC_KITTI_RAW_NAMES.items():
        if name.startswith("moving-"):
            static = SEMANTIC_KITTI_RAW_IDS[name.removeprefix("moving-")]
            assert SEMANTIC_KITTI_LEARNING_MAP[raw] == SEMANTIC_KITTI_LEARNING_MAP[static], name
    assert SEMANTIC_KITTI_RAW_IDS["lane-marking"] == 60 and SEMANTIC_KITTI_LEARNING_MAP[60] == 8  # road
    assert SemanticKITTIDataset.class_names == list(SEMANTIC_KITTI_CLASS_NAMES)


def test_lut_covers_the_16_bit_id_space():
    lut = semantic_kitti_lut(ignore_index=255)
    assert lut.shape == (1 << 16,) and lut.dtype == np.int64
    for raw in ("unlabeled", "outlier", "other-structure", "other-object"):
        assert lut[SEMANTIC_KITTI_RAW_IDS[raw]] == 255, raw
    assert lut[SEMANTIC_KITTI_RAW_IDS["moving-bus"]] == SEMANTIC_KITTI_CLASS_NAMES.index("other-vehicle")
    assert lut[65535] == 255 and semantic_kitti_lut()[260] == -1
    assert int((lut != 255).sum()) == len(SEMANTIC_KITTI_LEARNING_MAP)


@skip_unless_real("semantic_kitti", "dataset", "sequences", "00", "labels", "000000.label")
def test_real_labels_use_only_known_raw_ids():
    path = real_path("semantic_kitti", "dataset", "sequences", "00", "labels", "000000.label")
    raw = np.unique(np.fromfile(path, dtype=np.uint32) & 0xFFFF).tolist()
    unknown = sorted(set(raw) - set(SEMANTIC_KITTI_RAW_NAMES))
    assert not unknown and SEMANTIC_KITTI_RAW_IDS["road"] in raw
