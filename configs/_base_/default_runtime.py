# Runtime defaults shared by every experiment. Experiment configs inherit this file with
# `_base_ = ["../_base_/default_runtime.py"]` and override only what differs.
#
# The keys defined here are the only top-level keys a config may have (pointcept/utils/config.py
# refuses any other, in a config file or in --options, naming the closest ones; Pointcept keys
# spelled differently here are refused naming ours, see pointcept/utils/config_keys.py). A helper
# variable in a config file must start with "_". A key the engine reads must be defined here.

# --- what to train ----------------------------------------------------------------------------
model = None  # model config: dict(type=<class name in MODELS>, ...), set by every experiment
data = dict(
    num_classes=None,  # number of semantic classes (segmentation); None for pretraining
    ignore_index=-1,  # label of unlabelled / ignored points
    names=None,  # class names, in class-id order, for the per-class IoU tables
    train=None,  # training dataset config: dict(type=<class name in DATASETS>, split=..., transform=[...])
    val=None,  # validation dataset config (evaluated by SemSegEvaluator); None disables evaluation
    test=None,  # test dataset config for tools/test.py; test_mode=True is added if missing
)
custom_imports = []  # extra modules imported before building (registers out-of-tree classes)

# --- steps, batches, data loading -------------------------------------------------------------
max_steps = 1000  # optimizer steps to train for; schedulers span exactly this many steps
batch_size = 8  # global batch: samples per step summed over all processes (must divide by the world size)
# gradient accumulation: each process reads a step's batch as this many micro-batches of
# batch_size / (world size x grad_accum_steps) samples, backpropagates loss / grad_accum_steps for
# each and steps the optimizer once; the data of a step, max_steps, schedulers and EMA do not change
# with it (it trades time for memory; BatchNorm statistics are per micro-batch)
grad_accum_steps = 1
batch_size_val = 8  # global validation batch (split over processes, at least 1 each)
num_worker = 4  # dataloader workers summed over all processes
mix_prob = 0.0  # Mix3D probability in the training collate (0 = off)
eval_interval = 500  # run the evaluator hook every this many steps (and at the last step)
save_interval = 500  # write model/model_last.pth every this many steps (and at the last step)
log_interval = 10  # console / tensorboard logging period in steps
evaluate = True  # build the val loader and evaluate during training
# fail when a whole epoch (or a run shorter than one) of training batches has no valid label;
# False for self-supervised runs whose batches carry `segment` only for monitoring
check_labels = True
data_timeout = 0  # seconds a dataloader worker may take for one batch (0 = no limit; only with workers)

# --- optimisation -----------------------------------------------------------------------------
optimizer = dict(type="AdamW", lr=1e-3, weight_decay=0.05)  # class in OPTIMIZERS (AdamW, Adam, SGD)
scheduler = dict(type="CosineWarmupLR", warmup_ratio=0.05)  # class in SCHEDULERS; gets total_steps=max_steps
param_dicts = None  # per-block lrs [dict(keyword="block", lr=1e-4)]; first keyword in the param name wins
layer_decay = None  # layer-wise lr decay dict(rate=0.9, layer_id=dict(type="EncoderLayerId", prefix="student.backbone"))
no_decay_keywords = []  # params whose name contains one of these get no weight decay (1-D params never do)
clip_grad = None  # max gradient norm (clip_grad_norm_) or None for no clipping
amp_dtype = None  # autocast: None (fp32), "bf16" (CPU or GPU) or "fp16" (GPU, with a GradScaler; bf16 on CPU)
find_unused_parameters = False  # DistributedDataParallel option for models with conditionally unused params
# NaN/Inf loss term or gradient: "stop" raises naming the step and term; "skip" drops the step's update
# and counts it, stopping after more than max_skips skipped steps in a row (docs/long_runs.md)
nonfinite = dict(policy="stop", max_skips=10)

# --- reproducibility, devices ------------------------------------------------------------------
seed = None  # global seed; None picks a random one, which is written into the saved config.py
device = "auto"  # "auto" (cuda if available, else cpu), "cpu" or "cuda"; DDP uses nccl on cuda, gloo on cpu

# --- checkpoints, logging ---------------------------------------------------------------------
save_path = None  # experiment folder (train.sh: exp/<dataset>/<name>) with config.py, logs, model/
weight = None  # checkpoint to initialise the model from (or to resume from, with resume=True)
key_map = None  # prefix renames for partial loads, {"student.backbone.": "backbone."}; unmatched keys dropped
weight_strict = True  # with key_map, strict means every mapped key fits and every target-prefix key is loaded
resume = False  # continue a run from weight or <save_path>/model/model_last.pth, with optimizer/RNG/sampler
# delete the run already in save_path before training (train.sh -o); an instruction for one
# launch, left out of the saved config.py
overwrite = False
save_error = "stop"  # a checkpoint write fails (full disk, read-only): "stop", or "continue" and retry at the next save
enable_tensorboard = True  # write tensorboardX events into save_path (main process only)
# also log the same scalars/histograms to Weights & Biases (needs `pip install wandb`; API key from
# `wandb login` or WANDB_API_KEY; WANDB_MODE=offline logs into save_path/wandb without network)
enable_wandb = False
wandb_project = "dos"  # W&B project
wandb_name = None  # W&B run name; None: the last two parts of save_path, e.g. semantic_kitti/pretrain-dos
hooks = [
    dict(type="CheckpointLoader"),  # weight / resume loading, before training
    dict(type="IterationTimer", warmup_steps=2),  # data/batch time and ETA
    dict(type="InformationWriter"),  # console lines and tensorboard scalars/histograms
    dict(type="SemSegEvaluator"),  # val mIoU every eval_interval; marks the best step
    dict(type="CheckpointSaver"),  # model_last.pth / model_best.pth; must come after the evaluator
]
test = dict(type="SemSegTester", fragment_batch_size=4)  # tools/test.py: class in TESTERS and its options
