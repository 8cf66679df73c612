"""Leaf utilities: registry, config, offsets, logging, distributed helpers, seeding.

Nothing here imports from the rest of ``pointcept``.
"""
