"""Convert the raw ScanNet v2 release into Pointcept's per-scene ``.npy`` layout.

Input per scene (``<raw_root>/scans/<scene>/`` or ``scans_test/``):
``<scene>_vh_clean_2.ply`` (mesh: vertices are the points, faces give normals), and for labelled
scenes either ``<scene>.aggregation.json`` + ``<scene>_vh_clean_2.0.010000.segs.json`` (object groups
over mesh segments; gives ScanNet-20, ScanNet200 and instances) or ``<scene>_vh_clean_2.labels.ply``
(per-vertex NYU40 id; gives ScanNet-20 only). ``scannetv2-labels.combined.tsv`` maps the raw category
names of the aggregation to ScanNet200 ids (``id`` column) and NYU40 ids (``nyu40id`` column).

Output per scene (``<out_root>/<split>/<scene>/``): ``coord`` float32 (N, 3), ``color`` uint8 (N, 3),
``normal`` float32 (N, 3), and when labelled ``segment20`` / ``segment200`` int32 (N,) train ids with
-1 = ignore, ``instance`` int32 (N,) (-1 = none).
"""

import csv
import json
import logging
import os

import numpy as np

from ..formats.ply import ply_property, read_ply
from ..label_maps import SCANNET20_LUT, SCANNET200_LUT, apply_lut
from ..validation import check_coord, check_regular_file
from .normals import mesh_vertex_normals

logger = logging.getLogger(__name__)


def read_label_table(path: str) -> dict[str, tuple[int, int]]:
    """Parse ``scannetv2-labels.combined.tsv``.

    Returns:
        dict raw_category -> (ScanNet200 raw id, NYU40 id); a missing NYU40 id becomes 0.
    """
    table = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        for col in ("raw_category", "id", "nyu40id"):
            if reader.fieldnames is None or col not in reader.fieldnames:
                raise ValueError(f"{path}: label table has no '{col}' column (header {reader.fieldnames})")
        for row in reader:
            nyu = row["nyu40id"].strip()
            table[row["raw_category"]] = (int(row["id"]), int(nyu) if nyu else 0)
    return table


