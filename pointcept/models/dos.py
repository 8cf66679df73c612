"""DOS: Distilling Observable Softmaps of Zipfian prototypes (Abdelsamad et al., arXiv 2512.11465).

An EMA teacher encodes each full view; the student encodes only the observable (unmasked) points of
the same view. Both are up-cast to the distillation level, projected and compared by cosine with K
prototypes. For every prototype the student softmap is a softmax over the observable cells of one
cloud; the teacher target is Zipf-Sinkhorn of the teacher logits over exactly the same cells. The
loss is ``(1/K) sum_k KL(target_k || student_k)`` per cloud, with a same-view term (cells matched by
key) and a cross-view term (cells matched by nearest neighbour on pre-augmentation coordinates).
See docs/method.md for the specification and the switches (``target``, ``alpha``,
``observable_only``, ``mask_jitter``, ``sinkhorn_scope``) that turn it into the baselines of the
paper's ablation chain (configs/semantic_kitti/ablation/).
"""

import copy

import torch
from torch import nn

from pointcept.models.builder import MODELS, build_model
from pointcept.models.dos_cells import Cells, encode_cells, match_cells
from pointcept.models.dos_head import DOSHead
from pointcept.models.dos_loss import Term, check_target, distill_term, regression_term, segment_log_softmax
from pointcept.models.masking import backbone_input, block_mask, check_jitter, check_mask_args, masked_input
from pointcept.ops import zipf_prior
from pointcept.utils.timing import PhaseTimer, phase


