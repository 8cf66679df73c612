"""Puts the repository root on ``sys.path`` so tests can import ``tools.*`` helper packages (e.g.
``tools.demo_data``) whether pytest is started as ``python -m pytest`` or as ``pytest``."""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
