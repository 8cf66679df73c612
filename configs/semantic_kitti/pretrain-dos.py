# DOS pretraining of a PTv3 encoder on SemanticKITTI (docs/method.md).
# sh tools/train.sh -d semantic_kitti -c pretrain-dos -n dos-base -g 2
# The encoder is then probed with semseg-dos-lin.py or fine-tuned with semseg-dos-ft.py
# (weight=exp/semantic_kitti/dos-base/model/model_last.pth).
_base_ = ["../_base_/schedules/onecycle.py", "../_base_/models/ptv3-base.py"]

# Geometry: 0.05 m input voxels; the loss lives at encoder level 2 (4x the grid = 0.2 m cells).
_grid_size = 0.05
_distill_level = 2

model = dict(
    type="DOS",
    # Merged into ptv3-base.py's backbone: encoder only, no mask token (masked points are removed).
    backbone=dict(enc_mode=True, mask_token=False, drop_path=0.3),
    teacher_custom=dict(drop_path=0.0),
    head_in_channels=None,  # inferred: sum(enc_channels[2:]) = 128 + 256 + 512
    head_hidden_channels=4096,
    head_embed_channels=256,
    num_prototypes=1024,
    distill_level=_distill_level,
    match_radius=_grid_size * 2**_distill_level,  # cross-view NN radius = distillation voxel (0.2 m)
    tau_s=0.1,
    alpha=1.3,
    sinkhorn_iters=3,
    target="softmap",
    observable_only=True,
)

data = dict(
    train=dict(
        type="SemanticKITTIDataset",
        data_root="data/semantic_kitti",
        split="train",  # labels are never read by the model
        # DOSViewGenerator's standard pipeline: thin the scan to one point per voxel, cut two crops of
        # at most max_points voxels, then per view: centre (x, y), augment (rotation, tilt, scale,
        # flip, jitter), grid-sample once (grid_coord, before any masking), feat = coord + strength.
        transform=[
            dict(type="DOSViewGenerator", grid_size=_grid_size, max_points=65536),
            dict(type="ToTensor"),
        ],
    ),
    val=None,
)
evaluate = False

# Budget: ~50 epochs of SemanticKITTI train (19130 scans) at 16 scenes per step.
batch_size = 16
num_worker = 16
max_steps = 60000
save_interval = 2000
log_interval = 20

# AdamW with layer-wise lr decay 0.9 over the student encoder (embedding first, head last).
optimizer = dict(type="AdamW", lr=0.002, weight_decay=0.04)
# The layers (embedding, each stage's pooling, each block) are read from the built student backbone.
layer_decay = dict(rate=0.9, layer_id=dict(type="EncoderLayerId", prefix="student.backbone"))
clip_grad = 3.0
amp_dtype = "bf16"

hooks = [
    dict(type="CheckpointLoader"),
    dict(type="IterationTimer", warmup_steps=2),
    dict(type="InformationWriter"),
    # Sets tau_t, the block-mask size/ratio and weight decay before each step (passed to
    # DOS.forward); EMA-updates the teacher after it. Children patch it with
    # hooks = dict(_by_type_=[dict(type="DOSScheduleHook", mask_size=...)]).
    dict(
        type="DOSScheduleHook",
        momentum_start=0.994,
        momentum_end=1.0,
        tau_t_start=0.04,
        tau_t=0.07,
        tau_t_warmup_ratio=0.05,
        mask_size_start=0.25,  # Sonata-style warm-up of the masking over mask_warmup_ratio
        mask_size=1.0,  # 1 m cubes outdoors (0.4 m indoors)
        mask_ratio_start=0.3,
        mask_ratio=0.7,  # 0.7 for segmentation pretraining (0.6 for detection)
        mask_warmup_ratio=0.05,
        weight_decay_start=0.04,
        weight_decay_end=0.2,
    ),
    dict(type="CheckpointSaver"),
]
