"""The data a protocol runs on: pretraining scans, labelled training scans, test scans.

Two sources, one shape (:class:`DataSpec`):

- ``longtail``: generated streets (tools/demo_data), the training sequences with the protocol's
  class-frequency skew and the test sequences with its ``test_skew`` (0: unskewed), written once
  under ``<work>/data/longtail``; the train sequences are pretrained on (labels never read) and
  are the labelled pool, the test sequences are only evaluated.
- ``real``: the SemanticKITTI samples (shared/data/real layout, see tools/quality_check.py): the
  labelled scans of sequence 00 are the labelled pool, every labelled scan of sequence 08 is the test
  set, and pretraining sees every scan (labelled or not) except the test scans.

A label budget takes the first k scans of a seed's fixed permutation of the labelled pool, so
budgets are nested per seed and identical across presets (paired); they are symlinked into a folder
of their own that the reader sees as a SemanticKITTI root.
"""

import json
import os
from dataclasses import dataclass

import numpy as np

LABELLED = os.path.join("semantic_kitti", "dataset", "sequences")
UNLABELLED = os.path.join("semantic_kitti_unlabelled", "dataset", "sequences")
REAL_TRAIN, REAL_TEST = "00", "08"


@dataclass(frozen=True)
class Scan:
    seq: str
    stem: str
    velodyne: str
    label: str | None


@dataclass
class DataSpec:
    source: str
    pretrain_root: str
    pretrain_split: list[str]
    labelled: list[Scan]  # the labelled training pool, sorted
    test_root: str
    test_split: list[str]
    info: dict


def _scans(sequences_dir: str, seqs, with_labels: bool) -> list[Scan]:
    out = []
    for seq in seqs:
        velodyne = os.path.join(sequences_dir, seq, "velodyne")
        if not os.path.isdir(velodyne):
            continue
        for name in sorted(os.listdir(velodyne)):
            if not name.endswith(".bin"):
                continue
            stem = name[: -len(".bin")]
            label = os.path.join(sequences_dir, seq, "labels", stem + ".label")
            has = os.path.exists(label)
            if with_labels and not has:
                continue
            out.append(Scan(seq, stem, os.path.join(velodyne, name), label if has else None))
    return out


def link_scans(scans: list[Scan], out: str, with_labels: bool) -> None:
    """Symlink ``scans`` into ``out/dataset/sequences/SS/{velodyne,labels}`` (idempotent)."""
    for scan in scans:
        pairs = [(scan.velodyne, "velodyne", ".bin")]
        if with_labels:
            pairs.append((scan.label, "labels", ".label"))
        for src, folder, ext in pairs:
            target_dir = os.path.join(out, "dataset", "sequences", scan.seq, folder)
            os.makedirs(target_dir, exist_ok=True)
            link = os.path.join(target_dir, scan.stem + ext)
            if not os.path.lexists(link):
                os.symlink(os.path.abspath(src), link)


def real_test_scans(data_root: str) -> list[Scan]:
    return _scans(os.path.join(data_root, LABELLED), [REAL_TEST], with_labels=True)


def link_pretrain_scans(data_root: str, out: str) -> int:
    """Symlink every real scan except the test scans (labelled scans of 08) into ``out``, labels left
    out; returns how many."""
    held_out = {(s.seq, s.stem) for s in real_test_scans(data_root)}
    scans = []
    for rel in (LABELLED, UNLABELLED):
        sequences = os.path.join(data_root, rel)
        seqs = sorted(d for d in os.listdir(sequences) if os.path.isdir(os.path.join(sequences, d)))
        scans += [s for s in _scans(sequences, seqs, with_labels=False) if (s.seq, s.stem) not in held_out]
    link_scans(scans, out, with_labels=False)
    return len(scans)


