# Fine-tuning demo on the generated scans: tiny PTv3 with decoder, encoder from pretrain-dos-tiny.py,
# with the key map and learning rates of ./semseg-dos-ft.py.
_base_ = ["./semseg-dos-ft.py", "../_base_/models/ptv3-tiny.py", "../_base_/semseg-demo.py"]

model = dict(backbone_out_channels=16)  # dec_channels[0] of ptv3-tiny.py
