"""Look at what DOS learned: prototype argmax and softmaps on a scan, prototype usage vs the Zipf prior.

    python tools/vis_prototypes.py --config-file exp/semantic_kitti/dos/config.py \
        --weight exp/semantic_kitti/dos/model/model_last.pth --scan SEQ/velodyne/000000.bin \
        --out-dir vis/ [--prototypes 0,3,30,300] [--extent 40]

Writes three PNGs into ``--out-dir``:

* ``argmax.png``: bird's-eye view of the scan coloured by the teacher's argmax prototype at each
  point's distillation cell (one colour per prototype);
* ``softmap_<k>.png``: for each chosen prototype ``k`` (default: four spread over the usage
  ranking), the teacher target (Zipf-Sinkhorn over the observable cells) next to the student
  softmap, in log10 over three decades below each panel's peak; masked points are grey;
* ``usage.png``: prototype usage sorted by rank (teacher argmax on this scan, and the running
  usage stored in the checkpoint) against the Zipf prior, log-log.
"""

import argparse
import os

import numpy as np
import torch


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, help="the pretraining config (e.g. the run's config.py)")
    p.add_argument("--weight", required=True, help="DOS checkpoint")
    p.add_argument("--scan", required=True, help="SemanticKITTI velodyne .bin")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--prototypes", default=None, help="comma-separated prototype ids for softmap_<k>.png")
    p.add_argument("--grid-size", type=float, default=None, help="default: the config's first GridSample")
    p.add_argument("--tau-t", type=float, default=0.07)
    p.add_argument("--extent", type=float, default=40.0, help="half size of the view in metres")
    p.add_argument("--resolution", type=float, default=0.1, help="metres per pixel")
    p.add_argument("--seed", type=int, default=0, help="seeds the grid sampling and the mask")
    p.add_argument("--debug", action="store_true", help="show the Python traceback of errors")
    return p.parse_args(argv)


def config_grid_size(cfg) -> float:
    """The grid of the first GridSample of ``data.train.transform``, looking into DOSViewGenerator's views."""
    from pointcept.datasets import TRANSFORMS
    from pointcept.utils.registry import build_from_cfg

    for t in cfg["data"]["train"]["transform"]:
        if t["type"] == "DOSViewGenerator":
            t = next(
                (v for v in build_from_cfg(t, TRANSFORMS).view_transform_cfg if v["type"] == "GridSample"), t
            )
        if t["type"] == "GridSample":
            return float(t["grid_size"])
    raise ValueError("the config's data.train.transform has no GridSample; pass --grid-size")


def final_mask(cfg) -> dict:
    """``mask_size`` and ``mask_ratio`` of the config's ``DOSScheduleHook`` after its warm-up."""
    from pointcept.engines.hooks import HOOKS
    from pointcept.utils.registry import build_from_cfg

    found = [h for h in cfg.get("hooks") or [] if h.get("type") == "DOSScheduleHook"]
    if len(found) != 1:
        raise ValueError(f"the config's hooks must hold exactly one DOSScheduleHook, found {len(found)}")
    max_steps = int(cfg["max_steps"])
    values = build_from_cfg(found[0], HOOKS, where="hooks").values(max_steps, max_steps)
    return dict(mask_size=values["mask_size"], mask_ratio=values["mask_ratio"])


def load_view(scan: str, grid_size: float) -> dict:
    """One collated view of the whole scan, without augmentation."""
    from pointcept.datasets.semantic_kitti import read_points
    from pointcept.datasets.transform import GridSample

    points = read_points(scan)
    data = dict(coord=points[:, :3].copy(), strength=points[:, 3:4].copy())
    data = GridSample(grid_size=grid_size, mode="train", return_grid_coord=True)(data)
    coord = torch.from_numpy(data["coord"]).float()
    return dict(
        coord=coord,
        origin_coord=coord.clone(),
        grid_coord=torch.from_numpy(data["grid_coord"]).long(),
        feat=torch.cat([coord, torch.from_numpy(data["strength"]).float()], dim=1),
        offset=torch.tensor([len(coord)]),
    )


