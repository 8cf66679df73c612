"""Time the fused dos_ops kernels against their pure-torch baselines in one run; print the ratios.

    python tools/bench_ops.py [--device cpu|cuda] [--repeat 5] [--threads 2] [--scan PATH.bin]
        [--only zipf_sinkhorn grid_pool masked_gather submconv]

Each comparison prints one line ``<op> <case>: <speedup>x vs <reference>`` (speedup = baseline time
/ fused time, best of ``--repeat`` runs each), preceded by the absolute times. Also prints the
device's copy bandwidth (clone of a large tensor), against which the gather's throughput is given.
With ``--device cuda`` every input lives on the GPU, so the baselines are the torch CUDA references,
and timings synchronize the device.
``submconv`` times PTv3's CPE conv (3x3x3 submanifold, forward + backward) against spconv's
``SubMConv3d`` (native algorithm on CPU) on 30k and 60k voxels of the real scan (``--scan`` or
``$DOS_REAL_DATA``; else the synthetic LiDAR-like surface), each with its neighbour map reused as
the model does within a level (its construction is timed separately).
Needs the extension (``cd libs/dos_ops && python setup.py develop``); ``torch_scatter`` is optional.
"""

import argparse
import importlib.util

import torch
from bench_common import best_time, copy_bandwidth

import pointcept.ops as ops
from pointcept.ops import reference
from pointcept.utils.errors import add_debug_argument, run_cli
from pointcept.utils.offsets import offset2batch


def report(op: str, case: str, fused: float, baseline: float, name: str) -> None:
    print(f"  {op} {case}: fused {fused * 1e3:.1f} ms, {name} {baseline * 1e3:.1f} ms")
    print(f"{op} {case}: {baseline / fused:.1f}x vs {name}")


