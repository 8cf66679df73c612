# The model switches of ablation preset naive (semantic_kitti/ablation/naive{,-tiny}.py), merged
# over a DOS pretraining config: masked points stay in the student input as mask tokens and are
# supervised, assignment targets, uniform Sinkhorn over the whole batch. docs/method.md section 7.
model = dict(
    backbone=dict(mask_token=True),
    observable_only=False,
    target="assignment",
    alpha=0.0,
    sinkhorn_scope="batch",
)
