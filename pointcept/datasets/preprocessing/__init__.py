"""Offline converters from the datasets' official releases to the layouts our readers load.

The command-line entry points live in ``tools/preprocess/``; everything here is importable and
tested without the datasets' own packages (nuscenes-devkit, waymo-open-dataset are optional).
"""