def bench_zipf_sinkhorn(repeat: int, device: torch.device) -> None:
    torch.manual_seed(0)
    clouds, points, prototypes = 4, 20_000, 1024
    logits = (torch.randn(clouds * points, prototypes) / 0.04 * 0.3).to(device)
    offset = (torch.arange(1, clouds + 1) * points).to(device)
    case = f"{clouds}x{points}xK{prototypes} n_iter=3"
    with ops.use_backend("fused"):
        fused = best_time(lambda: ops.zipf_sinkhorn(logits, offset, n_iter=3), repeat)
    baseline = best_time(lambda: reference.zipf_sinkhorn(logits, offset, 1.3, None, 3), max(1, repeat // 3))
    report("zipf_sinkhorn", case, fused, baseline, "log-domain torch reference")


def lidar_like_grid(clouds: int, points: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique voxels of a rolling ground surface per cloud (one or two voxels thick), as GridSample
    leaves a LiDAR scan: stride-2 pooling merges about four voxels per cell, as on real ground."""
    grids = []
    side = int((points * 1.3) ** 0.5)
    for _ in range(clouds):
        xy = torch.stack(torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij"), -1).reshape(
            -1, 2
        )
        height = torch.sin(xy[:, 0] / 40.0) * 15 + torch.cos(xy[:, 1] / 25.0) * 10 + 30
        z = height.long()[:, None] + torch.randint(0, 2, (len(xy), 1))
        grid = torch.cat([xy + torch.randint(0, 30000, (1, 2)), z], dim=1)
        grids.append(grid[torch.randperm(len(grid))[:points]])
    return torch.cat(grids), torch.arange(1, clouds + 1) * points


def _segment_pool(feat, coord, cluster, counts, order):
    """Max-pooled features, mean coordinates, cluster and head of each cell by torch_scatter.segment_csr
    over the points sorted by cell (``order``)."""
    import torch_scatter

    idx_ptr = torch.cat([counts.new_zeros(1), torch.cumsum(counts, dim=0)])
    pooled = torch_scatter.segment_csr(feat[order], idx_ptr, reduce="max")
    mean_coord = torch_scatter.segment_csr(coord[order], idx_ptr, reduce="mean")
    return pooled, mean_coord, cluster, order[idx_ptr[:-1]]


def pool_packed_key(grid_coord, offset, feat, coord, stride):
    """Baseline: one packed int64 key per point, torch.unique, then torch_scatter.segment_csr."""
    cell = grid_coord // stride
    key = offset2batch(offset) << 48 | cell[:, 0] << 32 | cell[:, 1] << 16 | cell[:, 2]
    _, cluster, counts = torch.unique(key, sorted=True, return_inverse=True, return_counts=True)
    order = torch.argsort(cluster, stable=True)
    return _segment_pool(feat, coord, cluster, counts, order)


def pool_packed_key_native(grid_coord, offset, feat, coord, stride):
    """Baseline from native torch ops only: one packed int64 key per point, torch.unique, then
    torch.segment_reduce over the points sorted by cell. Returns what ``_segment_pool`` does.

    The key packs (cloud, x, y, z) in 16 bits each, so its order is the lexicographic order of
    the fused kernel's cells as long as every cell coordinate is below 2**16."""
    cell = grid_coord // stride
    key = offset2batch(offset) << 48 | cell[:, 0] << 32 | cell[:, 1] << 16 | cell[:, 2]
    _, cluster, counts = torch.unique(key, sorted=True, return_inverse=True, return_counts=True)
    order = torch.argsort(cluster, stable=True)
    pooled = torch.segment_reduce(feat[order], "max", lengths=counts)
    mean_coord = torch.segment_reduce(coord[order], "mean", lengths=counts)
    head = order[torch.cumsum(counts, dim=0) - counts]
    return pooled, mean_coord, cluster, head


def pool_rowwise_unique(grid_coord, offset, feat, coord, stride):
    """Baseline: Sonata-style torch.unique(dim=0) over (cloud, cell) rows, then segment_csr."""
    rows = torch.cat([offset2batch(offset)[:, None], grid_coord // stride], dim=1)
    _, cluster, counts = torch.unique(rows, sorted=True, return_inverse=True, return_counts=True, dim=0)
    _, order = torch.sort(cluster)
    return _segment_pool(feat, coord, cluster, counts, order)


def bench_grid_pool(repeat: int, device: torch.device) -> None:
    torch.manual_seed(0)
    clouds, points, channels, stride = 4, 120_000, 64, 2
    grid_coord, offset = lidar_like_grid(clouds, points)
    feat = torch.randn(len(grid_coord), channels)
    coord = grid_coord.float() * 0.05 + torch.rand(len(grid_coord), 3) * 0.05
    grid_coord, offset, feat, coord = (t.to(device) for t in (grid_coord, offset, feat, coord))
    case = f"{clouds}x{points} C={channels} stride={stride}"
    with ops.use_backend("fused"):
        cells = len(ops.grid_pool(grid_coord, offset, feat, coord, stride).feat)
        print(f"  grid_pool: N={len(grid_coord)} -> M={cells} cells")
        fused = best_time(lambda: ops.grid_pool(grid_coord, offset, feat, coord, stride), repeat)
        feat_g = feat.clone().requires_grad_()

        def fused_train():
            ops.grid_pool(grid_coord, offset, feat_g, coord, stride).feat.sum().backward()

        fused_fb = best_time(fused_train, repeat)
    baseline = best_time(lambda: reference.grid_pool(grid_coord, offset, feat, coord, stride), repeat)
    report("grid_pool", case + " fwd", fused, baseline, "reference (unique(dim=0) + scatter_reduce)")
    baselines = [(pool_packed_key_native, "packed-key torch.unique + torch.segment_reduce")]
    if importlib.util.find_spec("torch_scatter") is None:
        print(
            "grid_pool: torch_scatter not installed; skipping the torch.unique + torch_scatter.segment_csr baselines"
        )
    else:
        baselines += [
            (pool_packed_key, "packed-key torch.unique + torch_scatter.segment_csr"),
            (pool_rowwise_unique, "row-wise torch.unique(dim=0) + segment_csr (Sonata)"),
        ]
    with ops.use_backend("fused"):
        expected = ops.grid_pool(grid_coord, offset, feat, coord, stride).feat
    for fn, name in baselines:
        if not torch.equal(fn(grid_coord, offset, feat, coord, stride)[0], expected):
            raise RuntimeError(f"grid_pool baseline {name!r} pools differently from the fused kernel")
        baseline = best_time(lambda fn=fn: fn(grid_coord, offset, feat, coord, stride), repeat)
        report("grid_pool", case + " fwd", fused, baseline, name)

        def baseline_train(fn=fn):
            fn(grid_coord, offset, feat_g, coord, stride)[0].sum().backward()

        baseline_fb = best_time(baseline_train, repeat)
        report("grid_pool", case + " fwd+bwd", fused_fb, baseline_fb, name)


def bench_masked_gather(repeat: int, bandwidth: float, device: torch.device) -> None:
    torch.manual_seed(0)
    n, clouds = 480_000, 4
    tensors = [
        torch.randn(n, 3),
        torch.randint(0, 2000, (n, 3)),
        torch.randn(n, 64),
        offset2batch(torch.arange(1, clouds + 1) * (n // clouds)),
    ]
    offset = torch.arange(1, clouds + 1) * (n // clouds)
    keep = torch.rand(n) < 0.3
    tensors, offset, keep = [t.to(device) for t in tensors], offset.to(device), keep.to(device)
    case = f"{n} points 4 arrays 30% kept"

    def boolean_indexing(arrays):
        return [t[keep] for t in arrays], keep.nonzero().flatten(), torch.cumsum(keep, 0)[offset - 1]

    with ops.use_backend("fused"):
        fused = best_time(lambda: ops.masked_gather(tensors, keep, offset), repeat)
        feat_g = tensors[2].clone().requires_grad_()
        fused_fb = best_time(lambda: ops.masked_gather([feat_g], keep, offset)[0][0].sum().backward(), repeat)
    baseline = best_time(lambda: boolean_indexing(tensors), repeat)
    report("masked_gather", case + " fwd", fused, baseline, "torch boolean indexing")
    moved = 2 * sum(t[:1].numel() * t.element_size() for t in tensors) * int(keep.sum()) + n
    print(
        f"  masked_gather: {moved / fused / 1e9:.1f} GB/s moved vs copy bandwidth {bandwidth:.1f} GB/s (copy_)"
    )
    baseline_fb = best_time(lambda: feat_g[keep].sum().backward(), repeat)
    report(
        "masked_gather", "feat 480000x64 30% kept fwd+bwd", fused_fb, baseline_fb, "torch boolean indexing"
    )


def submconv_voxels(scan: str | None, points: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``points`` voxels (5 cm) of the real scan nearest to the sensor, else of the synthetic surface."""
    from bench_common import default_scan, grid_sampled_scan

    path = scan or default_scan()
    if path:
        data = grid_sampled_scan(path, grid_size=0.05, num_points=points)
        return data["grid_coord"], data["offset"], "scan"
    torch.manual_seed(0)
    grid, offset = lidar_like_grid(1, points)
    return grid - grid.min(0).values, offset, "synthetic"


def submconv_case(
    repeat: int, grid_coord: torch.Tensor, offset: torch.Tensor, channels: int, source: str
) -> None:
    """One CPE-sized conv: fused submconv vs spconv, each with its neighbour map already built."""
    from pointcept.models.modules import SubMConv3d
    from pointcept.models.structure import Point

    device = grid_coord.device
    torch.manual_seed(0)
    conv = SubMConv3d(channels, channels, 3, indice_key="bench").to(device)
    feat = torch.randn(len(grid_coord), channels, device=device, requires_grad=True)
    grad = torch.randn(len(grid_coord), channels, device=device)
    sparse = Point(grid_coord=grid_coord, offset=offset, feat=feat.detach()).sparsify().sparse_conv_feat
    with ops.use_backend("fused"):
        nbr = ops.submconv_neighbours(grid_coord, offset)
        table = best_time(lambda: ops.submconv_neighbours(grid_coord, offset), repeat)
        fused = best_time(lambda: ops.submconv(feat, conv.conv.weight, conv.bias, nbr).backward(grad), repeat)
    # The warm-up call builds spconv's pairs, cached in the sparse tensor as within a model level.
    spconv = best_time(lambda: conv(sparse.replace_feature(feat)).features.backward(grad), repeat)
    pairs = int((nbr >= 0).sum())
    print(
        f"  submconv N={len(grid_coord)}: {pairs / len(grid_coord):.2f} neighbours per voxel, "
        f"fused table {table * 1e3:.1f} ms"
    )
    name = "spconv SubMConv3d" + (" (native)" if device.type == "cpu" else "")
    report("submconv", f"{source} N={len(grid_coord)} C={channels} fwd+bwd", fused, spconv, name)


def bench_submconv(repeat: int, device: torch.device, scan: str | None) -> None:
    for points in (30_000, 60_000):
        grid_coord, offset, source = submconv_voxels(scan, points)
        for channels in (32, 64):
            submconv_case(repeat, grid_coord.to(device), offset.to(device), channels, source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (best is kept)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--only", nargs="*", default=["zipf_sinkhorn", "grid_pool", "masked_gather", "submconv"]
    )
    parser.add_argument(
        "--scan", default=None, help="SemanticKITTI .bin for submconv (default: $DOS_REAL_DATA's)"
    )
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default="cpu", help="where inputs live (default cpu)"
    )
    add_debug_argument(parser)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available (no GPU, driver or CUDA build of torch)")
    if args.threads:
        torch.set_num_threads(args.threads)
    if not ops.fused_available():
        raise SystemExit("dos_ops is not built; run: cd libs/dos_ops && python setup.py develop")
    clone_bandwidth, bandwidth = copy_bandwidth(args.repeat, device)
    where = (
        torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    )
    print(f"device {device.type}, {where}, torch {torch.__version__}, float32")
    print(
        f"copy bandwidth: clone of 256 MB {clone_bandwidth:.1f} GB/s, copy_ into an allocated tensor {bandwidth:.1f} GB/s"
    )
    if "zipf_sinkhorn" in args.only:
        bench_zipf_sinkhorn(args.repeat, device)
    if "grid_pool" in args.only:
        bench_grid_pool(args.repeat, device)
    if "masked_gather" in args.only:
        bench_masked_gather(args.repeat, bandwidth, device)
    if "submconv" in args.only:
        bench_submconv(args.repeat, device, args.scan)


if __name__ == "__main__":
    run_cli(main)
