# DOS pretraining demo on the generated scans (tools/generate_demo_data.py): the tiny PTv3 preset,
# a 0.1 m grid and small crops, so that it finishes in a few minutes on 2 CPU cores.
_base_ = ["./pretrain-dos.py", "../_base_/models/ptv3-tiny.py"]

_grid_size = 0.1
_distill_level = 2

model = dict(
    # Activation recomputation saves GPU memory on big scans; the tiny CPU demo only pays its time.
    backbone=dict(enc_mode=True, mask_token=False, drop_path=0.1, mlp_checkpoint=False),
    head_hidden_channels=256,
    head_embed_channels=64,
    num_prototypes=256,
    match_radius=_grid_size * 2**_distill_level,  # 0.4 m
)

data = dict(
    train=dict(
        data_root="data/semantic_kitti_demo",
        transform=[
            dict(type="DOSViewGenerator", grid_size=_grid_size, max_points=8000),
            dict(type="ToTensor"),
        ],
    ),
)

batch_size = 2
num_worker = 2
max_steps = 400  # ~2 min on 2 idle cores; the probe gains ~4 mIoU over 150 steps on the demo data
save_interval = 400
log_interval = 10
amp_dtype = None  # fp32 on CPU: bf16 autocast is slower than fp32 there
