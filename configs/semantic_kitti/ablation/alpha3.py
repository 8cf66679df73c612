# Ablation preset alpha3 (paper §6.5): dos with a Zipf exponent of 3.0 (the paper finds it worse than 0).
_base_ = ["./dos.py"]

model = dict(alpha=3.0)
