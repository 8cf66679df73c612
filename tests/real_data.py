"""Location of the real sample scans (a folder laid out like ``semantic_kitti/dataset/sequences``,
``nuscenes/...``, ``scannet/...``): ``$DOS_REAL_DATA``, by default the workspace's shared copy.
Tests that need it skip when the folder does not exist."""

import os

REAL_DATA = os.environ.get("DOS_REAL_DATA", "/work/shared/data/real")
