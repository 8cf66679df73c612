"""Synthetic LiDAR scans of procedural streets in SemanticKITTI's raw format: the embedded demo data
(numpy only; demo tooling, not part of the library).

A simulated spinning sensor (64 beams by default, like a Velodyne HDL-64E) is ray-cast analytically
into a street scene: a ground plane painted with regions (road, lane markings, parking, terrain,
driveways) and primitives (yawed boxes, vertical cylinders, ellipsoids) forming sidewalks,
buildings, vehicles, fences, signs, poles, trees and people. Each point carries a raw
SemanticKITTI id (low 16 bits, from the library's label map) and an instance id (high 16 bits,
objects only), and a remission from its material with incidence falloff and noise; ranges get
Gaussian noise, some returns drop out and a few spurious "outlier" returns appear.

Modules, bottom up: ``materials`` (raw ids and remission per class), ``scene`` (primitives and
exact ray intersection), ``sensor`` (sensor model and ray casting), ``objects`` (trees, people,
bicycles, vehicles from primitives), ``street`` (procedural street layout), ``boxes`` (object boxes, box files), ``writer`` (drives
along a street, SemanticKITTI files). ``tools/generate_demo_data.py`` is the command line.
"""

from .scene import Scene
from .sensor import SensorConfig, raycast
from .street import StreetLayout, make_street
from .writer import drive_sequence, generate_sequence, write_semantic_kitti

__all__ = [
    "Scene",
    "SensorConfig",
    "StreetLayout",
    "drive_sequence",
    "generate_sequence",
    "make_street",
    "raycast",
    "write_semantic_kitti",
]