def main(argv=None) -> None:
    args = parse_args(argv)
    from pointcept.engines.checkpoint import extract_state_dict, load_checkpoint, load_weights
    from pointcept.models import build_model
    from pointcept.utils.config import load_config
    from pointcept.utils.visualization import distinct_palette, rasterize_bev, save_panels_png, scalar_colors

    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    cfg = load_config(args.config_file)
    if cfg["model"]["type"] != "DOS":
        raise ValueError(f"{args.config_file}: model.type is {cfg['model']['type']!r}, expected 'DOS'")
    model = build_model(cfg["model"])
    load_weights(model, extract_state_dict(load_checkpoint(args.weight)), strict=True)
    model.eval()
    view = load_view(args.scan, args.grid_size or config_grid_size(cfg))
    out = model.inspect(view, tau_t=args.tau_t, **final_mask(cfg))
    coord = view["coord"].numpy()
    os.makedirs(args.out_dir, exist_ok=True)

    def bev(colors):
        return rasterize_bev(coord, colors, extent=args.extent, resolution=args.resolution, point_size=2)

    num_prototypes = out["teacher_logits"].shape[1]
    teacher_argmax = out["teacher_logits"].argmax(1)
    point_argmax = teacher_argmax[out["teacher_cell"]].numpy()
    palette = distinct_palette(num_prototypes, seed=args.seed)
    path = os.path.join(args.out_dir, "argmax.png")
    save_panels_png(
        path,
        [(f"teacher argmax prototype ({num_prototypes} prototypes)", bev(palette[point_argmax]))],
        extent=args.extent,
    )
    print(f"wrote {path}")

    usage = torch.bincount(teacher_argmax, minlength=num_prototypes).float()
    ranking = torch.argsort(usage, descending=True)
    if args.prototypes:
        chosen = [int(k) for k in args.prototypes.split(",")]
        bad = [k for k in chosen if not 0 <= k < num_prototypes]
        if bad:
            raise ValueError(f"--prototypes: ids {bad} are outside [0, {num_prototypes})")
    else:
        used = int((usage > 0).sum())
        chosen = [int(ranking[i]) for i in np.linspace(0, max(used - 1, 0), 4).round().astype(int)]
    keep = out["keep"].numpy()
    student_cell = out["student_cell"].numpy()
    for k in chosen:
        panels = []
        for name, values in (
            ("teacher target", out["target"][:, k]),
            ("student softmap", out["student_softmap"][:, k]),
        ):
            # Softmaps are peaked distributions over thousands of cells: show 3 decades below the peak.
            log_values = np.log10(values.numpy().clip(min=1e-30))
            per_point = np.full(len(coord), np.nan)
            per_point[keep] = log_values[student_cell[keep]]
            peak = float(log_values.max())
            panels.append((f"prototype {k}: {name} (log10)", bev(scalar_colors(per_point, peak - 3.0, peak))))
        path = os.path.join(args.out_dir, f"softmap_{k}.png")
        save_panels_png(path, panels, extent=args.extent)
        print(f"wrote {path}")
    print(f"softmaps of prototypes {chosen}; {100 * (1 - keep.mean()):.0f}% of points masked (grey)")

    path = os.path.join(args.out_dir, "usage.png")
    save_usage_plot(path, usage / usage.sum(), model.prototype_usage, model.prior, model.alpha)
    print(f"wrote {path}")


def save_usage_plot(path: str, scan_usage, running_usage, prior, alpha: float) -> None:
    """Sorted usage (Tensor[K] each, summing to 1) against the prior, log-log, as a PNG."""
    from pointcept.utils.visualization import pyplot

    plt = pyplot()

    rank = np.arange(1, len(prior) + 1)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.loglog(rank, prior.numpy(), "k--", label=f"Zipf prior (alpha={alpha:g})")
    for usage, label in (
        (scan_usage, "teacher argmax, this scan"),
        (running_usage, "running usage (training)"),
    ):
        values = torch.sort(usage.float(), descending=True).values.numpy()
        if values.sum() > 0:
            ax.loglog(rank[values > 0], values[values > 0], ".", markersize=3, label=label)
    ax.set_xlabel("prototype rank")
    ax.set_ylabel("fraction of cells")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    from pointcept.utils.errors import run_cli

    run_cli(main)
