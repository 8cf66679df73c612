# Linear probe of a DOS-pretrained PTv3 encoder on SemanticKITTI (docs/method.md section 8):
# the encoder is frozen in eval mode, all five stages are up-cast to the input points and
# concatenated (32+64+128+256+512 = 992 channels), and one linear layer is trained.
# sh tools/train.sh -d semantic_kitti -c semseg-dos-lin -n dos-lin -w exp/semantic_kitti/dos-base/model/model_last.pth
# Test:  python tools/test.py --config-file exp/semantic_kitti/dos-lin/config.py \
#            --options weight=exp/semantic_kitti/dos-lin/model/model_last.pth save_path=exp/semantic_kitti/dos-lin/test
_base_ = [
    "../_base_/schedules/onecycle.py",
    "../_base_/models/ptv3-base.py",
    "../_base_/datasets/semantic_kitti.py",
]

model = dict(
    type="DefaultSegmentor",
    backbone=dict(enc_mode=True, mask_token=False),
    num_classes=19,
    backbone_out_channels=32 + 64 + 128 + 256 + 512,
    criteria=[
        dict(type="CrossEntropyLoss", ignore_index=-1, loss_weight=1.0),
        dict(type="LovaszLoss", ignore_index=-1, loss_weight=1.0),
    ],
    freeze_backbone=True,
    upcast_level=0,
)
# The EMA teacher's encoder of the DOS checkpoint becomes the segmentor's backbone; every
# backbone key must be provided (strict), the linear head keeps its initialisation.
weight = None  # set to the DOS checkpoint (train.sh -w PATH)
key_map = {"teacher.backbone.": "backbone."}
weight_strict = True

batch_size = 8
batch_size_val = 4
num_worker = 8
max_steps = 30000
eval_interval = save_interval = 3000  # model_last.pth at every evaluation
optimizer = dict(type="AdamW", lr=0.002, weight_decay=0.02)
amp_dtype = "bf16"