@MODELS.register_module()
class DOS(nn.Module):
    """DOS self-distillation with an EMA teacher (docs/method.md).

    The backbone must return a pooled ``Point`` whose ``pooling_parent`` / ``pooling_inverse`` chain
    leads back to its input rows (PTv3 with ``enc_mode=True`` does); cells are read at
    ``distill_level`` after ``upcast``.

    Args:
        backbone (dict): config of an encoder (PTv3 with ``enc_mode=True``).
        head_in_channels (int | None): channels after up-casting to ``distill_level``; None takes
            ``sum(enc_channels[distill_level:])`` from the built backbone's ``enc_channels``.
        head_hidden_channels, head_embed_channels (int): projection head widths.
        num_prototypes (int): K.
        teacher_custom (dict): backbone config overrides for the teacher (e.g. ``drop_path=0``);
            they must not change the parameter list.
        distill_level (int): encoder level the features are up-cast to (0 = input voxels).
        match_radius (float): cross-view nearest-neighbour radius on ``origin_coord`` (the
            distillation voxel size, e.g. 0.2 m for a 0.05 m grid at level 2).
        tau_s (float): student temperature.
        alpha (float): Zipf exponent of the prototype-usage prior (0 = uniform Sinkhorn).
        sinkhorn_iters (int): Sinkhorn iterations T.
        target (str): ``"softmap"`` (DOS: per prototype, a distribution over points),
            ``"assignment"`` (SwAV/Sonata: per point, a distribution over prototypes; the Sinkhorn
            plan is renormalised per point and the loss is cross-entropy) or ``"regression"``
            (``1 - cos`` between the student's and the teacher's head embeddings at matched cells;
            prototypes and Sinkhorn take no part in the loss).
        observable_only (bool): True (DOS) removes masked points from the student input. False
            (Sonata-style) gives the student the full view with ``mask`` set, which the backbone
            must handle with ``mask_token=True``. The student's cells are then all cells of the
            view, so both terms run over masked and visible cells alike.
        mask_jitter (float): Sonata's token jitter, with ``observable_only=False`` only: sigma of
            the clipped Gaussian noise added to the masked points' coordinates before the student
            (``masking.jitter_masked``; they are re-voxelised with ``grid_size``). 0 = none.
        grid_size (float | None): input voxel size, required when ``mask_jitter > 0``.
        sinkhorn_scope (str): ``"cloud"`` (one Sinkhorn per cloud) or ``"batch"`` (one over all
            cells of the batch, as Sonata does; assignment targets only).
        view_keys (tuple[str, str]): keys of the two views in the batch.
    """

    def __init__(
        self,
        backbone: dict,
        head_in_channels: int | None = None,
        head_hidden_channels: int = 4096,
        head_embed_channels: int = 256,
        num_prototypes: int = 1024,
        teacher_custom: dict | None = None,
        distill_level: int = 2,
        match_radius: float = 0.2,
        tau_s: float = 0.1,
        alpha: float = 1.3,
        sinkhorn_iters: int = 3,
        target: str = "softmap",
        observable_only: bool = True,
        mask_jitter: float = 0.0,
        grid_size: float | None = None,
        sinkhorn_scope: str = "cloud",
        view_keys: tuple[str, str] = ("view1", "view2"),
    ):
        super().__init__()
        check_target(target, sinkhorn_scope, "DOS: ")
        check_jitter(mask_jitter, observable_only, grid_size, "DOS: ")
        if alpha < 0:
            raise ValueError(f"DOS: alpha must be >= 0, got {alpha}")
        if distill_level < 0:
            raise ValueError(f"DOS: distill_level must be >= 0, got {distill_level}")
        if len(view_keys) != 2:
            raise ValueError(f"DOS: view_keys must name exactly two views, got {view_keys!r}")
        if not observable_only and not backbone.get("mask_token", False):
            raise ValueError("DOS: observable_only=False needs a backbone built with mask_token=True")
        self.distill_level = distill_level
        self.match_radius = float(match_radius)
        self.tau_s = float(tau_s)
        self.alpha = float(alpha)
        self.sinkhorn_iters = int(sinkhorn_iters)
        self.target = target
        self.observable_only = observable_only
        self.mask_jitter, self.grid_size, self.sinkhorn_scope = float(mask_jitter), grid_size, sinkhorn_scope
        self.view_keys = tuple(view_keys)

        student_backbone = build_model(backbone)
        if head_in_channels is None:
            enc_channels = getattr(student_backbone, "enc_channels", None)
            if enc_channels is None or len(enc_channels) <= distill_level:
                raise ValueError(
                    f"DOS: cannot infer head_in_channels from {type(student_backbone).__name__} "
                    f"(enc_channels={enc_channels}, distill_level={distill_level}); set head_in_channels"
                )
            head_in_channels = sum(enc_channels[distill_level:])

        def make_head() -> DOSHead:
            return DOSHead(head_in_channels, head_hidden_channels, head_embed_channels, num_prototypes)

        teacher_backbone = copy.deepcopy(dict(backbone))
        teacher_backbone.update(teacher_custom or {})
        self.student = nn.ModuleDict(dict(backbone=student_backbone, head=make_head()))
        self.teacher = nn.ModuleDict(dict(backbone=build_model(teacher_backbone), head=make_head()))
        student_names = [n for n, _ in self.student.named_parameters()]
        teacher_names = [n for n, _ in self.teacher.named_parameters()]
        if student_names != teacher_names:
            raise ValueError(
                f"DOS: teacher_custom={teacher_custom} changes the backbone's parameters; the EMA needs "
                "identical student and teacher parameter lists"
            )
        self.teacher.load_state_dict(self.student.state_dict())
        # The teacher only moves by EMA of the student; gradients would be wasted (and wrong).
        for p in self.teacher.parameters():
            p.requires_grad = False
        self.register_buffer(
            "prior", zipf_prior(num_prototypes, alpha, dtype=torch.float32), persistent=False
        )
        # Running (EMA 0.99) fraction of teacher cells whose argmax is each prototype; read by
        # tools/vis_prototypes.py to plot usage against the prior.
        self.register_buffer("prototype_usage", torch.zeros(num_prototypes))

    def train(self, mode: bool = True) -> "DOS":
        super().train(mode)
        # The teacher produces targets; dropout/drop-path noise there would only corrupt them.
        self.teacher.eval()
        return self

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """EMA step ``teacher = momentum * teacher + (1 - momentum) * student``.

        Parameters and floating-point buffers (e.g. normalisation statistics) are averaged; other
        buffers are copied.
        """
        teacher_params = list(self.teacher.parameters())
        student_params = list(self.student.parameters())
        torch._foreach_mul_(teacher_params, momentum)
        torch._foreach_add_(teacher_params, student_params, alpha=1.0 - momentum)
        for t, s in zip(self.teacher.buffers(), self.student.buffers()):
            if t.is_floating_point():
                t.mul_(momentum).add_(s, alpha=1.0 - momentum)
            else:
                t.copy_(s)

    def forward(
        self,
        data: dict,
        tau_t: float = 0.07,
        mask_size: float = 1.0,
        mask_ratio: float = 0.7,
        timer: PhaseTimer | None = None,
    ) -> dict:
        """One DOS step on a batch of two views per scene.

        Args:
            data (dict): ``data[view_key]`` for both views is a collated dict with ``coord``
                (N,3) float, ``origin_coord`` (N,3) float, ``grid_coord`` (N,3) int64, ``feat``
                (N,C) float and ``offset`` (B,) int64; cloud b of both views is the same scene.
            tau_t (float): teacher temperature.
            mask_size (float): block-masking cube side (``origin_coord`` units), > 0.
            mask_ratio (float): fraction of each cloud's cubes masked, in [0, 1).
            ``DOSScheduleHook`` schedules all three and passes them at every step; the defaults
            are the final values of the outdoor recipe (docs/method.md).
            timer (PhaseTimer | None): times the phases ``teacher_forward``, ``student_forward``
                (masking included) and ``sinkhorn_loss`` (matching, Sinkhorn, loss and statistics)
                for the benchmarks; results do not depend on it.

        Returns:
            dict with 0-d tensors ``loss``, ``loss_same``, ``loss_cross`` (loss = loss_same +
            loss_cross = sum over views of the two half-weighted terms), ``prototypes_in_use``,
            ``sinkhorn_row_error``, ``teacher_entropy``, ``cross_match_ratio``,
            ``masked_point_ratio``, ``mask_size``; and ``hist/prototype_argmax``
            (Tensor[M] float), the argmax prototype index of every teacher cell, whose histogram is
            the prototype usage to compare with the Zipf prior.
        """
        if not tau_t > 0:
            raise ValueError(f"DOS: tau_t must be > 0, got {tau_t}")
        check_mask_args(mask_size, mask_ratio, "DOS: ")
        missing = [k for k in self.view_keys if k not in data]
        if missing:
            raise ValueError(f"DOS: batch is missing views {missing}; has keys {sorted(data)}")
        views = [data[k] for k in self.view_keys]
        if views[0]["offset"].numel() != views[1]["offset"].numel():
            raise ValueError("DOS: both views must hold the same number of clouds")

        with phase(timer, "teacher_forward"), torch.no_grad():
            teachers = [self._teacher_cells(v) for v in views]
        with phase(timer, "student_forward"):
            students, kept = zip(*(self._student_cells(v, mask_size, mask_ratio) for v in views))
        with phase(timer, "sinkhorn_loss"):
            return self._loss(students, teachers, kept, tau_t, mask_size)

    def _loss(self, students: list, teachers: list, kept: list, tau_t: float, mask_size: float) -> dict:
        """The loss and statistics of ``forward`` from both views' student and teacher cells."""
        same = [self._term(students[i], teachers[i], tau_t, same_view=True) for i in range(2)]
        cross = [self._term(students[i], teachers[1 - i], tau_t, same_view=False) for i in range(2)]
        # Same- and cross-view terms weigh 1/2 each per view; total = L(view1) + L(view2).
        loss_same = 0.5 * (same[0].loss + same[1].loss)
        loss_cross = 0.5 * (cross[0].loss + cross[1].loss)
        terms = same + cross

        with torch.no_grad():
            argmax = torch.cat([t.logits.argmax(1) for t in teachers])
            usage = torch.bincount(argmax, minlength=self.prior.numel()).float() / max(argmax.numel(), 1)
            if self.training:
                self.prototype_usage.mul_(0.99).add_(usage, alpha=0.01)
            keep_all = torch.cat(kept)
            out = dict(
                prototypes_in_use=(usage > 0).sum().float(),
                sinkhorn_row_error=torch.stack([t.row_error for t in terms]).max(),
                teacher_entropy=torch.stack([t.entropy for t in terms]).mean(),
                cross_match_ratio=0.5 * (cross[0].matched + cross[1].matched),
                masked_point_ratio=1.0 - keep_all.float().mean(),
                mask_size=usage.new_tensor(mask_size),
            )
            out["hist/prototype_argmax"] = argmax.float()
        out.update(loss=loss_same + loss_cross, loss_same=loss_same.detach(), loss_cross=loss_cross.detach())
        return out

    @torch.no_grad()
    def inspect(
        self, view: dict, tau_t: float = 0.07, mask_size: float = 1.0, mask_ratio: float = 0.7
    ) -> dict:
        """Teacher and student softmaps of one view, for visualisation (no loss, no gradient).

        Args:
            view (dict): one collated view (``coord``, ``origin_coord``, ``grid_coord``, ``feat``,
                ``offset``), e.g. ``batch["view1"]``.
            tau_t, mask_size, mask_ratio (float): as in ``forward``.

        Returns:
            dict with ``keep`` (Tensor[N] bool, observable points), ``teacher_cell`` (Tensor[N]
            int64, teacher cell of every point), ``teacher_logits`` (Tensor[M_t, K]),
            ``student_cell`` (Tensor[N] int64, student cell of every point, -1 where masked),
            ``target`` (Tensor[M_s, K], the same-view Zipf-Sinkhorn softmaps at the student cells,
            columns sum to 1 per cloud; with ``mask_jitter``, only cells the teacher also has) and ``student_softmap`` (Tensor[M_s, K], softmax over the
            student cells of each cloud).
        """
        teacher = self._teacher_cells(view)
        student, keep = self._student_cells(view, mask_size, mask_ratio)
        # DOS's softmap target, whatever the model's target (the teacher's view of the student cells).
        target = self._term(student, teacher, tau_t, same_view=True, target="softmap").target
        softmap = segment_log_softmax(student.logits / self.tau_s, student.batch, student.num_clouds).exp()
        student_cell = student.point_cell
        if self.observable_only:  # the student saw the kept points only
            student_cell = torch.full_like(keep, -1, dtype=torch.long).index_put_((keep,), student_cell)
        return dict(
            keep=keep,
            teacher_cell=teacher.point_cell,
            teacher_logits=teacher.logits,
            student_cell=student_cell,
            target=target,
            student_softmap=softmap,
        )

    def _teacher_cells(self, view: dict) -> Cells:
        """Teacher cells of the whole ``view``."""
        inputs, origin = backbone_input(view), view["origin_coord"]
        return encode_cells(self.teacher, inputs, origin, self.distill_level, self.target == "regression")

    def _student_cells(self, view: dict, mask_size: float, mask_ratio: float) -> tuple[Cells, torch.Tensor]:
        """Student cells of ``view`` under a fresh block mask, and the mask (Tensor[N] bool, True = observable)."""
        keep = block_mask(view["origin_coord"], view["offset"], mask_size, mask_ratio)
        inputs, origin = masked_input(view, keep, self.observable_only, self.mask_jitter, self.grid_size)
        cells = encode_cells(self.student, inputs, origin, self.distill_level, self.target == "regression")
        return cells, keep

    def _term(self, student: Cells, teacher: Cells, tau_t: float, same_view: bool, target: str = "") -> Term:
        """Distil the teacher into the student at the matched student cells (``target`` overrides
        the model's target, with a per-cloud Sinkhorn)."""
        index = match_cells(student, teacher, same_view, self.match_radius, self.mask_jitter > 0)
        if (target or self.target) == "regression":
            return regression_term(student.embed, student.batch, student.num_clouds, teacher.embed, index)
        scope = "cloud" if target else self.sinkhorn_scope
        args = (student.logits, student.batch, student.num_clouds, teacher.logits, index, self.prior)
        return distill_term(*args, self.tau_s, tau_t, self.sinkhorn_iters, target or self.target, scope)
