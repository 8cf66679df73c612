# Mixin, listed after a det-centerpoint config: the CenterPoint encoder (embedding + all encoder stages)
# starts from the EMA teacher of a DOS checkpoint (train.sh -w PATH) through the strict key map, as
# semseg-dos-ft does; the BEV neck and head start from scratch and learn 10x faster than the encoder.
key_map = {
    "teacher.backbone.embedding.": "backbone.embedding.",
    "teacher.backbone.enc.": "backbone.enc.",
}
weight_strict = True
param_dicts = [dict(keyword="backbone.enc.", lr=0.0002), dict(keyword="backbone.embedding.", lr=0.0002)]
