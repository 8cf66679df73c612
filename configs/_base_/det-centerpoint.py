# CenterPoint detection on the PTv3 encoder, trained from scratch (issue 9). Dataset configs merge a
# data block (configs/_base_/datasets/*-det.py) and set num_classes, the BEV range and the NMS radii;
# configs/_base_/det-dos-ft.py turns it into fine-tuning from a DOS checkpoint.
# Evaluation: DetEvaluator (centre-distance AP at 0.5/1/2/4 m, TP errors, NDS; best checkpoint by NDS)
# during training, DetTester for tools/test.py (per-class table, metrics.json, result/submission.json).
_base_ = ["./schedules/onecycle.py", "./models/ptv3-base.py"]

model = dict(
    type="CenterPoint",
    # Encoder only, as DOS pretrains it; stages 2-4 are up-cast to level 2 (4x the input grid) and
    # scattered into the BEV grid.
    backbone=dict(enc_mode=True, mask_token=False, drop_path=0.3),
    upcast_level=2,
    scatter_reduce="max",
    neck=dict(channels=(128, 256), num_blocks=(3, 3)),
    head_channels=64,
    topk=500,
    score_threshold=0.05,
    max_per_cloud=500,
)

# The budget of the full-scale runs (8 GPUs): ~20 epochs of nuScenes' 28130 train keyframes.
batch_size = 16
batch_size_val = 8
num_worker = 16
max_steps = 40000
eval_interval = save_interval = 4000  # model_last.pth at every evaluation
amp_dtype = "bf16"
optimizer = dict(type="AdamW", lr=0.002, weight_decay=0.01)
clip_grad = 10.0
check_labels = False  # detection batches carry boxes, not per-point labels

hooks = [
    dict(type="CheckpointLoader"),
    dict(type="IterationTimer", warmup_steps=2),
    dict(type="InformationWriter"),
    dict(type="DetEvaluator", metric="NDS"),  # marks the best step for the saver
    dict(type="CheckpointSaver"),
]
test = dict(_delete_=True, type="DetTester", batch_size=1)