def _read_json(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON ({e})") from e


def labels_from_aggregation(
    agg_path: str, segs_path: str, table: dict[str, tuple[int, int]], num_vertices: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-vertex raw ScanNet200 ids, NYU40 ids and instance ids from the object aggregation.

    Returns:
        raw200, nyu40, instance (np.ndarray[N] int64 each); 0 for raw ids of unannotated vertices,
        -1 for their instance. A category missing from the table counts as unannotated (warned once).
    """
    seg_indices = np.asarray(_read_json(segs_path)["segIndices"], dtype=np.int64)
    if len(seg_indices) != num_vertices:
        raise ValueError(f"{segs_path}: {len(seg_indices)} segment ids for a mesh of {num_vertices} vertices")
    raw200 = np.zeros(num_vertices, dtype=np.int64)
    nyu40 = np.zeros(num_vertices, dtype=np.int64)
    instance = np.full(num_vertices, -1, dtype=np.int64)
    # Segment id -> vertices, once, so each group costs O(its segments) instead of O(N).
    order = np.argsort(seg_indices, kind="stable")
    uniq, starts = np.unique(seg_indices[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    unknown = set()
    for group in _read_json(agg_path)["segGroups"]:
        label = group["label"]
        if label not in table:
            unknown.add(label)
            continue
        group_segs = np.asarray(group["segments"], dtype=np.int64)
        pos = np.minimum(np.searchsorted(uniq, group_segs), len(uniq) - 1)
        pos = pos[uniq[pos] == group_segs]
        if len(pos) == 0:
            continue
        verts = np.concatenate([order[starts[p] : ends[p]] for p in pos])
        raw200[verts], nyu40[verts] = table[label]
        instance[verts] = group["objectId"]
    if unknown:
        logger.warning(
            "%s: categories not in the label table, left unannotated: %s", agg_path, sorted(unknown)
        )
    return raw200, nyu40, instance


def _triangles(mesh: dict, path: str, num_vertices: int) -> np.ndarray:
    """The mesh's faces as (F, 3) vertex indices, each in ``0..num_vertices-1``; ValueError naming ``path``."""
    faces = ply_property(mesh, "face", "vertex_indices", path)
    if len(faces) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"{path}: faces must be triangles, got {faces.shape[1:]} vertex indices per face")
    bad = ((faces < 0) | (faces >= num_vertices)).any(axis=1)
    if bad.any():
        raise ValueError(
            f"{path}: {int(bad.sum())} of {len(faces)} faces index a vertex outside 0..{num_vertices - 1} "
            f"(the mesh has {num_vertices} vertices; face indices range {int(faces.min())}..{int(faces.max())})"
        )
    return faces


def convert_scene(
    scene_dir: str, scene: str, table: dict[str, tuple[int, int]] | None
) -> dict[str, np.ndarray]:
    """Arrays of one scene in our layout (see module docstring); labels only when label files exist."""
    mesh_path = os.path.join(scene_dir, f"{scene}_vh_clean_2.ply")
    check_regular_file(mesh_path, "mesh file")
    mesh = read_ply(mesh_path)
    coord = np.stack([ply_property(mesh, "vertex", k, mesh_path) for k in "xyz"], 1).astype(np.float32)
    if len(coord) == 0:
        raise ValueError(f"{mesh_path}: mesh has no vertices")
    check_coord(coord, mesh_path)
    color = np.stack([ply_property(mesh, "vertex", k, mesh_path) for k in ("red", "green", "blue")], 1)
    out = {
        "coord": coord,
        "color": color.astype(np.uint8),
        "normal": mesh_vertex_normals(coord, _triangles(mesh, mesh_path, len(coord))),
    }

    agg = os.path.join(scene_dir, f"{scene}.aggregation.json")
    segs = os.path.join(scene_dir, f"{scene}_vh_clean_2.0.010000.segs.json")
    labels_ply = os.path.join(scene_dir, f"{scene}_vh_clean_2.labels.ply")
    if os.path.isfile(agg) and os.path.isfile(segs):
        if table is None:
            raise ValueError(
                f"{agg}: a label table (scannetv2-labels.combined.tsv) is needed to map categories"
            )
        raw200, nyu40, instance = labels_from_aggregation(agg, segs, table, len(coord))
        out["segment20"] = apply_lut(nyu40, SCANNET20_LUT).astype(np.int32)
        out["segment200"] = apply_lut(raw200, SCANNET200_LUT).astype(np.int32)
        out["instance"] = instance.astype(np.int32)
    elif os.path.isfile(labels_ply):
        label = ply_property(read_ply(labels_ply), "vertex", "label", labels_ply)
        if len(label) != len(coord):
            raise ValueError(f"{labels_ply}: {len(label)} labels for a mesh of {len(coord)} vertices")
        out["segment20"] = apply_lut(label, SCANNET20_LUT).astype(np.int32)
    return out


def preprocess_scannet(
    raw_root: str, out_root: str, splits: dict[str, list[str]], label_table: str | None = None
) -> dict[str, int]:
    """Convert every listed scene; returns the number of scenes written per split.

    Args:
        raw_root: folder holding ``scans/`` and/or ``scans_test/``.
        out_root: output root; scenes go to ``<out_root>/<split>/<scene>/``.
        splits: split name -> scene ids (e.g. from ``scannetv2_train.txt``).
        label_table: path of ``scannetv2-labels.combined.tsv`` (needed for aggregation labels).
    """
    table = read_label_table(label_table) if label_table else None
    written = {}
    for split, scenes in splits.items():
        written[split] = 0
        for scene in scenes:
            candidates = [os.path.join(raw_root, sub, scene) for sub in ("scans", "scans_test")]
            scene_dir = next((c for c in candidates if os.path.isdir(c)), None)
            if scene_dir is None:
                raise ValueError(f"scene {scene} (split {split}) not found under {candidates}")
            arrays = convert_scene(scene_dir, scene, table)
            dst = os.path.join(out_root, split, scene)
            os.makedirs(dst, exist_ok=True)
            for key, arr in arrays.items():
                np.save(os.path.join(dst, f"{key}.npy"), arr)
            written[split] += 1
            logger.info("%s/%s: %d points, assets %s", split, scene, len(arrays["coord"]), sorted(arrays))
    return written
