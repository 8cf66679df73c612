"""Evaluation of a checkpoint on the test split with fragment voting.

A test-mode dataset returns, per scan, ``dict(name, segment (N,) full-resolution labels or -1,
coord (N, 3), fragment_list)`` where each fragment is a transformed sample with ``index`` (M,) =
rows of the scan it covers; test-time augmentation is simply more fragments. The tester runs the
model on fragments (``fragment_batch_size`` at a time), adds each fragment's softmax to its
points, and predicts the argmax of the summed probabilities for every point of the scan.
"""

import copy
import json
import math
import os

import torch

from pointcept.utils import comm
from pointcept.utils.errors import UserError
from pointcept.utils.registry import ConfigError, Registry
from pointcept.utils.seed import derive_seed, seeded_rng

from .amp import autocast
from .checkpoint import extract_state_dict, load_checkpoint, load_weights
from .launch import to_device
from .metrics import format_metrics_table, intersection_and_union, summarize
from .run_setup import setup_run

TESTERS = Registry("testers")


@TESTERS.register_module()
class SemSegTester:
    """Semantic segmentation tester.

    Args:
        cfg: the full config (``model``, ``data.test``, ``data.num_classes``, ``weight``,
            ``save_path``, ``amp_dtype``, ``device``, ``seed``).
        fragment_batch_size: fragments per forward pass.
        save_predictions: write ``dataset.save_prediction(pred, name, <save_path>/result)`` per scan.
        model: an already built model (e.g. the trainer's); ``cfg.weight`` is then optional.
        key_map: prefix renames applied when loading ``cfg.weight`` (``test.key_map``). The
            top-level ``key_map`` is not used: it maps a *pretraining* checkpoint into the model
            at the start of training, while ``cfg.weight`` here is the trained model itself.

    ``test()`` returns the metrics dict of :func:`metrics.summarize` and writes it, with per-class
    IoU by name, the number of evaluated scans (``num_scans``) and the skipped ones
    (``num_skipped``, ``skipped``), to ``<save_path>/metrics.json``. After ``test()``,
    ``scan_counts`` holds this rank's per-scan ``(name, counts)`` with counts a (3, num_classes)
    int64 CPU tensor of intersection, union and target (for statistics over scans).

    Broken scans: with the dataset's ``on_error="skip"`` a scan that fails to load (``ValueError``
    or ``OSError`` from ``dataset[i]``) is skipped, logged and listed, and gets no prediction file.
    The tester applies this policy itself: the dataset's own skip would return the next loadable
    scan in its place, which would then be evaluated twice.
    """

    def __init__(
        self,
        cfg,
        fragment_batch_size: int = 4,
        save_predictions: bool = True,
        model=None,
        key_map: dict | None = None,
    ):
        if fragment_batch_size <= 0:
            raise ValueError(f"fragment_batch_size must be positive, got {fragment_batch_size}")
        self.cfg = cfg
        self.fragment_batch_size = fragment_batch_size
        self.save_predictions = save_predictions
        # The top-level key_map initialises training from another model (e.g. a DOS checkpoint);
        # the tester loads the trained model itself, so it takes its own (usually none).
        self.key_map = key_map
        run = setup_run(cfg, "test.log")
        self.device, self.logger, self.amp_dtype = run.device, run.logger, run.amp_dtype
        self.model = model if model is not None else self.build_model()
        self.dataset = self.build_dataset()

    def build_model(self) -> torch.nn.Module:
        from pointcept.models.builder import build_model

        if not self.cfg.get("weight"):
            raise ConfigError("testing needs a checkpoint: pass --options weight=PATH")
        model = build_model(self.cfg.model)
        self.logger.info(f"loading weights from {self.cfg.weight}")
        ckpt = load_checkpoint(self.cfg.weight)
        load_weights(model, extract_state_dict(ckpt), key_map=self.key_map, strict=True)
        return model.to(self.device)

    def build_dataset(self):
        from pointcept.datasets import build_dataset

        test_cfg = copy.deepcopy(self.cfg.data.get("test"))
        if test_cfg is None:
            raise ConfigError("config has no data.test")
        test_cfg.setdefault("test_mode", True)
        dataset = build_dataset(test_cfg, where="data.test")
        self.skip_errors = getattr(dataset, "on_error", "raise") == "skip"
        if self.skip_errors:
            dataset.on_error = "raise"  # the tester skips, without substitution (class doc)
        if self.save_predictions and not hasattr(dataset, "save_prediction"):
            raise TypeError(
                f"{type(dataset).__name__} has no save_prediction(); set test.save_predictions=False"
            )
        return dataset

    @torch.no_grad()
    def predict_scan(self, data: dict) -> torch.Tensor:
        """Fragment voting for one scan -> pred (Tensor[N] int64) on the model's device."""
        from pointcept.datasets import collate_fn

        num_points = len(data["segment"])
        num_classes = int(self.cfg.data.num_classes)
        probs = torch.zeros(num_points, num_classes, dtype=torch.float32, device=self.device)
        fragments = data["fragment_list"]
        for start in range(0, len(fragments), self.fragment_batch_size):
            batch = to_device(collate_fn(fragments[start : start + self.fragment_batch_size]), self.device)
            with autocast(self.device, self.amp_dtype):
                logits = self.model(batch)["seg_logits"]
            probs.index_add_(0, batch["index"].long(), torch.softmax(logits.float(), dim=1))
        uncovered = int((probs.sum(dim=1) == 0).sum())
        if uncovered:
            raise ValueError(f"scan {data['name']}: {uncovered} of {num_points} points are in no fragment")
        return probs.argmax(dim=1)

    def test(self) -> dict:
        cfg, dataset = self.cfg, self.dataset
        num_classes = int(cfg.data.num_classes)
        ignore = int(cfg.data.get("ignore_index", -1))
        names = getattr(dataset, "class_names", None) or cfg.data.get("names")
        seed = int(cfg.get("seed") or 0)
        rank, world = comm.get_rank(), comm.get_world_size()
        result_dir = os.path.join(cfg.save_path, "result")
        self.model.eval()
        counts = torch.zeros(3, num_classes, dtype=torch.int64, device=self.device)
        indices = range(rank, len(dataset), world)
        skipped: list[dict] = []
        self.scan_counts: list[tuple[str, torch.Tensor]] = []
        for n, i in enumerate(indices):
            try:
                # Random test-time augmentations are reproducible per scan, whatever the world size.
                with seeded_rng(derive_seed(seed, i)):
                    data = dataset[i]
            except (ValueError, OSError) as e:
                if not self.skip_errors:
                    raise
                skipped.append(dict(index=i, name=self.scan_name(i), error=str(e)))
                self.logger.warning(
                    f"Test [{n + 1}/{len(indices)}] skipped scan {i} ({self.scan_name(i)}): {e}"
                )
                continue
            pred = self.predict_scan(data)
            scan = torch.stack(intersection_and_union(pred, data["segment"], num_classes, ignore))
            counts += scan
            self.scan_counts.append((str(data["name"]), scan.cpu()))
            scan_metrics = summarize(scan[0], scan[1], scan[2])
            self.logger.info(
                f"Test [{n + 1}/{len(indices)}] {data['name']}: {len(pred)} points, "
                f"{len(data['fragment_list'])} fragments, mIoU {scan_metrics['mIoU']:.4f} "
                f"allAcc {scan_metrics['allAcc']:.4f}"
            )
            if self.save_predictions:
                dataset.save_prediction(pred.cpu().numpy(), data["name"], result_dir)
        comm.all_reduce(counts)
        skipped = sorted((s for part in comm.all_gather(skipped) for s in part), key=lambda s: s["index"])
        num_scans = len(dataset) - len(skipped)
        if skipped:
            self.logger.warning(
                f"skipped {len(skipped)} of {len(dataset)} test scans (on_error='skip'), not in the metrics: "
                + ", ".join(s["name"] for s in skipped)
            )
        if num_scans == 0:
            raise UserError(
                f"every one of the {len(dataset)} test scans failed to load; nothing was evaluated"
            )
        metrics = summarize(counts[0], counts[1], counts[2])
        self.logger.info(f"Test result ({num_scans} scans):\n" + format_metrics_table(metrics, names))
        if comm.is_main_process():
            self.write_json(metrics, names, num_scans, skipped)
        comm.barrier()
        return metrics

    def scan_name(self, i: int) -> str:
        get_name = getattr(self.dataset, "get_data_name", None)
        return str(get_name(i)) if get_name is not None else f"scan {i}"

    def write_json(self, metrics: dict, names, num_scans: int, skipped: list[dict] | None = None) -> None:
        def clean(x: float) -> float | None:
            return None if math.isnan(x) else x

        names = list(names) if names is not None else [f"class_{i}" for i in range(len(metrics["iou"]))]
        out = dict(
            weight=self.cfg.get("weight"),
            num_scans=num_scans,
            num_skipped=len(skipped or []),
            skipped=list(skipped or []),
            mIoU=clean(metrics["mIoU"]),
            mAcc=clean(metrics["mAcc"]),
            allAcc=clean(metrics["allAcc"]),
            iou={n: clean(v) for n, v in zip(names, metrics["iou"])},
            acc={n: clean(v) for n, v in zip(names, metrics["acc"])},
        )
        path = os.path.join(self.cfg.save_path, "metrics.json")
        with open(path, "w") as f:
            json.dump(out, f, indent=2)
        self.logger.info(f"wrote {path}")