def prepare_real(data_root: str, work_dir: str) -> DataSpec:
    pretrain_root = os.path.join(work_dir, "data", "real_pretrain")
    num = link_pretrain_scans(data_root, pretrain_root)
    test = real_test_scans(data_root)
    labelled = _scans(os.path.join(data_root, LABELLED), [REAL_TRAIN], with_labels=True)
    seqs = sorted(os.listdir(os.path.join(pretrain_root, "dataset", "sequences")))
    return DataSpec(
        source="real",
        pretrain_root=pretrain_root,
        pretrain_split=seqs,
        labelled=labelled,
        test_root=os.path.join(data_root, "semantic_kitti"),
        test_split=[REAL_TEST],
        info=dict(
            data_root=os.path.abspath(data_root),
            pretrain_scans=num,
            test_scans=[f"{s.seq}/{s.stem}" for s in test],
        ),
    )


def prepare_longtail(protocol, work_dir: str) -> DataSpec:
    """Generate (once) the protocol's skewed streets; a folder made with other settings is an error."""
    from tools.demo_data import SensorConfig, write_semantic_kitti

    root = os.path.join(work_dir, "data", "longtail")
    params = dict(
        skew=protocol.skew,
        test_skew=protocol.test_skew,
        train_sequences=list(protocol.train_sequences),
        test_sequences=list(protocol.test_sequences),
        scans_per_seq=protocol.scans_per_seq,
        beams=protocol.beams,
        azimuth_steps=protocol.azimuth_steps,
        seed=protocol.data_seed,
    )
    marker = os.path.join(root, "generator.json")
    if os.path.exists(marker):
        with open(marker) as f:
            found = json.load(f)
        if found != params:
            raise ValueError(
                f"{root} holds data generated with {found}, the protocol asks for {params}; "
                "use another --work-dir"
            )
    else:
        sensor = SensorConfig(beams=protocol.beams, azimuth_steps=protocol.azimuth_steps)
        # each sequence has a seed of its own, so the two calls make the same scans as one call would
        for seqs, skew in (
            (protocol.train_sequences, protocol.skew),
            (protocol.test_sequences, protocol.test_skew),
        ):
            sequences = {s: protocol.scans_per_seq for s in seqs}
            write_semantic_kitti(root, sequences, sensor, seed=protocol.data_seed, skew=skew)
        write_json_atomic(marker, params)
    sequences_dir = os.path.join(root, "dataset", "sequences")
    return DataSpec(
        source="longtail",
        pretrain_root=root,
        pretrain_split=list(protocol.train_sequences),
        labelled=_scans(sequences_dir, protocol.train_sequences, with_labels=True),
        test_root=root,
        test_split=list(protocol.test_sequences),
        info=dict(generator=params, root=os.path.abspath(root)),
    )


def label_subset(data: DataSpec, seed: int, num: int, work_dir: str) -> tuple[str, list[str], list[Scan]]:
    """The first ``num`` scans of seed ``seed``'s permutation of the labelled pool, linked under
    ``work_dir``; returns (root, sequences, scans)."""
    order = np.random.default_rng([seed, 7]).permutation(len(data.labelled))
    chosen = sorted((data.labelled[i] for i in order[:num]), key=lambda s: (s.seq, s.stem))
    root = os.path.join(work_dir, "data", f"{data.source}_labels", f"seed{seed}_{num}")
    link_scans(chosen, root, with_labels=True)
    return root, sorted({s.seq for s in chosen}), chosen


def class_point_counts(scans: list[Scan], num_classes: int) -> np.ndarray:
    """Labelled points per train class over ``scans`` (raw ids through the SemanticKITTI learning map)."""
    from pointcept.datasets.label_maps import semantic_kitti_lut

    lut = semantic_kitti_lut(-1)
    counts = np.zeros(num_classes, dtype=np.int64)
    for scan in scans:
        train = lut[np.fromfile(scan.label, dtype=np.uint32) & 0xFFFF]
        counts += np.bincount(train[train >= 0], minlength=num_classes)[:num_classes]
    return counts


def write_json_atomic(path: str, obj) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file and a rename: readers never see a
    partial file, and an interrupted write leaves no result behind."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)
