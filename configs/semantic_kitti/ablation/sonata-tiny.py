# Ablation preset sonata (paper §6.4, row 2): naive plus Sonata's token jitter, the masked points' coordinates moved by N(0, sigma) clipped at 2 sigma (sigma = half an input voxel, Sonata's 0.01 m at 0.02 m) and re-voxelised.
# Probe with ./lin-mask-token-tiny.py (the checkpoint carries a mask token). docs/method.md §7.
_base_ = ["./naive-tiny.py"]

model = dict(mask_jitter=0.05, grid_size=0.1)
